// Taking and restoring checkpoint snapshots between a node and an object store, through the
// worker: the node's directory is listed, the files that changed since the last snapshot are
// streamed off the node as one tar into a staging directory on the worker, checked against a
// second listing (nothing may have moved while they were copied), and stored by content; the
// manifest goes last. Restoring materialises the newest manifest on the worker and uploads it to
// every node. Streams and files only: a snapshot is never held in memory.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import {
  carriedOver,
  MARKER,
  objectKey,
  parseListing,
  parseManifest,
  readiness,
  sameListing,
  seqOfKey,
  snapshotKey,
  toPrune,
  type Listing,
  type Manifest,
  type ManifestFile,
} from '../core/checkpoint-manifest.js';
import { shellQuote } from '../providers/shell-quote.js';
import type { ObjectStore } from '../providers/storage/types.js';
import { ProviderError, type CommandRunner } from '../providers/types.js';

/** A path for the node's shell: `~/x` is the user's home there (as a job sees it), anything else as written. */
export function nodeShellPath(dir: string): string {
  if (dir === '~') return '"$HOME"';
  return dir.startsWith('~/') ? `"$HOME"/${shellQuote(dir.slice(2))}` : shellQuote(dir);
}

const LIST_SCRIPT = (dir: string) =>
  [
    `mkdir -p -- ${nodeShellPath(dir)} && cd -- ${nodeShellPath(dir)} || exit 1`,
    `printf 'dir\\t%s\\n' "$PWD"`,
    `find . -type f -printf 'f\\t%s\\t%T@\\t%m\\t%P\\n'`,
  ].join('\n');

/** The directory on the node, absolute, and what is in it. */
export async function listNodeDir(runner: CommandRunner, dir: string): Promise<Listing> {
  const r = await runner.run(LIST_SCRIPT(dir), { timeoutMs: 120_000 });
  if (r.exitCode !== 0) throw new ProviderError('transient', `listing the checkpoint directory ${dir} failed (exit ${r.exitCode}): ${r.stderr.trim()}`);
  return parseListing(r.stdout);
}

/** A complete snapshot as the store holds it (its manifest's header). */
export interface KeptSnapshot {
  seq: number;
  attempt: number;
  takenAt: string;
  bytes: number;
  files: number;
  marker: string;
}

export interface SnapshotResult {
  taken?: { seq: number; files: number; bytes: number; copiedBytes: number; marker: string; takenAt: string; pruned: number[] };
  /** with `taken`: every complete snapshot the store keeps now, oldest first (the store is the truth) */
  kept?: KeptSnapshot[];
  /** why no snapshot was taken (nothing marked, nothing changed, changed while copying) */
  skipped?: string;
  /** what the node's directory holds now, for the next snapshot's comparison */
  baseline?: ManifestFile[];
}

export interface SnapshotRequest {
  runner: CommandRunner;
  store: ObjectStore;
  /** relative to the node's home */
  dir: string;
  attempt: number;
  keep: number;
  staging: string;
  /** what the last snapshot (or restore) left on the node; absent: compare with the newest manifest */
  baseline?: ManifestFile[];
  progress?: (bytes: number) => void;
  /** checked before the manifest is written: a snapshot its workflow gave up on is not recorded */
  cancelled?: () => boolean;
}

export async function latestManifest(store: ObjectStore): Promise<Manifest | undefined> {
  const seqs: number[] = [];
  for await (const o of store.list('snapshots/')) {
    const seq = seqOfKey(o.key);
    if (seq !== undefined) seqs.push(seq);
  }
  for (const seq of seqs.sort((a, b) => b - a)) {
    const text = await readAll(await store.get(snapshotKey(seq))).catch(() => undefined);
    const m = text !== undefined ? parseManifest(text) : undefined;
    if (m) return m;
  }
  return undefined;
}

