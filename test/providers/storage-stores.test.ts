// The object stores (providers/storage) against real services where they can run here: S3 on
// moto (test/support/moto.ts), GCS on the JSON API stand-in (test/support/gcs-standin.ts), and
// file:// on the test's own temp directory. One suite runs against all three.
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketOf, deleteBucket, ensureBucket, openStore, StoreError, type ObjectStore } from '../../providers/storage/index.js';
import { closeS3Clients } from '../../providers/storage/s3.js';
import { s3ErrorKind } from '../../providers/storage/s3-errors.js';
import { downloadTree, uploadTree } from '../../providers/storage/transfer.js';
import { startGcsStandin, type GcsStandin } from '../support/gcs-standin.js';
import { startMoto, useAwsTestEnv, type Moto } from '../support/moto.js';

const MiB = 1024 * 1024;
const GCS_TOKEN = 'petrel-test-token';

let moto: Moto;
let gcs: GcsStandin;
let scratch: string;

beforeAll(async () => {
  scratch = await fsp.mkdtemp(path.join(os.tmpdir(), 'storage-'));
  moto = await startMoto();
  useAwsTestEnv();
  process.env.AWS_ENDPOINT_URL_S3 = moto.url;
  gcs = await startGcsStandin({ token: GCS_TOKEN });
  Object.assign(process.env, { PETREL_GCS_ENDPOINT: gcs.url, GOOGLE_OAUTH_ACCESS_TOKEN: GCS_TOKEN, GOOGLE_CLOUD_PROJECT: 'petrel-test' });
});

afterAll(async () => {
  closeS3Clients();
  await moto?.stop();
  await gcs?.stop();
});

async function expectKind(p: Promise<unknown>, kind: StoreError['kind']): Promise<StoreError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected StoreError('${kind}')`).toBeInstanceOf(StoreError);
  expect((err as StoreError).kind, (err as Error).message).toBe(kind);
  return err as StoreError;
}

async function text(s: Readable): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts).toString();
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** `size` bytes, 1 MiB at a time, different in every MiB; the sha256 of what was produced. */
function generated(size: number): { stream: Readable; digest: () => string } {
  const block = crypto.randomBytes(MiB);
  const hash = crypto.createHash('sha256');
  let sent = 0;
  const stream = new Readable({
    read() {
      if (sent >= size) return void this.push(null);
      const n = Math.min(MiB, size - sent);
      const chunk = Buffer.from(block.subarray(0, n));
      chunk.writeUInt32BE(sent / MiB, 0);
      hash.update(chunk);
      sent += n;
      this.push(chunk);
    },
  });
  return { stream, digest: () => hash.digest('hex') };
}

async function sha256(s: Readable): Promise<{ hex: string; bytes: number }> {
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  for await (const c of s) {
    hash.update(c as Buffer);
    bytes += (c as Buffer).length;
  }
  return { hex: hash.digest('hex'), bytes };
}

/** Highest RSS growth over `before` while `fn` runs (sampled every 20 ms). */
async function peakRssGrowth(fn: () => Promise<void>): Promise<number> {
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  try {
    await fn();
  } finally {
    clearInterval(timer);
  }
  peak = Math.max(peak, process.memoryUsage().rss);
  return peak - before;
}

/** The store, counting the bytes its downloads deliver. */
function counting(store: ObjectStore): { store: ObjectStore; fetched: () => number; reset: () => void } {
  let n = 0;
  const wrapped: ObjectStore = {
    url: store.url,
    put: (k, b, o) => store.put(k, b, o),
    head: (k) => store.head(k),
    list: (p) => store.list(p),
    delete: (k) => store.delete(k),
    get: async (k, o) => {
      const src = await store.get(k, o);
      const count = new Transform({
        transform(chunk: Buffer, _e, cb) {
          n += chunk.length;
          cb(null, chunk);
        },
      });
      src.on('error', (e) => count.destroy(e));
      return src.pipe(count);
    },
  };
  return { store: wrapped, fetched: () => n, reset: () => void (n = 0) };
}

interface Backend {
  name: string;
  /** a URL whose bucket does not exist yet (and is unique to the test) */
  fresh: (tag: string) => string;
  bucketOps: boolean;
}

const backends: Backend[] = [
  { name: 'file', fresh: (tag) => `file://${path.join(scratch, `dir-${tag}`)}`, bucketOps: false },
  { name: 's3', fresh: (tag) => `s3://petrel-${tag}/data`, bucketOps: true },
  { name: 'gs', fresh: (tag) => `gs://petrel-${tag}/data`, bucketOps: true },
];

