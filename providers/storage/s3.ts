// ObjectStore over S3 and S3-compatible services. Clients come from the SDK's default chain
// (environment, shared files, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL) like the EC2 provider's,
// with path-style addressing when an endpoint is set (moto, MinIO and private endpoints rarely
// resolve `bucket.host`). Before any client is built, credentials must be findable without the
// network (providers/aws/check.ts): a machine without them fails with StoreError('auth') rather
// than probing the instance metadata service. Each bucket is used from its own region
// (GetBucketLocation once per bucket), so one store works for buckets anywhere.
import type { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  GetBucketLocationCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  S3Client,
  type ObjectIdentifier,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { credentialSource } from '../aws/check.js';
import { mapS3Error } from './s3-errors.js';
import { emptyStream, withMappedErrors } from './streams.js';
import { StoreError, type ObjectInfo, type ObjectStore } from './types.js';
import { checkKey, joinKey, listPrefix, type StoreLocation } from './url.js';

export const PART_SIZE = 8 * 1024 * 1024;
export const PARTS_IN_FLIGHT = 4;
const DELETE_BATCH = 1000;

const NO_CREDENTIALS =
  'no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with ~/.aws/credentials or ~/.aws/config (an instance role is not looked for)';

function endpoint(): string | undefined {
  return process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL || undefined;
}

function homeRegion(): string {
  return process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1';
}

// Clients and bucket regions are kept per endpoint and access key: tests (and a worker serving
// several teams) switch them in the environment.
const clients = new Map<string, S3Client>();
const regions = new Map<string, string>();

function identity(): string {
  return `${endpoint() ?? ''}\n${process.env.AWS_ACCESS_KEY_ID ?? process.env.AWS_PROFILE ?? ''}`;
}

export function s3Client(region: string): S3Client {
  if (!credentialSource()) throw new StoreError('auth', NO_CREDENTIALS);
  const key = `${identity()}\n${region}`;
  let c = clients.get(key);
  if (!c) {
    c = new S3Client({ region, ...(endpoint() ? { forcePathStyle: true } : {}) });
    clients.set(key, c);
  }
  return c;
}

/** Drops every kept client (their sockets); for tests and shutdown. */
export function closeS3Clients(): void {
  for (const c of clients.values()) c.destroy();
  clients.clear();
  regions.clear();
}

/** The bucket's region; StoreError('no_bucket') when it does not exist. */
export async function bucketRegion(bucket: string): Promise<string> {
  const key = `${identity()}\n${bucket}`;
  const known = regions.get(key);
  if (known) return known;
  let region: string;
  try {
    const out = await s3Client(homeRegion()).send(new GetBucketLocationCommand({ Bucket: bucket }));
    const where = out.LocationConstraint as string | undefined;
    region = !where ? 'us-east-1' : where === 'EU' ? 'eu-west-1' : where;
  } catch (err) {
    const mapped = mapS3Error(err, `s3://${bucket}: GetBucketLocation`);
    // Allowed to use the objects but not to ask where the bucket is: assume our own region.
    if (mapped.kind === 'auth' && (err as { name?: string }).name === 'AccessDenied') region = homeRegion();
    else throw mapped;
  }
  regions.set(key, region);
  return region;
}

export class S3Store implements ObjectStore {
  constructor(
    readonly url: string,
    private readonly loc: StoreLocation,
  ) {}

  private async client(): Promise<S3Client> {
    return s3Client(await bucketRegion(this.loc.bucket));
  }

  private objectKey(key: string): string {
    checkKey(key, this.url);
    return joinKey(this.loc.prefix, key);
  }

  private where(key: string, call: string): string {
    return `s3://${this.loc.bucket}/${joinKey(this.loc.prefix, key)}: ${call}`;
  }

  async put(key: string, body: Readable | Buffer, opts: { size?: number; onProgress?: (bytes: number) => void } = {}): Promise<void> {
    const Key = this.objectKey(key);
    const client = await this.client();
    // Upload reads the stream one part at a time: at most PARTS_IN_FLIGHT parts are in memory.
    const upload = new Upload({
      client,
      params: { Bucket: this.loc.bucket, Key, Body: body },
      queueSize: PARTS_IN_FLIGHT,
      partSize: PART_SIZE,
      leavePartsOnError: false,
    });
    const onProgress = opts.onProgress;
    if (onProgress) upload.on('httpUploadProgress', (p) => p.loaded !== undefined && onProgress(p.loaded));
    try {
      await upload.done();
    } catch (err) {
      throw mapS3Error(err, this.where(key, 'Upload'));
    }
  }

  async get(key: string, opts: { offset?: number } = {}): Promise<Readable> {
    const Key = this.objectKey(key);
    const offset = opts.offset ?? 0;
    const client = await this.client();
    try {
      const out = await client.send(new GetObjectCommand({ Bucket: this.loc.bucket, Key, ...(offset > 0 ? { Range: `bytes=${offset}-` } : {}) }));
      return withMappedErrors(out.Body as Readable, (err) => mapS3Error(err, this.where(key, 'GetObject')));
    } catch (err) {
      // A range starting at the end (a resumed transfer that had every byte) is not an error.
      if ((err as { name?: string }).name === 'InvalidRange' && offset > 0) {
        const info = await this.head(key);
        if (info?.size === offset) return emptyStream();
        throw new StoreError('config', `${this.where(key, 'GetObject')}: offset ${offset} is beyond the object's ${info?.size ?? 0} bytes`);
      }
      throw mapS3Error(err, this.where(key, 'GetObject'));
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const Key = this.objectKey(key);
    const client = await this.client();
    try {
      const out = await client.send(new HeadObjectCommand({ Bucket: this.loc.bucket, Key }));
      return { key, size: out.ContentLength ?? 0 };
    } catch (err) {
      const mapped = mapS3Error(err, this.where(key, 'HeadObject'));
      if (mapped.kind === 'not_found') return undefined;
      throw mapped;
    }
  }

  async *list(prefix?: string): AsyncIterable<ObjectInfo> {
    const client = await this.client();
    const full = listPrefix(this.loc.prefix, prefix);
    const strip = this.loc.prefix ? this.loc.prefix.length + 1 : 0;
    let token: string | undefined;
    do {
      let out;
      try {
        out = await client.send(new ListObjectsV2Command({ Bucket: this.loc.bucket, ...(full ? { Prefix: full } : {}), ...(token ? { ContinuationToken: token } : {}) }));
      } catch (err) {
        throw mapS3Error(err, `s3://${this.loc.bucket}/${full}: ListObjectsV2`);
      }
      for (const o of out.Contents ?? []) {
        // "folder" markers the console creates are not objects a tree has
        if (!o.Key || o.Key.endsWith('/')) continue;
        yield { key: o.Key.slice(strip), size: o.Size ?? 0 };
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    const objects = keys.map((k) => ({ Key: this.objectKey(k) }));
    await deleteObjects(await this.client(), this.loc.bucket, objects);
  }
}

/** DeleteObjects in batches of 1000 (S3's limit); a key that is already gone is not an error. */
async function deleteObjects(client: S3Client, bucket: string, objects: ObjectIdentifier[]): Promise<void> {
  for (let i = 0; i < objects.length; i += DELETE_BATCH) {
    const batch = objects.slice(i, i + DELETE_BATCH);
    let out;
    try {
      out = await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch, Quiet: true } }));
    } catch (err) {
      throw mapS3Error(err, `s3://${bucket}: DeleteObjects`);
    }
    const failed = (out.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
    if (failed.length > 0) {
      const first = failed[0]!;
      throw mapS3Error({ name: first.Code, message: `${failed.length} of ${batch.length} not deleted, first ${first.Key}: ${first.Message}`, $metadata: {} }, `s3://${bucket}: DeleteObjects`);
    }
  }
}

export async function ensureS3Bucket(bucket: string, opts: { create: boolean; region?: string }): Promise<{ created: boolean }> {
  try {
    await bucketRegion(bucket);
    return { created: false };
  } catch (err) {
    if (!(err instanceof StoreError) || err.kind !== 'no_bucket' || !opts.create) throw err;
  }
  const region = opts.region ?? homeRegion();
  try {
    await s3Client(region).send(
      new CreateBucketCommand({ Bucket: bucket, ...(region !== 'us-east-1' ? { CreateBucketConfiguration: { LocationConstraint: region as never } } : {}) }),
    );
    return { created: true };
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'BucketAlreadyOwnedByYou') return { created: false };
    if (name === 'BucketAlreadyExists') throw new StoreError('config', `s3://${bucket}: the name is taken by another AWS account (bucket names are global): choose another`);
    throw mapS3Error(err, `s3://${bucket}: CreateBucket in ${region}`);
  }
}

