// Checkpoint activities: thin wrappers over checkpoint-engine.ts that find the job's store (its
// `checkpoint.store`, else `jobs.checkpoint_store` in config.yaml, else a directory in this
// worker's home), heartbeat with the bytes moved, and map errors onto failure types.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { jobStoreKey, type ManifestFile } from '../core/checkpoint-manifest.js';
import type { ClusterHandle, WorkerRef } from '../core/cluster-state.js';
import { FAILURE_TYPES } from '../core/failures.js';
import { getProvider, type ProviderContext } from '../providers/registry.js';
import type { CommandRunner } from '../providers/types.js';
import { openStore } from '../providers/storage/index.js';
import { StoreError, type ObjectStore } from '../providers/storage/types.js';
import { mapProviderErrors } from './failures.js';
import { keptSnapshots, latestManifest, listNodeDir, restoreSnapshot, takeSnapshot, type RestoreResult, type SnapshotResult } from './checkpoint-engine.js';
import { checkpointSettings } from './checkpoint-config.js';
import { sweepExpiredSnapshots } from './checkpoint-retention.js';
import { withPortableKeys } from './portable-keys.js';
import { workerIdentity } from './worker-identity.js';

export interface CheckpointTarget {
  handle: ClusterHandle;
  /** the job's task id: its place in the store */
  taskId: string;
  /** relative to each node's home */
  dir: string;
  store?: string;
}

function storeFailure(err: unknown): unknown {
  if (!(err instanceof StoreError)) return err;
  const retry = err.kind === 'transient';
  return ApplicationFailure.create({ type: retry ? FAILURE_TYPES.transient : FAILURE_TYPES.config, message: err.message, nonRetryable: !retry });
}

/** Heartbeats every second with the bytes moved so far (the UI shows them on the pending activity). */
async function withProgress<T>(fn: (progress: (bytes: number) => void) => Promise<T>): Promise<T> {
  let bytes = 0;
  let ctx: Context | undefined;
  try {
    ctx = Context.current();
  } catch {
    ctx = undefined;
  }
  const timer = ctx ? setInterval(() => ctx!.heartbeat({ bytes }), 1000) : undefined;
  try {
    return await fn((n) => (bytes = n));
  } catch (err) {
    throw storeFailure(err);
  } finally {
    if (timer) clearInterval(timer);
  }
}

/** Staging directories left by workers that were killed mid-transfer (named `<job>-<pid>-<id>`). */
function removeDeadStaging(root: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(root);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(/-(\d+)-[0-9a-f]{8}$/.exec(name)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch {
      fs.rmSync(path.join(root, name), { recursive: true, force: true });
    }
  }
}

/** Whether this activity's workflow has given up on it (cancellation arrives with a heartbeat). */
function activityCancelled(): boolean {
  try {
    return Context.current().cancellationSignal.aborted;
  } catch {
    return false;
  }
}

/** A job still running is sent SIGTERM (it may save on it) and given `graceSeconds` to exit. */
async function stopForLastSnapshot(runner: CommandRunner, key: string, graceSeconds: number): Promise<void> {
  const running = async () => (await runner.status(key).catch(() => ({ state: 'unknown' as const }))).state === 'running';
  if (!(await running())) return;
  await runner.signal(key, 'SIGTERM').catch(() => undefined);
  const deadline = Date.now() + graceSeconds * 1000;
  while (Date.now() < deadline && (await running())) await new Promise((r) => setTimeout(r, 200));
}

