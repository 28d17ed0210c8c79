// Runs one phase (setup or run) of a job on a cluster's nodes, with every node's Petrel and
// SkyPilot environment. The phase's processes are started by one short activity; a phase that
// outlives it is watched by its scope's watcher (workflows/job-watcher.ts), whose signals this
// workflow waits for — no activity is held while a job runs. Gang semantics (the first node
// to fail stops the others) are decided here, durably.
import { ApplicationFailure, CancellationScope, condition, isCancellation, patched, setHandler } from '@temporalio/workflow';
import type { RunOnNodesRequest, RunOnNodesResult } from '../activities/cluster-activities.js';
import type { FinishPhaseRequest } from '../activities/phase-watch-activities.js';
import type { ClusterHandle, WorkerRef } from '../core/cluster-state.js';
import { FAILURE_TYPES } from '../core/failures.js';
import { Gang } from '../core/gang.js';
import { jobEnvForNode } from '../core/job-env.js';
import type { PhaseEvent } from '../core/phase-watch.js';
import { activities, LONG, SHORT, TEARDOWN } from './activity-options.js';
import { phaseUpdateSignal } from './job-watcher-messages.js';
import { nowIso } from './workflow-time.js';

export interface PhaseRequest {
  handle: ClusterHandle;
  /** detached-job key, unique on the cluster */
  key: string;
  phase: 'setup' | 'run';
  script: string;
  taskId: string;
  numNodes: number;
  envs: Record<string, string>;
  /** per rank, on top of `envs` (a job group's hosts file differs per node) */
  envByRank?: Array<Record<string, string>>;
  sealedSecrets: Record<string, string>;
  gpusPerNode: number;
  withWorkdir: boolean;
  unreachableGraceSeconds?: number;
  summary: string;
}

/** Which worker archived each phase's log (where the CLI's reads of an ended phase go). */
export type LogWorkers = { setup?: WorkerRef; run?: WorkerRef };

/** Notes the worker that archived a phase's log; results recorded before workers had queues name none. */
export function recordLogWorker(target: { logWorkers?: LogWorkers }, phase: 'setup' | 'run', worker: WorkerRef | undefined): void {
  if (worker) target.logWorkers = { ...target.logWorkers, [phase]: worker };
}

/**
 * Where a workflow receives its watcher's messages. Created once at the start of a workflow:
 * messages are kept only for the phase the workflow waits for (a late one about an earlier
 * phase is dropped).
 */
export class PhaseInbox {
  private expected: string | undefined;
  private events: PhaseEvent[] = [];

  constructor() {
    setHandler(phaseUpdateSignal, (update) => {
      if (update.key === this.expected) this.events.push(...update.events);
    });
  }

  expect(key: string): void {
    this.expected = key;
    this.events = [];
  }

  get hasEvents(): boolean {
    return this.events.length > 0;
  }

  take(): PhaseEvent[] {
    return this.events.splice(0);
  }
}

export function runPhase(req: PhaseRequest, inbox: PhaseInbox): Promise<RunOnNodesResult> {
  const nodes = req.handle.nodes.slice(0, req.numNodes);
  const base = {
    taskId: req.taskId,
    clusterName: req.handle.clusterName,
    cloud: req.handle.provider,
    region: req.handle.region,
    zone: req.handle.zone,
    nodeIps: nodes.map((n) => n.ip),
    gpusPerNode: req.gpusPerNode,
    phase: req.phase,
  };
  const request: RunOnNodesRequest = {
    handle: req.handle,
    key: req.key,
    script: req.script,
    envByRank: nodes.map((_, i) => ({ ...req.envs, ...req.envByRank?.[i], ...jobEnvForNode(base, i) })),
    sealedSecrets: req.sealedSecrets,
    cwd: req.withWorkdir ? 'sky_workdir' : undefined,
    ranks: nodes.map((n) => n.rank),
    unreachableGraceSeconds: req.unreachableGraceSeconds,
  };
  // Histories from before watchers hold one long activity per phase; they replay as they ran.
  if (!patched('batched-watch')) return activities(LONG, req.summary).runOnNodes(request);
  return watchedPhase(request, req.summary, inbox);
}

async function watchedPhase(req: RunOnNodesRequest, summary: string, inbox: PhaseInbox): Promise<RunOnNodesResult> {
  // Before the start: the watcher may speak before the start's result arrives.
  inbox.expect(req.key);
  const started = await activities(SHORT, summary).startPhase(req);
  if (started.result) return started.result;
  const { watcherId, queue } = started;
  const finish = (options: typeof SHORT, kill?: FinishPhaseRequest['kill']) =>
    activities(options, `finish ${summary}`, queue).finishPhase({ handle: req.handle, key: req.key, ranks: req.ranks, watcherId, kill });
  const gang = new Gang(req.ranks.length);
  try {
    while (!gang.allDone) {
      await condition(() => inbox.hasEvents);
      for (const event of inbox.take()) {
        if (event.kind === 'ended') {
          gang.ended(event.index, event.exitCode);
          continue;
        }
        // Workflow time of the task that took the news: when the attempt ended, before the cleanup below.
        const lostAt = nowIso();
        const { archivedBy } = await finish(TEARDOWN, 'SIGKILL');
        throw ApplicationFailure.create({ type: FAILURE_TYPES.preempted, message: event.message, nonRetryable: true, details: [event.nodes, archivedBy, lostAt] });
      }
      const stop = gang.takeNodesToStop().map((i) => req.ranks[i]!);
      if (stop.length > 0) {
        const handle = { ...req.handle, nodes: req.handle.nodes.filter((n) => stop.includes(n.rank)) };
        await activities(SHORT, `stop node ${stop.join(', ')}: another node failed`, queue).signalJob({ handle, key: req.key, signal: 'SIGTERM' });
      }
    }
  } catch (err) {
    if (isCancellation(err)) await CancellationScope.nonCancellable(() => finish(TEARDOWN, 'SIGTERM'));
    throw err;
  }
  const { archivedBy } = await finish(SHORT);
  return { exitCodes: gang.exitCodes, exitCode: gang.exitCode, archivedBy };
}