describe('test environment', () => {
  it('has no metadata-server probes (global setup)', () => {
    expect(process.env.AWS_EC2_METADATA_DISABLED).toBe('true');
    expect(process.env.METADATA_SERVER_DETECTION).toBe('none');
  });
});

describe.each(backends)('$name store', (b) => {
  let url: string;
  let store: ObjectStore;

  beforeAll(async () => {
    url = b.fresh(`${b.name}-main`);
    store = openStore(url);
  });

  it('ensureBucket: refuses to create unless allowed, then creates once', async () => {
    await expectKind(ensureBucket(url, { create: false }), 'no_bucket');
    await expectKind(store.get('nothing'), 'no_bucket');
    expect(await ensureBucket(url, { create: true })).toEqual({ created: true });
    expect(await ensureBucket(url, { create: true })).toEqual({ created: false });
    expect(await ensureBucket(url, { create: false })).toEqual({ created: false });
  });

  it('put, head, get, list and delete round trip; missing keys are not_found', async () => {
    await store.put('a/one.txt', Buffer.from('one'));
    await store.put('a/two.txt', Readable.from([Buffer.from('tw'), Buffer.from('o!')]));
    await store.put('a.txt', Buffer.from(''));
    await store.put('b/deep/three.txt', Buffer.from('three'));
    expect(await store.head('a/one.txt')).toEqual({ key: 'a/one.txt', size: 3 });
    expect(await store.head('a/missing.txt')).toBeUndefined();
    expect(await text(await store.get('a/two.txt'))).toBe('two!');
    expect(await text(await store.get('a.txt'))).toBe('');
    // S3's order: bytes of the key, so 'a.txt' < 'a/…' ('.' < '/')
    expect(await collect(store.list())).toEqual([
      { key: 'a.txt', size: 0 },
      { key: 'a/one.txt', size: 3 },
      { key: 'a/two.txt', size: 4 },
      { key: 'b/deep/three.txt', size: 5 },
    ]);
    expect((await collect(store.list('a/'))).map((o) => o.key)).toEqual(['a/one.txt', 'a/two.txt']);
    expect((await collect(store.list('b/de'))).map((o) => o.key)).toEqual(['b/deep/three.txt']);
    await store.put('a/one.txt', Buffer.from('replaced'));
    expect(await text(await store.get('a/one.txt'))).toBe('replaced');
    await store.delete(['a/one.txt', 'a/never-there.txt', 'a.txt']);
    expect(await store.head('a/one.txt')).toBeUndefined();
    await expectKind(store.get('a/one.txt'), 'not_found');
    expect((await collect(store.list())).map((o) => o.key)).toEqual(['a/two.txt', 'b/deep/three.txt']);
    await store.delete(['a/two.txt', 'b/deep/three.txt']);
    expect(await collect(store.list())).toEqual([]);
  });

  it('get from an offset', async () => {
    await store.put('offset.bin', Buffer.from('0123456789'));
    expect(await text(await store.get('offset.bin', { offset: 4 }))).toBe('456789');
    expect(await text(await store.get('offset.bin', { offset: 10 }))).toBe('');
    await store.delete(['offset.bin']);
  });

  it('refuses keys that are absolute or walk upwards', async () => {
    await expectKind(store.put('../escape', Buffer.from('x')), 'config');
    await expectKind(store.put('/abs', Buffer.from('x')), 'config');
    await expectKind(store.get('a/../../b'), 'config');
  });

  it('streams a 96 MiB object in and out without holding it in memory', async () => {
    // warm up the clients and code paths so their first-use allocations are not counted
    await store.put('warm', Buffer.from('w'));
    await text(await store.get('warm'));
    const size = 96 * MiB;
    const src = generated(size);
    let progressed = 0;
    const up = await peakRssGrowth(async () => {
      await store.put('big/object.bin', src.stream, { onProgress: (n) => (progressed = n) });
    });
    expect(progressed).toBe(size);
    expect((await store.head('big/object.bin'))?.size).toBe(size);
    let got = { hex: '', bytes: 0 };
    const down = await peakRssGrowth(async () => {
      got = await sha256(await store.get('big/object.bin'));
    });
    expect(got).toEqual({ hex: src.digest(), bytes: size });
    console.log(`${b.name}: 96 MiB RSS growth: upload ${(up / MiB).toFixed(1)} MiB, download ${(down / MiB).toFixed(1)} MiB`);
    // Held whole, the object alone would be 96 MiB; parts in flight (4 × 8 MiB on S3), buffers
    // and garbage not yet collected stay well under that (up to ~53 MiB seen under full load).
    expect(up).toBeLessThan(64 * MiB);
    expect(down).toBeLessThan(64 * MiB);
    const tail = await sha256(await store.get('big/object.bin', { offset: size - MiB - 5 }));
    expect(tail.bytes).toBe(MiB + 5);
    await store.delete(['big/object.bin', 'warm']);
  });

  it('lists more than 1000 objects in order across pages, and deletes them in batches', async () => {
    const keys = Array.from({ length: 1003 }, (_, i) => `many/${String(i).padStart(5, '0')}`);
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < keys.length) {
          const k = keys[next++]!;
          await store.put(k, Buffer.from(k));
        }
      }),
    );
    const listed = await collect(store.list('many/'));
    expect(listed.map((o) => o.key)).toEqual(keys);
    await store.delete(keys);
    expect(await collect(store.list('many/'))).toEqual([]);
  });

  it('uploads and downloads a tree (200 small files and one of 20 MiB), resuming both', async () => {
    const local = path.join(scratch, `${b.name}-tree`);
    await fsp.mkdir(path.join(local, 'small', 'nested'), { recursive: true });
    const expected = new Map<string, Buffer>();
    for (let i = 0; i < 200; i++) {
      const rel = i % 2 ? `small/${i}.txt` : `small/nested/${i}.txt`;
      const body = crypto.randomBytes(100 + i * 17);
      expected.set(rel, body);
      await fsp.writeFile(path.join(local, rel), body);
    }
    const big = crypto.randomBytes(20 * MiB);
    expected.set('big.bin', big);
    await fsp.writeFile(path.join(local, 'big.bin'), big);
    const total = [...expected.values()].reduce((n, v) => n + v.length, 0);

    const up = await uploadTree(local, store, 'tree');
    expect(up).toMatchObject({ files: 201, bytes: total, skippedFiles: 0, transferredBytes: total });
    // a retried upload finds everything there already
    expect(await uploadTree(local, store, 'tree')).toMatchObject({ files: 201, skippedFiles: 201, transferredBytes: 0 });

    const c = counting(store);
    const dest = path.join(scratch, `${b.name}-tree-copy`);
    const abort = new AbortController();
    const first = downloadTree(c.store, 'tree', dest, {
      concurrency: 4,
      signal: abort.signal,
      onProgress: (p) => p.doneBytes > 10 * MiB && abort.abort(new Error('stopped by the test')),
    });
    await expect(first).rejects.toThrow('stopped by the test');
    // what the interrupted run left: finished files and a partial big.bin
    let onDisk = 0;
    const partial = await fsp.stat(path.join(dest, 'big.bin.part'));
    expect(partial.size).toBeGreaterThan(0);
    expect(partial.size).toBeLessThan(big.length);
    for (const rel of expected.keys()) {
      const st = await fsp.stat(path.join(dest, rel)).catch(() => fsp.stat(path.join(dest, rel + '.part')).catch(() => undefined));
      onDisk += st?.size ?? 0;
    }
    expect(onDisk).toBeGreaterThan(8 * MiB - 1);

    c.reset();
    const second = await downloadTree(c.store, 'tree', dest);
    // nothing fetched twice: the second run asked only for what was not on disk
    expect(c.fetched()).toBe(total - onDisk);
    expect(second.transferredBytes).toBe(total - onDisk);
    expect(second.skippedFiles).toBeGreaterThan(0);
    for (const [rel, body] of expected) expect((await fsp.readFile(path.join(dest, rel))).equals(body), rel).toBe(true);
    const leftovers = (await fsp.readdir(dest, { recursive: true })).filter((f) => String(f).endsWith('.part'));
    expect(leftovers).toEqual([]);
    console.log(`${b.name}: tree ${(total / MiB).toFixed(1)} MiB; interrupted at ${(onDisk / MiB).toFixed(1)} MiB, resumed with ${((total - onDisk) / MiB).toFixed(1)} MiB`);
  });

  it.runIf(b.bucketOps)('deleteBucket empties a bucket and deletes it, and is idempotent', async () => {
    const other = b.fresh(`${b.name}-doomed`);
    expect(await ensureBucket(other, { create: true })).toEqual({ created: true });
    const s = openStore(other);
    await s.put('x/1', Buffer.from('1'));
    await s.put('2', Buffer.from('2'));
    // objects outside the URL's prefix go too: the whole bucket is deleted
    await openStore(`${b.name}://${bucketOf(other)}`).put('outside', Buffer.from('3'));
    await deleteBucket(other);
    await expectKind(ensureBucket(other, { create: false }), 'no_bucket');
    await expectKind(s.get('x/1'), 'no_bucket');
    await deleteBucket(other);
  });
});

