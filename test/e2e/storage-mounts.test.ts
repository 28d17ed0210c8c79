// Bucket mounts (file_mounts backed by S3 and GCS) for managed jobs, on the local provider with
// a real Temporal dev server and worker: S3 through moto, GCS through the stand-in in
// test/support. COPY puts a bucket's files on the node; MOUNT_CACHED also sends what the job
// writes back (after each phase and when the job ends); a bucket made from `name` + a local
// `source` with persistent: false is deleted when the job ends; MOUNT without a FUSE tool, a
// missing bucket and a store Petrel cannot serve are refused with what to do instead.
import fs from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBucket, openStore } from '../../providers/storage/index.js';
import { closeS3Clients } from '../../providers/storage/s3.js';
import { clusterDirs, describeJob, running, waitForJob, writeConfig } from '../support/jobs.js';
import { startGcsStandin, type GcsStandin } from '../support/gcs-standin.js';
import { startMoto, useAwsTestEnv, type Moto } from '../support/moto.js';
import { PetrelEnv, waitFor } from '../support/petrel.js';

const GCS_TOKEN = 'petrel-test-token';
let p: PetrelEnv;
let moto: Moto;
let gcs: GcsStandin;

beforeAll(async () => {
  moto = await startMoto();
  useAwsTestEnv();
  process.env.AWS_ENDPOINT_URL_S3 = moto.url;
  gcs = await startGcsStandin({ token: GCS_TOKEN });
  Object.assign(process.env, { PETREL_GCS_ENDPOINT: gcs.url, GOOGLE_OAUTH_ACCESS_TOKEN: GCS_TOKEN, GOOGLE_CLOUD_PROJECT: 'petrel-test' });
  p = await PetrelEnv.create();
  writeConfig(p, { local: { regions: ['region-a'] } });
  // The worker inherits the stores' endpoints and credentials from this process.
  await p.ok(['server', 'start']);
}, 120_000);

afterAll(async () => {
  await p?.destroy();
  closeS3Clients();
  await moto?.stop();
  await gcs?.stop();
});

async function put(url: string, files: Record<string, string>): Promise<void> {
  await ensureBucket(url, { create: true });
  const store = openStore(url);
  for (const [k, v] of Object.entries(files)) await store.put(k, Buffer.from(v));
}

async function get(url: string, key: string): Promise<string | undefined> {
  const store = openStore(url);
  if (!(await store.head(key))) return undefined;
  const parts: Buffer[] = [];
  for await (const c of await store.get(key)) parts.push(c as Buffer);
  return Buffer.concat(parts).toString();
}

async function bucketExists(url: string): Promise<boolean> {
  try {
    await ensureBucket(url, { create: false });
    return true;
  } catch {
    return false;
  }
}

function task(dir: string, doc: Record<string, unknown>): string {
  const file = path.join(dir, `${Math.random().toString(16).slice(2)}.yaml`);
  fs.writeFileSync(file, stringify(doc));
  return file;
}

const scratch = () => fs.mkdtempSync(path.join(p.home, 'mounts-'));

