// Object stores Petrel reads and writes: S3 (and anything S3-compatible), GCS, and a directory
// on the worker's machine (`file://`), behind one streaming interface. Used by storage mounts
// (file_mounts with buckets) and by checkpoints. Knows nothing of Temporal.
import type { Readable } from 'node:stream';

export interface ObjectInfo {
  /** relative to the store's prefix */
  key: string;
  size: number;
}

export interface ObjectStore {
  /** `s3://bucket/prefix`, `gs://bucket/prefix` or `file:///abs/dir` */
  readonly url: string;
  /**
   * Writes one object from a stream without holding it in memory (multipart, parts in
   * parallel, for large ones). Visible to get/list only once complete: a reader never sees
   * half an object.
   */
  put(key: string, body: Readable | Buffer, opts?: { size?: number; onProgress?: (bytes: number) => void }): Promise<void>;
  /** A stream of the object's bytes from `offset` (resuming a transfer); throws StoreError('not_found') if absent. */
  get(key: string, opts?: { offset?: number }): Promise<Readable>;
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Every object under `prefix` (relative to the store's prefix), in key order. */
  list(prefix?: string): AsyncIterable<ObjectInfo>;
  delete(keys: string[]): Promise<void>;
}

export type StoreErrorKind = 'not_found' | 'auth' | 'no_bucket' | 'transient' | 'config';

export class StoreError extends Error {
  constructor(
    readonly kind: StoreErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}