describe('errors', () => {
  it('a URL of no known store is a config error naming it', () => {
    expect(() => openStore('ftp://host/x')).toThrow(/ftp:\/\/host\/x/);
    expect(() => openStore('s3://Bad_Bucket/x')).toThrow(StoreError);
    expect(() => openStore('file://relative/dir')).toThrow(StoreError);
  });

  it('S3 without credentials fails with auth at once, asking nothing', async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_SECRET_ACCESS_KEY;
    try {
      const started = Date.now();
      const err = await expectKind(openStore('s3://petrel-no-creds/x').head('k'), 'auth');
      expect(err.message).toMatch(/AWS_ACCESS_KEY_ID/);
      expect(Date.now() - started).toBeLessThan(1000);
    } finally {
      Object.assign(process.env, { AWS_ACCESS_KEY_ID: saved.id, AWS_SECRET_ACCESS_KEY: saved.secret });
    }
  });

  it("S3's error codes map to kinds (moto accepts any credentials, so auth is checked on the mapper)", () => {
    const e = (name: string, status?: number) => ({ name, message: name, ...(status ? { $metadata: { httpStatusCode: status } } : { $metadata: {} }) });
    expect(s3ErrorKind(e('NoSuchKey', 404))).toBe('not_found');
    expect(s3ErrorKind(e('NotFound', 404))).toBe('not_found');
    expect(s3ErrorKind(e('NoSuchBucket', 404))).toBe('no_bucket');
    expect(s3ErrorKind(e('AccessDenied', 403))).toBe('auth');
    expect(s3ErrorKind(e('InvalidAccessKeyId', 403))).toBe('auth');
    expect(s3ErrorKind(e('SignatureDoesNotMatch', 403))).toBe('auth');
    expect(s3ErrorKind(e('Forbidden', 403))).toBe('auth');
    expect(s3ErrorKind(e('SlowDown', 503))).toBe('transient');
    expect(s3ErrorKind(e('InternalError', 500))).toBe('transient');
    expect(s3ErrorKind(e('Unknown', 502))).toBe('transient');
    expect(s3ErrorKind({ name: 'Error', code: 'ECONNRESET', message: 'socket hang up' })).toBe('transient');
    expect(s3ErrorKind(e('InvalidArgument', 400))).toBe('config');
  });

  it('GCS with a refused token fails with auth; missing bucket and object are told apart', async () => {
    process.env.GOOGLE_OAUTH_ACCESS_TOKEN = 'not-the-token';
    try {
      const err = await expectKind(openStore('gs://petrel-any/x').head('k'), 'auth');
      expect(err.message).toMatch(/GOOGLE_OAUTH_ACCESS_TOKEN/);
    } finally {
      process.env.GOOGLE_OAUTH_ACCESS_TOKEN = GCS_TOKEN;
    }
    await expectKind(openStore('gs://petrel-missing/x').get('k'), 'no_bucket');
  });

  it('GCS without any credentials fails with auth, asking nothing', async () => {
    const saved = process.env.GOOGLE_OAUTH_ACCESS_TOKEN;
    delete process.env.GOOGLE_OAUTH_ACCESS_TOKEN;
    try {
      const err = await expectKind(openStore('gs://petrel-any/x').head('k'), 'auth');
      expect(err.message).toMatch(/gcloud auth application-default login/);
    } finally {
      process.env.GOOGLE_OAUTH_ACCESS_TOKEN = saved;
    }
  });

  it('file stores: a missing directory is no_bucket; deleteBucket refuses directories', async () => {
    const url = `file://${path.join(scratch, 'never')}`;
    await expectKind(openStore(url).put('k', Buffer.from('x')), 'no_bucket');
    await expectKind(deleteBucket(url), 'config');
    expect(fs.existsSync(path.join(scratch, 'never'))).toBe(false);
  });
});
