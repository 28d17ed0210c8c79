// The one door to object storage: a URL in, an ObjectStore out (s3://, gs://, file://), plus
// bucket management for storage mounts that create their bucket and delete only what they
// created. Callers never import a store module directly, so adding a scheme touches only here.
import fsp from 'node:fs/promises';
import { FileStore } from './file.js';
import { deleteGcsBucket, ensureGcsBucket, GcsStore } from './gcs.js';
import { deleteS3Bucket, ensureS3Bucket, S3Store } from './s3.js';
import { StoreError, type ObjectStore } from './types.js';
import { parseStoreUrl } from './url.js';

export type { ObjectInfo, ObjectStore, StoreErrorKind } from './types.js';
export { StoreError } from './types.js';
export { parseStoreUrl, type StoreLocation, type StoreScheme } from './url.js';

/** The store a URL names; StoreError('config') naming the URL for anything else. Contacts nothing. */
export function openStore(url: string): ObjectStore {
  const loc = parseStoreUrl(url);
  switch (loc.scheme) {
    case 's3':
      return new S3Store(url, loc);
    case 'gs':
      return new GcsStore(url, loc);
    case 'file':
      return new FileStore(url, loc.bucket);
  }
}

/** The bucket a URL names (for file://, its directory). */
export function bucketOf(url: string): string {
  return parseStoreUrl(url).bucket;
}

/**
 * Makes sure the URL's bucket exists: `created` says whether this call made it (so only those
 * are deleted later). Missing and `create: false` → StoreError('no_bucket'). `region` is the
 * S3 region or GCS location (default AWS_REGION / us-east-1, and GCS's default US).
 */
export async function ensureBucket(url: string, opts: { create: boolean; region?: string }): Promise<{ created: boolean }> {
  const loc = parseStoreUrl(url);
  switch (loc.scheme) {
    case 's3':
      return ensureS3Bucket(loc.bucket, opts);
    case 'gs':
      return ensureGcsBucket(loc.bucket, opts);
    case 'file': {
      const exists = await fsp.stat(loc.bucket).then((s) => s.isDirectory(), () => false);
      if (exists) return { created: false };
      if (!opts.create) throw new StoreError('no_bucket', `${url}: the directory ${loc.bucket} does not exist`);
      await fsp.mkdir(loc.bucket, { recursive: true });
      return { created: true };
    }
  }
}

/** Empties the URL's bucket (all of it, not only the URL's prefix) and deletes it; a missing bucket is fine. */
export async function deleteBucket(url: string): Promise<void> {
  const loc = parseStoreUrl(url);
  switch (loc.scheme) {
    case 's3':
      return deleteS3Bucket(loc.bucket);
    case 'gs':
      return deleteGcsBucket(loc.bucket);
    case 'file':
      throw new StoreError('config', `${url}: deleteBucket does not remove directories; delete the objects instead`);
  }
}
