// Storage mounts on a cluster's nodes (file_mounts backed by S3 or GCS buckets): the bucket is
// made when the task names one (and its local source uploaded into it), then COPY and
// MOUNT_CACHED put the bucket's files on every node through the worker; MOUNT_CACHED later
// sends what the job changed back to the bucket (flushStorage, at the end of each phase and every
// interval while the run lives). MOUNT needs a FUSE tool on the nodes and says so when they have none.
import fs from 'node:fs';
import path from 'node:path';
import type { ClusterHandle } from '../core/cluster-state.js';
import { carriedOver, type ManifestFile } from '../core/checkpoint-manifest.js';
import { FUSE_TOOLS, type StorageMountRequest } from '../core/storage-mounts.js';
import { getProvider, type ProviderContext } from '../providers/registry.js';
import { deleteBucket, ensureBucket, openStore } from '../providers/storage/index.js';
import { downloadTree } from '../providers/storage/transfer.js';
import { uploadTree } from '../providers/storage/transfer.js';
import { StoreError } from '../providers/storage/types.js';
import { ProviderError, type CommandRunner } from '../providers/types.js';
import { listNodeDir, nodeShellPath, streamFilesOff } from './checkpoint-engine.js';
import { mapProviderErrors } from './failures.js';
import { withHeartbeats } from './heartbeats.js';
import { withPortableKeys } from './portable-keys.js';

export interface MountedStorage {
  dest: string;
  url: string;
  mode: StorageMountRequest['mode'];
  /** Petrel created the bucket for this job */
  created: boolean;
  files: number;
  bytes: number;
}

/** Store errors as provider errors: a bucket that is missing or refuses us is the task's problem (config). */
async function asProviderErrors<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof StoreError) throw new ProviderError(err.kind === 'transient' ? 'transient' : 'config', `${what}: ${err.message}`);
    throw err;
  }
}

async function fuseToolOn(runner: CommandRunner, tools: string[]): Promise<string | undefined> {
  const r = await runner.run(`for t in ${tools.join(' ')}; do command -v "$t" >/dev/null 2>&1 && { echo "$t"; exit 0; }; done; exit 0`, { timeoutMs: 60_000 });
  return r.stdout.trim().split('\n')[0] || undefined;
}

