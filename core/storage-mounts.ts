// Storage mounts (file_mounts backed by a bucket, as SkyPilot defines them) turned into what a
// worker does: which bucket, whether Petrel creates it (and deletes it afterwards), what local
// directory to upload into it first, and how the node sees it (COPY, MOUNT_CACHED, MOUNT).
// Pure: the CLI plans, activities carry it out.
import type { FileMount } from './task.js';

export type MountMode = 'COPY' | 'MOUNT' | 'MOUNT_CACHED';

export interface StorageMountRequest {
  /** the destination on each node */
  dest: string;
  /** s3://bucket[/prefix] or gs://bucket[/prefix] */
  url: string;
  mode: MountMode;
  /** a directory on the worker's machine uploaded into the bucket before the nodes get it */
  upload?: string;
  /** the task named the bucket (`name:`): create it when it does not exist */
  create: boolean;
  /** persistent: false — delete the bucket when the job ends, if Petrel created it */
  deleteAfter: boolean;
}

const SCHEMES: Record<string, 's3' | 'gs'> = { S3: 's3', GCS: 'gs' };
const BUCKET_URI = /^(s3|gs):\/\/([a-z0-9][a-z0-9._-]{1,61}[a-z0-9])(\/.*)?$/;
const ANY_URI = /^[a-z][a-z0-9+.-]*:\/\//i;

export type PlannedMount = { ok: true; mount: StorageMountRequest; localSource?: string } | { ok: false; message: string };

/** One file_mounts entry that is a bucket (or undefined when it is a plain local path). */
export function planStorageMount(dest: string, m: FileMount): PlannedMount | undefined {
  if (m.kind === 'path') {
    if (!ANY_URI.test(m.source)) return undefined;
    if (!BUCKET_URI.test(m.source)) return { ok: false, message: `'${m.source}': Petrel reads buckets from s3:// and gs:// (others, e.g. r2:// or https://, are not supported yet)` };
    return { ok: true, mount: { dest, url: m.source.replace(/\/+$/, ''), mode: 'COPY', create: false, deleteAfter: false } };
  }
  if (m.store && m.store.toUpperCase() === 'VOLUME') return { ok: false, message: 'volumes are not supported by Petrel yet; mount a bucket (store: s3 or gcs) or a local path' };
  if (Array.isArray(m.source)) return { ok: false, message: 'several sources for one mount are not supported by Petrel yet; give one local directory or bucket URI' };
  const mode = m.mode.toUpperCase() as MountMode;
  const fromUri = m.source && ANY_URI.test(m.source) ? m.source : undefined;
  if (fromUri && !BUCKET_URI.test(fromUri)) return { ok: false, message: `source '${fromUri}': Petrel reads buckets from s3:// and gs:// only` };
  const storeScheme = m.store ? SCHEMES[m.store.toUpperCase()] : undefined;
  if (m.store && !storeScheme) return { ok: false, message: `store: ${m.store} is not supported by Petrel yet; use s3 or gcs` };
  if (fromUri) {
    if (m.name !== undefined) return { ok: false, message: `give either name (a bucket Petrel creates) or a bucket URI as source, not both` };
    const scheme = fromUri.slice(0, 2) as 's3' | 'gs';
    if (storeScheme && storeScheme !== scheme) return { ok: false, message: `store: ${m.store} does not match the source '${fromUri}'` };
    return { ok: true, mount: { dest, url: fromUri.replace(/\/+$/, ''), mode, create: false, deleteAfter: false } };
  }
  if (m.name === undefined) return { ok: false, message: 'a storage mount needs name (a bucket) or a bucket URI as source' };
  if (!storeScheme) return { ok: false, message: `name: ${m.name} needs store: s3 or store: gcs (Petrel does not pick a cloud for a bucket)` };
  if (!/^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/.test(m.name)) return { ok: false, message: `name: '${m.name}' is not a valid bucket name (3-63 lower-case letters, digits, '.', '-', '_')` };
  return {
    ok: true,
    mount: { dest, url: `${storeScheme}://${m.name}`, mode, create: true, deleteAfter: !m.persistent },
    ...(m.source !== undefined ? { localSource: m.source } : {}),
  };
}

/** FUSE tools a node may have for MOUNT, per store (the first found is used). */
export const FUSE_TOOLS: Record<'s3' | 'gs', string[]> = { s3: ['mount-s3', 'goofys', 's3fs', 'rclone'], gs: ['gcsfuse', 'rclone'] };