describe('bucket mounts on managed jobs', () => {
  for (const [scheme, bucket] of [
    ['s3', 'petrel-copy-data'],
    ['gs', 'petrel-copy-data-gcs'],
  ] as const) {
    it(`COPY: a ${scheme}:// prefix is on the node before setup, as files`, async () => {
      await put(`${scheme}://${bucket}`, { 'train/a.txt': 'alpha\n', 'train/sub/b.txt': 'beta\n', 'other/c.txt': 'not mounted\n' });
      const dir = scratch();
      const r = await p.run(['jobs', 'launch', '-y', task(dir, { file_mounts: { '~/data': `${scheme}://${bucket}/train` }, setup: 'cat ~/data/a.txt', run: 'cat ~/data/sub/b.txt; ls ~/data' })]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('alpha');
      expect(r.stdout).toContain('beta');
      expect(r.stdout).not.toContain('c.txt');
    });
  }

  it('MOUNT_CACHED: a bucket made from name + a local source; what setup and run write goes back to it; persistent: false deletes another when the job ends', async () => {
    const dir = scratch();
    fs.mkdirSync(path.join(dir, 'seed'));
    fs.writeFileSync(path.join(dir, 'seed', 'config.json'), '{"lr": 0.1}\n');
    const gate = path.join(dir, 'go');
    const file = task(dir, {
      name: 'cached',
      file_mounts: {
        '~/ckpt': { name: 'petrel-cached-keep', source: path.join(dir, 'seed'), store: 's3', mode: 'MOUNT_CACHED' },
        '~/scratch': { name: 'petrel-cached-temp', store: 'gcs', mode: 'MOUNT_CACHED', persistent: false },
      },
      setup: 'cat ~/ckpt/config.json && echo from-setup > ~/ckpt/setup.txt',
      run: `echo step-1 > ~/ckpt/model.txt; echo tmp > ~/scratch/t.txt; while [ ! -f ${gate} ]; do sleep 0.2; done; echo step-2 > ~/ckpt/model.txt`,
    });
    const id = Number((await p.ok(['jobs', 'launch', '-d', '-y', file])).stdout.trim());
    await waitForJob(p, id, running, 'running', 90_000);
    // Setup's writes were sent back when setup ended; the local source is in the bucket.
    expect(await get('s3://petrel-cached-keep', 'config.json')).toBe('{"lr": 0.1}\n');
    expect(await get('s3://petrel-cached-keep', 'setup.txt')).toBe('from-setup\n');
    expect(await bucketExists('gs://petrel-cached-temp')).toBe(true);
    fs.writeFileSync(gate, '');
    const v = await waitForJob(p, id, (x) => x.status === 'SUCCEEDED', 'success', 90_000);
    expect(await get('s3://petrel-cached-keep', 'model.txt')).toBe('step-2\n');
    expect(v.storage!.mounts.map((m) => [m.dest, m.url, m.mode, m.created])).toEqual([
      ['~/ckpt', 's3://petrel-cached-keep', 'MOUNT_CACHED', true],
      ['~/scratch', 'gs://petrel-cached-temp', 'MOUNT_CACHED', true],
    ]);
    // persistent: false — made for the job, gone with it; the persistent one stays.
    expect(v.storage!.deleted).toEqual(['gs://petrel-cached-temp']);
    expect(await bucketExists('gs://petrel-cached-temp')).toBe(false);
    expect(await bucketExists('s3://petrel-cached-keep')).toBe(true);
    expect(clusterDirs(p).filter((d) => d.startsWith(`job-${id}-`))).toEqual([]);
  });

  it('MOUNT_CACHED survives a preemption: the next attempt starts from what the last one sent back', async () => {
    const dir = scratch();
    await put('s3://petrel-cached-resume', {});
    const file = task(dir, {
      file_mounts: { '~/state': { source: 's3://petrel-cached-resume', mode: 'MOUNT_CACHED' } },
      run: `n=$(cat ~/state/n 2>/dev/null || echo 0); echo "start $n" >> ${dir}/starts; n=$((n+1)); echo $n > ~/state/n; while [ ! -f ${dir}/go ]; do sleep 0.2; done`,
    });
    const id = Number((await p.ok(['jobs', 'launch', '-d', '-y', file])).stdout.trim());
    await waitFor('first start', () => (fs.existsSync(path.join(dir, 'starts')) ? true : undefined), 90_000);
    await p.ok(['debug', 'preempt', '--job', String(id)]);
    await waitForJob(p, id, (v) => running(v) && v.attempts.length === 2, 'second attempt running', 90_000);
    await waitFor('second start', () => (fs.readFileSync(path.join(dir, 'starts'), 'utf8').trim().split('\n').length === 2 ? true : undefined), 30_000);
    expect(fs.readFileSync(path.join(dir, 'starts'), 'utf8').trim().split('\n')).toEqual(['start 0', 'start 1']);
    fs.writeFileSync(path.join(dir, 'go'), '');
    await waitForJob(p, id, (x) => x.status === 'SUCCEEDED', 'success', 90_000);
    expect(await get('s3://petrel-cached-resume', 'n')).toBe('2\n');
  });

  it('refused with what to do instead, and nothing left running: MOUNT without a FUSE tool, a missing bucket, an unsupported store', async () => {
    const dir = scratch();
    await put('s3://petrel-mount-mode', { 'x.txt': 'x' });
    const mount = Number((await p.ok(['jobs', 'launch', '-d', '-y', task(dir, { file_mounts: { '/data': { source: 's3://petrel-mount-mode', mode: 'MOUNT' } }, run: 'echo never' })])).stdout.trim());
    const m = await waitForJob(p, mount, (v) => v.status === 'FAILED_PRECHECKS', 'prechecks failed', 90_000);
    expect(m.message).toContain('mode MOUNT needs a FUSE tool on every node (mount-s3, goofys, s3fs, rclone); node 0 has none. Use mode: MOUNT_CACHED');
    const missing = Number((await p.ok(['jobs', 'launch', '-d', '-y', task(dir, { file_mounts: { '~/d': 's3://petrel-no-such-bucket/x' }, run: 'echo never' })])).stdout.trim());
    const n = await waitForJob(p, missing, (v) => v.status === 'FAILED_PRECHECKS', 'prechecks failed', 90_000);
    expect(n.message).toContain('file_mounts.~/d (s3://petrel-no-such-bucket/x): the bucket does not exist');
    expect(clusterDirs(p).filter((d) => d.startsWith(`job-${mount}-`) || d.startsWith(`job-${missing}-`))).toEqual([]);
    const before = (await p.json<unknown[]>(['jobs', 'queue', '--json'])).length;
    const bad = task(dir, { file_mounts: { '/data': 'r2://bucket/x', '/more': { name: 'b', store: 'azure' } }, run: 'echo never' });
    const r = await p.run(['jobs', 'launch', '-d', '-y', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("file_mounts['/data']: 'r2://bucket/x': Petrel reads buckets from s3:// and gs://");
    expect(r.stderr).toContain("file_mounts['/more']: store: AZURE is not supported by Petrel yet; use s3 or gcs");
    expect((await p.json<unknown[]>(['jobs', 'queue', '--json'])).length).toBe(before);
    expect((await describeJob(p, mount)).storage!.mounts).toEqual([]);
  });
});
