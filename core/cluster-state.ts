// States of a cluster and of the jobs on its queue (SkyPilot's ClusterStatus / JobStatus).

export type ClusterStatus = 'INIT' | 'UP' | 'STOPPED' | 'TERMINATING' | 'TERMINATED';

export type ClusterJobStatus =
  | 'PENDING'
  | 'SETTING_UP'
  | 'RUNNING'
  | 'SUCCEEDED'
  | 'FAILED'
  | 'FAILED_SETUP'
  | 'FAILED_DRIVER'
  | 'CANCELLED';

export const TERMINAL_JOB_STATUSES: readonly ClusterJobStatus[] = [
  'SUCCEEDED',
  'FAILED',
  'FAILED_SETUP',
  'FAILED_DRIVER',
  'CANCELLED',
];

export function isTerminalJobStatus(s: ClusterJobStatus): boolean {
  return TERMINAL_JOB_STATUSES.includes(s);
}

/** Where a cluster's nodes live: enough for any process to reach them again. */
export interface ClusterHandle {
  provider: string;
  clusterName: string;
  region?: string;
  zone?: string;
  /** what the infrastructure calls this cluster, for listings (e.g. "Slurm job 12") */
  label?: string;
  nodes: NodeHandle[];
  /** what one node costs, from the catalog (clouds; set by the provision activity, never by a provider) */
  price?: { instanceType: string; spot: boolean; hourly: number };
  /**
   * The worker that provisioned the cluster, set by the provisionCluster activity (never by a
   * provider): nodes only it can reach (local directories) are read and acted on through its own
   * task queue. Absent in handles recorded before workers had queues of their own.
   */
  worker?: WorkerRef;
}

/** One worker process's own task queue, and where it runs (for messages). */
export interface WorkerRef {
  /** `petrel-worker/<id>`: served only by workers with this PETREL_HOME (its files) */
  queue: string;
  host: string;
  home: string;
}

export interface NodeHandle {
  rank: number;
  id: string;
  ip: string;
  /** provider-specific data (e.g. a local directory, an instance id); plain JSON */
  data: Record<string, string>;
  /**
   * Identity of the filesystem that holds the node's home, where the provider can tell: nodes
   * with the same value share one home (an NFS /home, or one machine reached under two
   * addresses), so a file written through one of them is there for all of them.
   */
  filesystem?: string;
}

export type NodeState = 'up' | 'stopped' | 'gone';
export type GoneReason = 'preempted' | 'terminated' | 'unreachable';

export interface NodeStatus {
  rank: number;
  state: NodeState;
  reason?: GoneReason;
  /** what the infrastructure says happened, for the user (e.g. "Slurm job 12: a node of the allocation failed") */
  detail?: string;
}