export async function takeSnapshot(req: SnapshotRequest): Promise<SnapshotResult> {
  if (!req.runner.stream) throw new ProviderError('config', 'this infra cannot stream files off its nodes, so Petrel cannot snapshot checkpoints there yet');
  const first = await listNodeDir(req.runner, req.dir);
  const ready = readiness(first);
  if (!ready.ready) return { skipped: ready.why, ...(req.baseline ? { baseline: req.baseline } : {}) };
  const latest = await latestManifest(req.store);
  const previous = req.baseline ?? latest?.files;
  const { known, changed } = carriedOver(first, previous);
  if (changed.length === 0 && latest && sameFiles(first, latest.files)) {
    return { skipped: 'nothing changed since the last snapshot', baseline: previous! };
  }
  fs.rmSync(req.staging, { recursive: true, force: true });
  fs.mkdirSync(req.staging, { recursive: true });
  try {
    let copied = 0;
    if (changed.length > 0) {
      await streamFilesOff(req.runner, req.dir, changed.map((f) => f.path), req.staging, (n) => {
        copied += n;
        req.progress?.(copied);
      });
    }
    const second = await listNodeDir(req.runner, req.dir);
    if (!sameListing(first, second)) return { skipped: 'the directory changed while it was copied; the next interval tries again' };
    const files: ManifestFile[] = [];
    for (const f of first.files) {
      const sha = known.get(f.path) ?? (await storeFile(req.store, path.join(req.staging, f.path)));
      files.push({ ...f, sha256: sha });
    }
    const seq = (latest?.seq ?? 0) + 1;
    const manifest: Manifest = {
      version: 1,
      seq,
      attempt: req.attempt,
      takenAt: new Date().toISOString(),
      marker: fs.existsSync(path.join(req.staging, MARKER)) ? fs.readFileSync(path.join(req.staging, MARKER), 'utf8').trim().slice(0, 200) : (latest?.marker ?? ''),
      bytes: files.reduce((n, f) => n + f.size, 0),
      files,
    };
    if (req.cancelled?.()) return { skipped: 'cancelled: its attempt ended while it was copied' };
    await req.store.put(snapshotKey(seq), Buffer.from(JSON.stringify(manifest)));
    const { gone: pruned, kept } = await prune(req.store, req.keep);
    return {
      taken: { seq, files: files.length, bytes: manifest.bytes, copiedBytes: copied, marker: manifest.marker, takenAt: manifest.takenAt, pruned },
      kept,
      baseline: files,
    };
  } finally {
    fs.rmSync(req.staging, { recursive: true, force: true });
  }
}

function sameFiles(listing: Listing, files: ManifestFile[]): boolean {
  return listing.files.length === files.length && listing.files.every((f, i) => f.path === files[i]!.path && f.size === files[i]!.size);
}

/** One tar stream of `paths` (relative to dir) from the node, unpacked into `into` by the worker's tar. */
export async function streamFilesOff(runner: CommandRunner, dir: string, paths: string[], into: string, onBytes: (n: number) => void): Promise<void> {
  const list = Buffer.from(paths.map((p) => `${p}\0`).join('')).toString('base64');
  // A long list is not worth passing on a command line: then the whole directory goes.
  const select = list.length > 96 * 1024 ? `tar -cf - .` : `printf %s ${shellQuote(list)} | base64 -d | tar -cf - --null -T -`;
  const tar = spawn('tar', ['-xf', '-', '-C', into], { stdio: ['pipe', 'ignore', 'pipe'] });
  const tarErr: Buffer[] = [];
  tar.stderr.on('data', (d: Buffer) => tarErr.length < 64 && tarErr.push(d));
  const unpacked = new Promise<number>((resolve) => tar.on('close', (code) => resolve(code ?? 1)));
  tar.stdin.on('error', () => undefined);
  // Held back while the worker's tar catches up: a snapshot never piles up in memory.
  const r = await runner.stream!(`cd -- ${nodeShellPath(dir)} && ${select}`, (chunk) => {
    onBytes(chunk.length);
    if (tar.stdin.write(chunk)) return undefined;
    return new Promise<void>((resolve) => {
      tar.stdin.once('drain', resolve);
      tar.once('close', resolve);
    });
  });
  tar.stdin.end();
  const code = await unpacked;
  if (r.exitCode !== 0) throw new ProviderError('transient', `reading the checkpoint off the node failed (exit ${r.exitCode}): ${r.stderr.trim()}`);
  if (code !== 0) throw new ProviderError('transient', `unpacking the checkpoint on the worker failed: ${Buffer.concat(tarErr).toString('utf8').trim()}`);
}

/** Stores a file by its content (once: a file seen in an earlier snapshot is not sent again). */
async function storeFile(store: ObjectStore, file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  await pipeline(fs.createReadStream(file), hash);
  const sha = hash.digest('hex');
  const size = fs.statSync(file).size;
  const existing = await store.head(objectKey(sha));
  if (!existing || existing.size !== size) await store.put(objectKey(sha), fs.createReadStream(file), { size });
  return sha;
}

