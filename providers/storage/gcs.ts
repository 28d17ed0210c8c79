// ObjectStore over Google Cloud Storage with @google-cloud/storage. Credentials are explicit
// (gcs-auth.ts: never the metadata server); the endpoint is the library's default, or
// PETREL_GCS_ENDPOINT (a private endpoint, or the tests' stand-in), or STORAGE_EMULATOR_HOST
// which the library reads itself. Either way requests carry the credentials
// (useAuthWithCustomEndpoint), so a private endpoint behaves as the public one does. Large or
// unsized objects go up as resumable uploads in 8 MiB chunks: a dropped connection costs one
// chunk, and memory holds one chunk at most.
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Storage, type Bucket, type GetFilesOptions, type GetFilesResponse } from '@google-cloud/storage';
import { gcsCredentials } from './gcs-auth.js';
import { asReadable, emptyStream, withMappedErrors } from './streams.js';
import { StoreError, type ObjectInfo, type ObjectStore, type StoreErrorKind } from './types.js';
import { checkKey, joinKey, listPrefix, type StoreLocation } from './url.js';

export const CHUNK_SIZE = 8 * 1024 * 1024;
/** Objects of a known size up to this go up in one request (no upload session to open). */
const SIMPLE_UPLOAD_MAX = 5 * 1024 * 1024;
const DELETES_IN_FLIGHT = 16;
const LIST_PAGE = 1000;

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED']);

export function gcsErrorKind(err: unknown): StoreErrorKind {
  const e = (err ?? {}) as { code?: number | string; message?: string };
  const status = typeof e.code === 'number' ? e.code : undefined;
  const message = e.message ?? '';
  if (status === 404) return /bucket does not exist|No such bucket|bucket.*not found/i.test(message) ? 'no_bucket' : 'not_found';
  if (status === 401 || status === 403) return 'auth';
  if (status === 408 || status === 429 || (status !== undefined && status >= 500)) return 'transient';
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return 'transient';
  if (status === undefined) return 'transient';
  return 'config';
}

export function mapGcsError(err: unknown, where: string): StoreError {
  if (err instanceof StoreError) return err;
  const kind = gcsErrorKind(err);
  const e = (err ?? {}) as { code?: number | string; message?: string };
  // A media download's error message is the response body: keep the API's own message out of the JSON.
  let message = e.message ?? String(err);
  try {
    const parsed = JSON.parse(message) as { error?: { message?: string } };
    if (parsed.error?.message) message = parsed.error.message;
  } catch {
    // plain text already
  }
  const hint = kind === 'auth' ? ` (the GCP credentials cannot be used for this bucket: ${safeSource()})` : '';
  return new StoreError(kind, `${where}: ${e.code !== undefined ? `${e.code} ` : ''}${message}${hint}`);
}

function safeSource(): string {
  try {
    return `they are ${gcsCredentials().source}`;
  } catch (err) {
    return (err as Error).message;
  }
}

const storages = new Map<string, Storage>();

export function gcsStorage(): Storage {
  const creds = gcsCredentials();
  const projectId = process.env.GOOGLE_CLOUD_PROJECT || process.env.CLOUDSDK_CORE_PROJECT || creds.projectId;
  const apiEndpoint = process.env.PETREL_GCS_ENDPOINT || undefined;
  const key = [creds.stamp, projectId, apiEndpoint, process.env.STORAGE_EMULATOR_HOST].join('\n');
  let s = storages.get(key);
  if (!s) {
    s = new Storage({
      authClient: creds.client,
      ...(projectId ? { projectId } : {}),
      ...(apiEndpoint ? { apiEndpoint: apiEndpoint.replace(/\/+$/, '') } : {}),
      useAuthWithCustomEndpoint: true,
    });
    storages.set(key, s);
  }
  return s;
}

export class GcsStore implements ObjectStore {
  constructor(
    readonly url: string,
    private readonly loc: StoreLocation,
  ) {}

  private bucket(): Bucket {
    return gcsStorage().bucket(this.loc.bucket);
  }

  private objectKey(key: string): string {
    checkKey(key, this.url);
    return joinKey(this.loc.prefix, key);
  }

  private where(key: string): string {
    return `gs://${this.loc.bucket}/${joinKey(this.loc.prefix, key)}`;
  }

  async put(key: string, body: Readable | Buffer, opts: { size?: number; onProgress?: (bytes: number) => void } = {}): Promise<void> {
    const file = this.bucket().file(this.objectKey(key));
    const size = opts.size ?? (Buffer.isBuffer(body) ? body.length : undefined);
    const resumable = size === undefined || size > SIMPLE_UPLOAD_MAX;
    const metadata = { contentType: 'application/octet-stream' };
    try {
      // The session is opened separately: createWriteStream alone would open it without the
      // credentials when the endpoint is a custom one (the library drops useAuthWithCustomEndpoint
      // there). Its chunks need none: the session URI is the authorization, as GCS documents.
      const uri = resumable ? (await file.createResumableUpload({ metadata }))[0] : undefined;
      const out = file.createWriteStream({ metadata, ...(uri ? { resumable: true, uri, chunkSize: CHUNK_SIZE } : { resumable: false }) });
      const onProgress = opts.onProgress;
      if (onProgress) out.on('progress', (p: { bytesWritten?: number }) => p.bytesWritten !== undefined && onProgress(p.bytesWritten));
      await pipeline(asReadable(body), out);
    } catch (err) {
      throw mapGcsError(err, `${this.where(key)}: upload`);
    }
  }

