// Checkpoint snapshots as stored: content-addressed file objects plus one manifest per complete
// snapshot, written last, so a snapshot exists exactly when its manifest does (a worker killed
// mid-upload leaves objects nobody refers to, never half a snapshot). Pure: no I/O here.
//
//   <store>/<job key>/objects/<sha256>            one per distinct file content
//   <store>/<job key>/snapshots/<seq, 10 digits>.json
//
// Consistency: the job marks a consistent point by writing MARKER in the directory after it has
// written everything that belongs to that point. A snapshot is taken only when the marker
// exists, no file is newer than the marker (nothing of the next point written yet), and
// nothing changed while it was copied; so every snapshot holds a state the job marked complete.

export const MARKER = '.petrel-complete';

export interface ListedFile {
  path: string;
  size: number;
  /** modification time in nanoseconds since the epoch, as a decimal string (exact) */
  mtimeNs: string;
  mode: number;
}

export interface Listing {
  /** the directory's absolute path on the node */
  dir: string;
  files: ListedFile[];
}

export interface ManifestFile extends ListedFile {
  sha256: string;
}

export interface Manifest {
  version: 1;
  seq: number;
  /** the attempt of the job whose node it was taken from */
  attempt: number;
  takenAt: string;
  /** what the job wrote into its marker (a step number, say): shown to people */
  marker: string;
  bytes: number;
  files: ManifestFile[];
}

export const snapshotKey = (seq: number) => `snapshots/${String(seq).padStart(10, '0')}.json`;
export const objectKey = (sha: string) => `objects/${sha}`;

export function seqOfKey(key: string): number | undefined {
  const m = /^snapshots\/(\d{10})\.json$/.exec(key);
  return m ? Number(m[1]) : undefined;
}

/** A job's place in a store: its task id (stable across recoveries and resumes, unique across servers). */
export function jobStoreKey(taskId: string): string {
  return taskId.replace(/[^A-Za-z0-9._-]/g, '_');
}

/**
 * Parses the node's listing: `dir\t<abs path>` then one `f\t<size>\t<mtime>\t<octal mode>\t<path>`
 * per regular file (GNU find's %s %T@ %m %P; the path last, so tabs in it survive).
 */
export function parseListing(text: string): Listing {
  let dir = '';
  const files: ListedFile[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('dir\t')) dir = line.slice(4);
    else if (line.startsWith('f\t')) {
      const [, size, mtime, mode, ...rest] = line.split('\t');
      files.push({ path: rest.join('\t'), size: Number(size), mtimeNs: toNanos(mtime!), mode: parseInt(mode!, 8) });
    }
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { dir, files };
}

/** `1733339000.1234567890` (find's %T@) → exact nanoseconds. */
export function toNanos(t: string): string {
  const [sec = '0', frac = ''] = t.split('.');
  return (BigInt(sec) * 1_000_000_000n + BigInt((frac + '000000000').slice(0, 9))).toString();
}

export type Readiness = { ready: true } | { ready: false; why: string };

/** Whether the listing holds a state the job marked complete. */
export function readiness(listing: Listing): Readiness {
  const marker = listing.files.find((f) => f.path === MARKER);
  if (!marker) return { ready: false, why: `no consistent point marked yet (the job writes $PETREL_CHECKPOINT_MARKER when it is)` };
  const newer = listing.files.filter((f) => BigInt(f.mtimeNs) > BigInt(marker.mtimeNs));
  if (newer.length > 0) return { ready: false, why: `the job is writing its next state (${newer[0]!.path} is newer than the marker)` };
  return { ready: true };
}

const sameFile = (a: ListedFile, b: ListedFile) => a.path === b.path && a.size === b.size && a.mtimeNs === b.mtimeNs;

/** True when both listings hold exactly the same files, unchanged. */
export function sameListing(a: Listing, b: Listing): boolean {
  return a.files.length === b.files.length && a.files.every((f, i) => sameFile(f, b.files[i]!));
}

/**
 * The files of `listing` whose content the previous snapshot (or the restored baseline) already
 * holds, with their object ids; the others must be copied.
 */
export function carriedOver(listing: Listing, previous: ManifestFile[] | undefined): { known: Map<string, string>; changed: ListedFile[] } {
  const byPath = new Map((previous ?? []).map((f) => [f.path, f]));
  const known = new Map<string, string>();
  const changed: ListedFile[] = [];
  for (const f of listing.files) {
    const p = byPath.get(f.path);
    if (p && sameFile(p, f)) known.set(f.path, p.sha256);
    else changed.push(f);
  }
  return { known, changed };
}

/** The snapshots to delete so that the newest `keep` remain. */
export function toPrune(seqs: number[], keep: number): number[] {
  return [...seqs].sort((a, b) => b - a).slice(keep);
}

export function parseManifest(text: string): Manifest | undefined {
  try {
    const m = JSON.parse(text) as Manifest;
    return m && m.version === 1 && Array.isArray(m.files) ? m : undefined;
  } catch {
    return undefined;
  }
}
