// Runs one phase (setup or run) of a job on a cluster's nodes, with every node's Petrel and
// SkyPilot environment, through the heartbeating runOnNodes activity.
import type { RunOnNodesResult } from '../activities/cluster-activities.js';
import type { ClusterHandle, WorkerRef } from '../core/cluster-state.js';
import { jobEnvForNode } from '../core/job-env.js';
import { activities, LONG } from './activity-options.js';

export interface PhaseRequest {
  handle: ClusterHandle;
  /** detached-job key, unique on the cluster */
  key: string;
  phase: 'setup' | 'run';
  script: string;
  taskId: string;
  numNodes: number;
  envs: Record<string, string>;
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

export function runPhase(req: PhaseRequest): Promise<RunOnNodesResult> {
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
  return activities(LONG, req.summary).runOnNodes({
    handle: req.handle,
    key: req.key,
    script: req.script,
    envByRank: nodes.map((_, i) => ({ ...req.envs, ...jobEnvForNode(base, i) })),
    sealedSecrets: req.sealedSecrets,
    cwd: req.withWorkdir ? 'sky_workdir' : undefined,
    ranks: nodes.map((n) => n.rank),
    unreachableGraceSeconds: req.unreachableGraceSeconds,
  });
}