  async get(key: string, opts: { offset?: number } = {}): Promise<Readable> {
    const file = this.bucket().file(this.objectKey(key));
    const offset = opts.offset ?? 0;
    const src = file.createReadStream(offset > 0 ? { start: offset } : {});
    try {
      // The request starts on the first read: wait for its answer so a missing object fails here.
      await new Promise<void>((resolve, reject) => {
        src.once('error', reject);
        src.once('response', (res: { statusCode?: number }) => {
          if ((res.statusCode ?? 500) < 300) {
            src.off('error', reject);
            resolve();
          }
          // otherwise the library destroys the stream with the error body
        });
        src.read(0);
      });
    } catch (err) {
      if ((err as { code?: number }).code === 416 && offset > 0) {
        const info = await this.head(key);
        if (info?.size === offset) return emptyStream();
        throw new StoreError('config', `${this.where(key)}: offset ${offset} is beyond the object's ${info?.size ?? 0} bytes`);
      }
      throw mapGcsError(err, `${this.where(key)}: download`);
    }
    return withMappedErrors(src, (err) => mapGcsError(err, `${this.where(key)}: download`));
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const file = this.bucket().file(this.objectKey(key));
    try {
      const [meta] = await file.getMetadata();
      return { key, size: Number(meta.size ?? 0) };
    } catch (err) {
      const mapped = mapGcsError(err, `${this.where(key)}: metadata`);
      if (mapped.kind === 'not_found') return undefined;
      throw mapped;
    }
  }

  async *list(prefix?: string): AsyncIterable<ObjectInfo> {
    const full = listPrefix(this.loc.prefix, prefix);
    const strip = this.loc.prefix ? this.loc.prefix.length + 1 : 0;
    let query: GetFilesOptions | undefined = { autoPaginate: false, maxResults: LIST_PAGE, ...(full ? { prefix: full } : {}) };
    const bucket = this.bucket();
    while (query) {
      let page;
      try {
        page = await bucket.getFiles(query);
      } catch (err) {
        throw mapGcsError(err, `gs://${this.loc.bucket}/${full}: list`);
      }
      for (const f of page[0]) {
        if (f.name.endsWith('/')) continue;
        yield { key: f.name.slice(strip), size: Number(f.metadata.size ?? 0) };
      }
      const next = page[1] as GetFilesOptions | null | undefined;
      query = next?.pageToken ? { ...query, pageToken: next.pageToken } : undefined;
    }
  }

  async delete(keys: string[]): Promise<void> {
    const bucket = this.bucket();
    const names = keys.map((k) => this.objectKey(k));
    await inParallel(names, DELETES_IN_FLIGHT, async (name) => {
      try {
        await bucket.file(name).delete({ ignoreNotFound: true });
      } catch (err) {
        throw mapGcsError(err, `gs://${this.loc.bucket}/${name}: delete`);
      }
    });
  }
}

async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export async function ensureGcsBucket(name: string, opts: { create: boolean; region?: string }): Promise<{ created: boolean }> {
  const storage = gcsStorage();
  const bucket = storage.bucket(name);
  try {
    const [exists] = await bucket.exists();
    if (exists) return { created: false };
  } catch (err) {
    throw mapGcsError(err, `gs://${name}: exists`);
  }
  if (!opts.create) throw new StoreError('no_bucket', `gs://${name}: the bucket does not exist`);
  if (!storage.projectId || storage.projectId === '{{projectId}}') {
    throw new StoreError('config', `gs://${name}: no GCP project to create the bucket in: set GOOGLE_CLOUD_PROJECT (or use credentials that name a project)`);
  }
  try {
    await storage.createBucket(name, opts.region ? { location: opts.region } : {});
    return { created: true };
  } catch (err) {
    if ((err as { code?: number }).code === 409) {
      const [exists] = await bucket.exists().catch(() => [false]);
      if (exists) return { created: false };
      throw new StoreError('config', `gs://${name}: the name is taken by another project (bucket names are global): choose another`);
    }
    throw mapGcsError(err, `gs://${name}: create in ${storage.projectId}`);
  }
}

/** Deletes every object (every generation), then the bucket; a missing bucket is fine. */
export async function deleteGcsBucket(name: string): Promise<void> {
  const bucket = gcsStorage().bucket(name);
  try {
    let query: GetFilesOptions | undefined = { autoPaginate: false, maxResults: LIST_PAGE, versions: true };
    while (query) {
      const page: GetFilesResponse = await bucket.getFiles(query);
      await inParallel(page[0], DELETES_IN_FLIGHT, async (f) => void (await f.delete({ ignoreNotFound: true })));
      const token: string | undefined = (page[1] as GetFilesOptions | null | undefined)?.pageToken;
      query = token ? { ...query, pageToken: token } : undefined;
    }
    await bucket.delete();
  } catch (err) {
    const mapped = mapGcsError(err, `gs://${name}: deleting the bucket`);
    if (mapped.kind !== 'not_found' && mapped.kind !== 'no_bucket') throw mapped;
  }
}
