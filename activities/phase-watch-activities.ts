// The activities of watched job phases. startPhase starts a phase's detached processes, waits
// a moment (a short phase ends right there, as fast as a poll can see it) and otherwise hands
// the phase to the watcher of its scope; watchScope is that watcher's one long-lived activity,
// asking the provider about every phase of the scope at once and signalling each job's
// workflow what changed; finishPhase stops what is left, archives the logs and unwatches.
import { reportDetection } from './metrics-hooks.js';
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { ClusterHandle, WorkerRef } from '../core/cluster-state.js';
import { FAILURE_TYPES } from '../core/failures.js';
import { Gang } from '../core/gang.js';
import { TASK_QUEUE } from '../core/names.js';
import { PhaseTracker, watchEntryId, watcherWorkflowId, type PhaseEvent, type PhaseReport, type WatchEntry, type WatchScope } from '../core/phase-watch.js';
import { getProvider, type ProviderContext } from '../providers/registry.js';
import { withPortableKeys } from './portable-keys.js';
import type { CommandRunner, DetachedJobState, Provider } from '../providers/types.js';
import { phaseUpdateSignal, unwatchPhaseSignal, watchChangesQuery, watchPhaseSignal, type WatchChanges } from '../workflows/job-watcher-messages.js';
import type { RunOnNodesRequest, RunOnNodesResult } from './cluster-activities.js';
import { mapProviderErrors } from './failures.js';
import { withHeartbeats } from './heartbeats.js';
import { archivedLogPath, archiveLog } from './log-archive.js';
import { openSecrets } from './secrets.js';
import { workerIdentity } from './worker-identity.js';

/** How long startPhase watches a phase itself: short phases (setup steps, hello worlds) end here. */
const QUICK_END_MS = 3_000;
/** How often a watcher asks its provider about every phase of its scope. */
export const WATCH_POLL_MS = 1_000;
/** The least pause between rounds, however long the last one took. */
const MIN_PAUSE_MS = 200;
/**
 * How often a watcher reads the changes to its set from its workflow. Phases started and
 * finished by this worker process reach its watchers at once (see liveWatchers); this read
 * is for those started by other workers, and after a restart.
 */
const SYNC_EVERY_MS = 10_000;
/** A watcher with nothing to watch for this long returns; its workflow ends soon after. */
const EMPTY_RETURN_MS = 30_000;
/** Watchers per scope: keeps each one's carried set well under the server's payload limit. */
const SHARDS = 4;
/** Signals in flight at once when many phases change together (a zone-wide preemption). */
const SIGNAL_CONCURRENCY = 32;

/** The trackers of the watchers running in this process, by watcher workflow id. */
const liveWatchers = new Map<string, Map<string, PhaseTracker>>();

export interface StartPhaseResult {
  /** the phase ended before it was handed to a watcher */
  result?: RunOnNodesResult;
  /** else: its watcher workflow, and the task queue that reaches its nodes (finishPhase goes there) */
  watcherId?: string;
  queue?: string;
}

export interface FinishPhaseRequest {
  handle: ClusterHandle;
  key: string;
  ranks: number[];
  watcherId?: string;
  /** stop what still runs first (a cancel, or the nodes of a lost gang) */
  kill?: 'SIGTERM' | 'SIGKILL';
}