/** Empties the bucket (every object, and every version if it was versioned), then deletes it; a missing bucket is fine. */
export async function deleteS3Bucket(bucket: string): Promise<void> {
  let client: S3Client;
  try {
    client = s3Client(await bucketRegion(bucket));
  } catch (err) {
    if (err instanceof StoreError && err.kind === 'no_bucket') return;
    throw err;
  }
  try {
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    do {
      const out = await client.send(
        new ListObjectVersionsCommand({ Bucket: bucket, ...(keyMarker ? { KeyMarker: keyMarker } : {}), ...(versionMarker ? { VersionIdMarker: versionMarker } : {}) }),
      );
      const objects = [...(out.Versions ?? []), ...(out.DeleteMarkers ?? [])].map((v) => ({ Key: v.Key!, ...(v.VersionId ? { VersionId: v.VersionId } : {}) }));
      await deleteObjects(client, bucket, objects);
      keyMarker = out.IsTruncated ? out.NextKeyMarker : undefined;
      versionMarker = out.IsTruncated ? out.NextVersionIdMarker : undefined;
    } while (keyMarker);
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
  } catch (err) {
    const mapped = mapS3Error(err, `s3://${bucket}: deleting the bucket`);
    if (mapped.kind !== 'no_bucket') throw mapped;
  } finally {
    regions.delete(`${identity()}\n${bucket}`);
  }
}