/** Every complete snapshot the store holds, oldest first. */
export async function keptSnapshots(store: ObjectStore): Promise<KeptSnapshot[]> {
  return (await prune(store, Number.MAX_SAFE_INTEGER)).kept;
}

/** Deletes all but the newest `keep` snapshots, then the objects no kept snapshot refers to. */
async function prune(store: ObjectStore, keep: number): Promise<{ gone: number[]; kept: KeptSnapshot[] }> {
  const seqs: number[] = [];
  for await (const o of store.list('snapshots/')) {
    const seq = seqOfKey(o.key);
    if (seq !== undefined) seqs.push(seq);
  }
  const gone = toPrune(seqs, keep);
  if (gone.length) await store.delete(gone.map(snapshotKey));
  const referenced = new Set<string>();
  const kept: KeptSnapshot[] = [];
  for (const seq of seqs.filter((s) => !gone.includes(s)).sort((a, b) => a - b)) {
    const m = parseManifest(await readAll(await store.get(snapshotKey(seq))));
    if (!m) continue;
    kept.push({ seq: m.seq, attempt: m.attempt, takenAt: m.takenAt, bytes: m.bytes, files: m.files.length, marker: m.marker });
    for (const f of m.files) referenced.add(objectKey(f.sha256));
  }
  if (gone.length) {
    const orphans: string[] = [];
    for await (const o of store.list('objects/')) if (!referenced.has(o.key)) orphans.push(o.key);
    if (orphans.length) await store.delete(orphans);
  }
  return { gone, kept };
}

export interface RestoreResult {
  restored?: { seq: number; attempt: number; takenAt: string; marker: string; bytes: number; files: number };
  /** the node's directory as restored, for the next snapshot's comparison */
  baseline?: ManifestFile[];
}

/**
 * Puts the newest complete snapshot into `dir` on every node (replacing what was there); with
 * no snapshot yet, the directory is created empty.
 */
export async function restoreSnapshot(req: {
  runners: CommandRunner[];
  store: ObjectStore;
  dir: string;
  staging: string;
  progress?: (bytes: number) => void;
}): Promise<RestoreResult> {
  const manifest = await latestManifest(req.store);
  const reset = `rm -rf -- ${shellQuote(req.dir)} && mkdir -p -- ${shellQuote(req.dir)}`;
  if (!manifest) {
    await Promise.all(req.runners.map((r) => mustRun(r, reset, 'creating the checkpoint directory')));
    return {};
  }
  fs.rmSync(req.staging, { recursive: true, force: true });
  fs.mkdirSync(req.staging, { recursive: true });
  try {
    let done = 0;
    for (const f of manifest.files) {
      const target = path.join(req.staging, f.path);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      await pipeline(await req.store.get(objectKey(f.sha256)), fs.createWriteStream(target, { mode: f.mode & 0o777 }));
      fs.chmodSync(target, f.mode & 0o777);
      done += f.size;
      req.progress?.(done);
    }
    await Promise.all(
      req.runners.map(async (r) => {
        await mustRun(r, reset, 'clearing the checkpoint directory');
        await r.upload(req.staging, req.dir);
      }),
    );
    // The nodes' files now have new times: the next snapshot compares against what is there.
    const listing = await listNodeDir(req.runners[0]!, req.dir);
    const byPath = new Map(manifest.files.map((f) => [f.path, f]));
    const baseline = listing.files.flatMap((f) => {
      const m = byPath.get(f.path);
      return m && m.size === f.size ? [{ ...f, sha256: m.sha256 }] : [];
    });
    return {
      restored: { seq: manifest.seq, attempt: manifest.attempt, takenAt: manifest.takenAt, marker: manifest.marker, bytes: manifest.bytes, files: manifest.files.length },
      baseline,
    };
  } finally {
    fs.rmSync(req.staging, { recursive: true, force: true });
  }
}

async function mustRun(runner: CommandRunner, command: string, what: string): Promise<void> {
  const r = await runner.run(command, { timeoutMs: 120_000 });
  if (r.exitCode !== 0) throw new ProviderError('transient', `${what} failed (exit ${r.exitCode}): ${r.stderr.trim()}`);
}

export async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
  return Buffer.concat(chunks).toString('utf8');
}