export function createPhaseWatchActivities(ctx: ProviderContext) {
  const provider = (name: string) => withPortableKeys(getProvider(name, ctx), ctx.home);
  const me = workerIdentity(ctx.home);

  function runnersOf(p: Provider, handle: ClusterHandle, ranks: number[]): CommandRunner[] {
    return ranks.map((rank) => {
      const node = handle.nodes.find((n) => n.rank === rank);
      if (!node) throw ApplicationFailure.nonRetryable(`node ${rank} is not part of the cluster`, FAILURE_TYPES.config);
      return p.runner(handle, node);
    });
  }

  function scopeOf(p: Provider, handle: ClusterHandle): WatchScope {
    return { provider: handle.provider, region: handle.region ?? 'default', queue: p.nodesLocalToWorker ? (handle.worker?.queue ?? me.queue) : undefined };
  }

  async function archive(runners: CommandRunner[], handle: ClusterHandle, key: string, ranks: number[]): Promise<WorkerRef> {
    await Promise.all(runners.map((r, i) => archiveLog(r, archivedLogPath(ctx.home, handle.clusterName, key, ranks[i]!), key).catch(() => undefined)));
    return me;
  }

  async function startPhase(req: RunOnNodesRequest): Promise<StartPhaseResult> {
    return withHeartbeats(() =>
      mapProviderErrors(async () => {
        const p = provider(req.handle.provider);
        const secrets = openSecrets(ctx.home, req.sealedSecrets);
        const runners = runnersOf(p, req.handle, req.ranks);
        await Promise.all(runners.map((r, i) => r.startDetached({ key: req.key, script: req.script, env: { ...req.envByRank[i], ...secrets }, cwd: req.cwd })));
        const ended = await endedSoon(runners, req.key);
        if (ended) {
          const gang = new Gang(runners.length);
          ended.forEach((code, i) => gang.ended(i, code));
          return { result: { exitCodes: gang.exitCodes, exitCode: gang.exitCode, archivedBy: await archive(runners, req.handle, req.key, req.ranks) } };
        }
        const scope = scopeOf(p, req.handle);
        const workflowId = callerWorkflowId();
        const { worker: _, ...handle } = req.handle;
        const entry: WatchEntry = { workflowId, key: req.key, handle, ranks: req.ranks, graceSeconds: req.unreachableGraceSeconds ?? 30 };
        const watcherId = `${watcherWorkflowId(scope)}#${shardOf(workflowId)}`;
        await Context.current().client.workflow.signalWithStart('jobWatcherWorkflow', {
          workflowId: watcherId,
          taskQueue: TASK_QUEUE,
          args: [{ scope }],
          signal: watchPhaseSignal,
          signalArgs: [entry],
        });
        // The watcher's workflow has it durably; if the watcher runs here, it watches from now on.
        const local = liveWatchers.get(watcherId);
        if (local && !local.has(watchEntryId(entry))) local.set(watchEntryId(entry), new PhaseTracker(entry));
        return { watcherId, queue: scope.queue };
      }),
    );
  }

  async function finishPhase(req: FinishPhaseRequest): Promise<{ archivedBy: WorkerRef }> {
    return withHeartbeats(() =>
      mapProviderErrors(async () => {
        const p = provider(req.handle.provider);
        const runners = runnersOf(p, req.handle, req.ranks);
        if (req.kill) await Promise.all(runners.map((r) => r.signal(req.key, req.kill!).catch(() => undefined)));
        const archivedBy = await archive(runners, req.handle, req.key, req.ranks);
        if (req.watcherId) {
          const workflowId = callerWorkflowId();
          await Context.current()
            .client.workflow.getHandle(req.watcherId)
            .signal(unwatchPhaseSignal, { workflowId, key: req.key })
            .catch((err) => {
              if (!(err instanceof WorkflowNotFoundError)) throw err;
            });
          liveWatchers.get(req.watcherId)?.delete(watchEntryId({ workflowId, key: req.key }));
        }
        return { archivedBy };
      }),
    );
  }

  async function watchScope(req: { scope: WatchScope; watcherId: string }): Promise<void> {
    const activity = Context.current();
    const client = activity.client;
    const p = provider(req.scope.provider);
    const watcher = client.workflow.getHandle(req.watcherId);
    const trackers = new Map<string, PhaseTracker>();
    let version = -1;
    let syncedAt = 0;
    let emptySince: number | undefined;
    let lastProblem: string | undefined;
    liveWatchers.set(req.watcherId, trackers);
    try {
      await watchLoop();
    } finally {
      if (liveWatchers.get(req.watcherId) === trackers) liveWatchers.delete(req.watcherId);
    }

    async function watchLoop(): Promise<void> {
      for (;;) {
        const now = Date.now();
        if (version < 0 || now - syncedAt >= SYNC_EVERY_MS) {
          try {
            version = applyChanges(trackers, await watcher.query(watchChangesQuery, version));
            syncedAt = now;
          } catch (err) {
            // The set is read again next round; what is already tracked keeps being watched.
            report(`reading the watch set of ${req.watcherId}: ${(err as Error).message}`);
          }
        }
        if (trackers.size === 0) {
          emptySince ??= now;
          if (version >= 0 && now - emptySince >= EMPTY_RETURN_MS) return;
        } else emptySince = undefined;
        await withHeartbeats(() => watchOnce(p, client, req.watcherId, trackers));
        activity.heartbeat();
        // A round slowed by its signals (a busy server, a zone-wide preemption) is not followed
        // by a whole period more: news waits at most about one period either way.
        await activity.sleep(Math.max(MIN_PAUSE_MS, WATCH_POLL_MS - (Date.now() - now)));
      }
    }

    function report(problem: string): void {
      if (problem !== lastProblem) console.error(`petrel worker: ${problem}`);
      lastProblem = problem;
    }
  }

  /** One round: every unfinished phase of the scope in one batched call, then the signals. */
  async function watchOnce(p: Provider, client: Client, watcherId: string, trackers: Map<string, PhaseTracker>): Promise<void> {
    const live = [...trackers.values()].filter((t) => !t.finished);
    if (live.length === 0) return;
    const now = Date.now();
    // A scope that cannot be asked at all counts as every node unreachable: the grace decides.
    const reports: PhaseReport[] = await p
      // An entry is the request itself: the same object each round lets a provider keep what it worked out.
      .batchStatus(live.map((t) => t.entry))
      .catch(() => live.map((t) => unreachable(t.entry)));
    const changed: { tracker: PhaseTracker; events: readonly PhaseEvent[] }[] = [];
    for (let i = 0; i < live.length; i++) {
      const events = live[i]!.next(reports[i] ?? unreachable(live[i]!.entry), now);
      if (events.some((e) => e.kind === 'nodeLost') && live[i]!.lastUpAt !== undefined) reportDetection((now - live[i]!.lastUpAt!) / 1000);
      if (events.length > 0) changed.push({ tracker: live[i]!, events });
    }
    await inBatches(changed, SIGNAL_CONCURRENCY, async ({ tracker, events }) => {
      const { entry } = tracker;
      // What a vanished wrapper left behind in its process group goes too.
      const vanished = PhaseTracker.vanished(entry, events);
      await Promise.all(
        vanished.map((rank) => {
          const node = entry.handle.nodes.find((n) => n.rank === rank);
          return node ? p.runner(entry.handle, node).signal(entry.key, 'SIGKILL').catch(() => undefined) : undefined;
        }),
      );
      try {
        await client.workflow.getHandle(entry.workflowId).signal(phaseUpdateSignal, { key: entry.key, events });
      } catch (err) {
        const id = watchEntryId(entry);
        if (err instanceof WorkflowNotFoundError) {
          // The job's workflow is gone: nobody waits for this phase any more.
          trackers.delete(id);
          await client.workflow.getHandle(watcherId).signal(unwatchPhaseSignal, entry).catch(() => undefined);
        } else {
          // Not told: a fresh tracker tells everything again next round (repeats are ignored).
          trackers.set(id, new PhaseTracker(entry));
        }
      }
    });
  }

  return { startPhase, finishPhase, watchScope };
}