export function createStorageMountActivities(ctx: ProviderContext) {
  const provider = (name: string) => withPortableKeys(getProvider(name, ctx), ctx.home);
  /** per cluster, mount and node: what the node's copy held after the last download or flush */
  const baselines = new Map<string, ManifestFile[]>();
  const baselineKey = (handle: ClusterHandle, dest: string, rank: number) => `${handle.clusterName}\0${dest}\0${rank}`;
  const staging = (handle: ClusterHandle, i: number) => path.join(ctx.home, 'storage', 'staging', `${handle.clusterName}-${i}-${process.pid}`);

  async function mountStorage(req: { handle: ClusterHandle; mounts: StorageMountRequest[] }): Promise<MountedStorage[]> {
    return withHeartbeats(() =>
      mapProviderErrors(async () => {
        const p = provider(req.handle.provider);
        const runners = req.handle.nodes.map((n) => ({ rank: n.rank, runner: p.runner(req.handle, n) }));
        const out: MountedStorage[] = [];
        for (const [i, m] of req.mounts.entries()) {
          const where = `file_mounts.${m.dest} (${m.url})`;
          const { created } = await asProviderErrors(where, async () => {
            try {
              return await ensureBucket(m.url, { create: m.create });
            } catch (err) {
              if (err instanceof StoreError && err.kind === 'no_bucket') throw new StoreError('config', `the bucket does not exist; create it, or name it with name: and store: so Petrel creates it`);
              throw err;
            }
          });
          const store = openStore(m.url);
          if (m.upload) await asProviderErrors(`${where}: uploading ${m.upload}`, () => uploadTree(m.upload!, store, ''));
          if (m.mode === 'MOUNT') {
            const scheme = m.url.startsWith('gs://') ? 'gs' : 's3';
            for (const { rank, runner } of runners) {
              const tool = await fuseToolOn(runner, FUSE_TOOLS[scheme]);
              throw new ProviderError(
                'config',
                tool
                  ? `${where}: mode MOUNT: node ${rank} has ${tool}, but Petrel does not hand cloud credentials to nodes yet; use mode: MOUNT_CACHED (a copy on the node, synced back to the bucket) or COPY`
                  : `${where}: mode MOUNT needs a FUSE tool on every node (${FUSE_TOOLS[scheme].join(', ')}); node ${rank} has none. Use mode: MOUNT_CACHED (a copy on the node, synced back to the bucket) or COPY, or install one`,
              );
            }
          }
          const dir = staging(req.handle, i);
          fs.rmSync(dir, { recursive: true, force: true });
          fs.mkdirSync(dir, { recursive: true });
          try {
            const got = await asProviderErrors(`${where}: downloading`, () => downloadTree(store, '', dir));
            await Promise.all(
              runners.map(async ({ rank, runner }) => {
                const r = await runner.run(`mkdir -p -- ${nodeShellPath(m.dest)}`, { timeoutMs: 60_000 });
                if (r.exitCode !== 0) throw new ProviderError('config', `${where}: cannot create ${m.dest} on node ${rank}: ${r.stderr.trim()}`);
                await runner.upload(dir, m.dest);
                if (m.mode === 'MOUNT_CACHED') {
                  const listing = await listNodeDir(runner, m.dest);
                  baselines.set(baselineKey(req.handle, m.dest, rank), listing.files.map((f) => ({ ...f, sha256: '' })));
                }
              }),
            );
            out.push({ dest: m.dest, url: m.url, mode: m.mode, created, files: got.files, bytes: got.bytes });
          } finally {
            fs.rmSync(dir, { recursive: true, force: true });
          }
        }
        return out;
      }),
    );
  }

  /** MOUNT_CACHED: what the job wrote or changed under each mount, from every node, into its bucket. */
  async function flushStorage(req: { handle: ClusterHandle; mounts: StorageMountRequest[] }): Promise<{ files: number; bytes: number }> {
    return withHeartbeats(() =>
      mapProviderErrors(async () => {
        const p = provider(req.handle.provider);
        let files = 0;
        let bytes = 0;
        for (const [i, m] of req.mounts.filter((x) => x.mode === 'MOUNT_CACHED').entries()) {
          const store = openStore(m.url);
          for (const node of req.handle.nodes) {
            const runner = p.runner(req.handle, node);
            if (!runner.stream) throw new ProviderError('config', `file_mounts.${m.dest}: this infra cannot stream files off its nodes, so MOUNT_CACHED cannot sync back; use COPY`);
            const key = baselineKey(req.handle, m.dest, node.rank);
            const listing = await listNodeDir(runner, m.dest);
            const { changed } = carriedOver(listing, baselines.get(key));
            if (changed.length > 0) {
              const dir = `${staging(req.handle, i)}-flush-${node.rank}`;
              fs.rmSync(dir, { recursive: true, force: true });
              fs.mkdirSync(dir, { recursive: true });
              try {
                await streamFilesOff(runner, m.dest, changed.map((f) => f.path), dir, () => undefined);
                for (const f of changed) {
                  await asProviderErrors(`file_mounts.${m.dest} (${m.url})`, () => store.put(f.path, fs.createReadStream(path.join(dir, f.path)), { size: f.size }));
                  files++;
                  bytes += f.size;
                }
              } finally {
                fs.rmSync(dir, { recursive: true, force: true });
              }
            }
            baselines.set(key, listing.files.map((f) => ({ ...f, sha256: '' })));
          }
        }
        return { files, bytes };
      }),
    );
  }

  /** persistent: false — the buckets Petrel created for the job go with it. */
  async function deleteStorage(req: { urls: string[] }): Promise<void> {
    await mapProviderErrors(async () => {
      for (const url of req.urls) await asProviderErrors(`deleting ${url}`, () => deleteBucket(url));
    });
  }

  return { mountStorage, flushStorage, deleteStorage };
}