export function createCheckpointActivities(ctx: ProviderContext) {
  const provider = (name: string) => withPortableKeys(getProvider(name, ctx), ctx.home);
  const me = workerIdentity(ctx.home);
  /** What each job's nodes hold after its last snapshot or restore (a worker that restarts compares with the store instead). */
  const baselines = new Map<string, ManifestFile[]>();
  const storeOf = (t: CheckpointTarget): { store: ObjectStore; key: string; url: string } => {
    const base = t.store ?? checkpointSettings(ctx.home).store;
    const key = jobStoreKey(t.taskId);
    // A directory store is made as needed; a bucket must exist (the task's owner names it).
    if (base.startsWith('file://')) fs.mkdirSync(path.join(new URL(base).pathname, key), { recursive: true });
    return { store: openStore(`${base}/${key}`), key, url: base };
  };
  let lastSweep = 0;
  /** At most hourly, on the way into a snapshot: expired jobs' snapshots leave this worker's own store. */
  const sweep = () => {
    if (Date.now() - lastSweep < 3600_000) return;
    lastSweep = Date.now();
    const { store: base, retentionDays } = checkpointSettings(ctx.home);
    if (base.startsWith('file://')) sweepExpiredSnapshots(new URL(base).pathname, retentionDays);
  };
  removeDeadStaging(path.join(ctx.home, 'checkpoints', 'staging'));
  // One per call: a snapshot cut short may still be running beside the next one.
  const staging = (key: string) => path.join(ctx.home, 'checkpoints', 'staging', `${key}-${process.pid}-${randomUUID().slice(0, 8)}`);

  /**
   * Restores the newest complete snapshot onto every node (or creates the empty directory), and
   * says where the directory is on the nodes.
   */
  async function restoreCheckpoint(t: CheckpointTarget): Promise<Omit<RestoreResult, 'baseline'> & { paths: string[]; store: string; worker: WorkerRef }> {
    return mapProviderErrors(() =>
      withProgress(async (progress) => {
        const p = provider(t.handle.provider);
        const { store, key, url } = storeOf(t);
        const runners = t.handle.nodes.map((n) => p.runner(t.handle, n));
        const { baseline, ...result } = await restoreSnapshot({ runners, store, dir: t.dir, staging: staging(key), progress });
        if (baseline) baselines.set(key, baseline);
        else baselines.delete(key);
        // Each node's home differs (a directory per node): the job is told its own absolute path.
        const paths = await Promise.all(runners.map(async (r) => (await listNodeDir(r, t.dir)).dir));
        return { ...result, paths, store: url, worker: me };
      }),
    );
  }

  /**
   * One snapshot of the head node's directory. `last`: the attempt is ending (finished, lost or
   * cancelled): a job still running is sent SIGTERM and given up to `graceSeconds` to exit (a job
   * that saves on SIGTERM gets to finish saving); a directory still moving is tried again briefly.
   */
  async function snapshotCheckpoint(
    t: CheckpointTarget & { attempt: number; keep: number; last?: { runKey: string; graceSeconds: number } },
  ): Promise<Omit<SnapshotResult, 'baseline'> & { worker: WorkerRef }> {
    return mapProviderErrors(() =>
      withProgress(async (progress) => {
        const p = provider(t.handle.provider);
        const { store, key } = storeOf(t);
        const head = t.handle.nodes.find((n) => n.rank === 0) ?? t.handle.nodes[0]!;
        const runner = p.runner(t.handle, head);
        try {
          sweep();
        } catch {
          // expiry is housekeeping: it never fails a snapshot
        }
        if (t.last) await stopForLastSnapshot(runner, t.last.runKey, t.last.graceSeconds);
        for (let tries = 1; ; tries++) {
          const { baseline, ...result } = await takeSnapshot({
            runner,
            store,
            dir: t.dir,
            attempt: t.attempt,
            keep: t.keep,
            staging: staging(key),
            ...(baselines.has(key) ? { baseline: baselines.get(key)! } : {}),
            progress,
            cancelled: activityCancelled,
          });
          if (baseline) baselines.set(key, baseline);
          if (!t.last || result.taken || tries >= 3 || !/changed while/.test(result.skipped ?? '')) {
            // The last word on a job's snapshots says what the store holds (one cut short may have completed).
            if (t.last && !result.kept) result.kept = await keptSnapshots(store);
            return { ...result, worker: me };
          }
          await new Promise((r) => setTimeout(r, 1000));
        }
      }),
    );
  }

  /** The snapshots a job has in its store, newest first (for `jobs checkpoints`). */
  async function newestCheckpoint(t: Pick<CheckpointTarget, 'taskId' | 'store'>) {
    try {
      const m = await latestManifest(storeOf(t as CheckpointTarget).store);
      return m ? { seq: m.seq, attempt: m.attempt, takenAt: m.takenAt, bytes: m.bytes, files: m.files.length, marker: m.marker } : undefined;
    } catch (err) {
      throw storeFailure(err);
    }
  }

  return { restoreCheckpoint, snapshotCheckpoint, newestCheckpoint };
}

export type CheckpointActivities = ReturnType<typeof createCheckpointActivities>;