export type PhaseWatchActivities = ReturnType<typeof createPhaseWatchActivities>;

/** Polls fast at first so short phases end quickly; undefined when a phase still runs (or vanished). */
async function endedSoon(runners: CommandRunner[], key: string): Promise<(number | null)[] | undefined> {
  const started = Date.now();
  for (let delay = 20; ; delay = Math.min(delay * 2, 250)) {
    const states: DetachedJobState[] = await Promise.all(runners.map((r) => r.status(key).catch((): DetachedJobState => ({ state: 'unknown' }))));
    // Killed by a signal: the node may be going away (a spot interruption notice SIGTERMs its
    // jobs), which only a watcher's node checks can tell. That, or anything but running, goes to it.
    if (states.every((s) => s.state === 'exited' && s.exitCode < 128)) return states.map((s) => (s.state === 'exited' ? s.exitCode : null));
    if (states.some((s) => s.state !== 'running')) return undefined;
    if (Date.now() - started + delay > QUICK_END_MS) return undefined;
    await new Promise((r) => setTimeout(r, delay));
  }
}

function applyChanges(trackers: Map<string, PhaseTracker>, changes: WatchChanges): number {
  if ('full' in changes) {
    const keep = new Set(changes.full.map(watchEntryId));
    for (const id of trackers.keys()) if (!keep.has(id)) trackers.delete(id);
    for (const entry of changes.full) if (!trackers.has(watchEntryId(entry))) trackers.set(watchEntryId(entry), new PhaseTracker(entry));
  } else {
    for (const change of changes.changes) {
      if ('added' in change) {
        const id = watchEntryId(change.added);
        if (!trackers.has(id)) trackers.set(id, new PhaseTracker(change.added));
      } else trackers.delete(change.removed);
    }
  }
  return changes.version;
}

function callerWorkflowId(): string {
  const id = Context.current().info.workflowExecution?.workflowId;
  if (!id) throw new Error('job phases are started and finished by a workflow');
  return id;
}

function unreachable(entry: WatchEntry): PhaseReport {
  return { nodes: entry.ranks.map((rank) => ({ rank, state: 'gone', reason: 'unreachable' })), jobs: entry.ranks.map(() => ({ state: 'unknown' })) };
}

function shardOf(workflowId: string): number {
  let h = 0;
  for (const c of workflowId) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h % SHARDS;
}

async function inBatches<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}
