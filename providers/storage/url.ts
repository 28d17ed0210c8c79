// Store URLs and keys, shared by every store: one place decides what a URL means and which keys
// are acceptable, so `s3://b/p`, `gs://b/p` and `file:///d` agree on prefixes and on refusing
// keys that could escape a directory (`..`) or mean something else in a URL (leading '/').
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { StoreError } from './types.js';

export type StoreScheme = 's3' | 'gs' | 'file';

export interface StoreLocation {
  scheme: StoreScheme;
  /** the bucket, or for file:// the absolute directory */
  bucket: string;
  /** without leading or trailing '/'; '' for the whole bucket */
  prefix: string;
}

const FORMS = 'expected s3://bucket/prefix, gs://bucket/prefix or file:///absolute/dir';

export function parseStoreUrl(url: string): StoreLocation {
  const m = /^(s3|gs):\/\/([^/]+)(?:\/(.*))?$/.exec(url);
  if (m) {
    const bucket = m[2]!;
    if (!/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/.test(bucket)) {
      throw new StoreError('config', `${url}: '${bucket}' is not a valid bucket name (lowercase letters, digits, '.', '-', '_'; 3 to 222 characters)`);
    }
    const prefix = (m[3] ?? '').replace(/^\/+|\/+$/g, '');
    if (prefix) checkKey(prefix, url);
    return { scheme: m[1] as 's3' | 'gs', bucket, prefix };
  }
  if (url.startsWith('file://')) {
    let dir: string;
    try {
      dir = fileURLToPath(url);
    } catch (err) {
      throw new StoreError('config', `${url}: ${(err as Error).message}; ${FORMS}`);
    }
    if (!path.isAbsolute(dir)) throw new StoreError('config', `${url}: not an absolute directory; ${FORMS}`);
    return { scheme: 'file', bucket: path.resolve(dir), prefix: '' };
  }
  throw new StoreError('config', `unsupported store URL '${url}': ${FORMS}`);
}

/** Refuses keys that are empty, absolute, or walk upwards; `where` names the store for the message. */
export function checkKey(key: string, where: string): void {
  if (!key) throw new StoreError('config', `${where}: empty object key`);
  if (key.startsWith('/')) throw new StoreError('config', `${where}: object key '${key}' starts with '/' (keys are relative)`);
  if (key.split('/').some((s) => s === '..' || s === '.')) throw new StoreError('config', `${where}: object key '${key}' contains a '.' or '..' segment`);
  if (key.includes('\0')) throw new StoreError('config', `${where}: object key contains a NUL byte`);
}

/** `prefix/key`, or `key` at the bucket's root. */
export function joinKey(prefix: string, key: string): string {
  return prefix ? `${prefix}/${key}` : key;
}

/** What a store lists under: its own prefix plus the caller's (a raw string prefix, as S3 has it). */
export function listPrefix(storePrefix: string, prefix: string | undefined): string {
  return storePrefix ? `${storePrefix}/${prefix ?? ''}` : (prefix ?? '');
}

/** Byte order of the UTF-8 encodings: what S3 and GCS list in. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
