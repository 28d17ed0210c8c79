// Messages and views of the managedJob workflow, shared by the workflow, worker and CLI.
import type { ClusterHandle, WorkerRef } from '../core/cluster-state.js';
import type { BlockedScope, PlacementCandidate } from '../core/failover.js';
import type { AttemptOutcome, ManagedJobStatus } from '../core/managed-job-state.js';
import type { CheckpointSpec, RecoveryStrategy, ResourceRequest } from '../core/task.js';
import type { GroupHostsOnNode } from '../activities/group-hosts.js';
import type { JobPayload } from './cluster-types.js';
import type { StepContext } from './pipeline-types.js';

export interface ManagedJobInput extends JobPayload {
  jobId: number;
  user: string;
  /** the task's resource candidates; one without `cloud` may run on any infra that fits */
  candidates: ResourceRequest[];
  /** try the candidates in their order (SkyPilot `ordered:`), rather than cheapest first (`any_of:`); absent = in order */
  ordered?: boolean;
  numNodes: number;
  recovery: { strategy: RecoveryStrategy; maxRestartsOnErrors: number; recoverOnExitCodes: number[] };
  retryUntilUp: boolean;
  /** how long a node may stay silent before it counts as lost */
  unreachableGraceSeconds: number;
  /** one-line resources description for listings */
  resourcesSummary: string;
  /** --max-cost: the job ends (FAILED_BUDGET) before its machines' spend would pass this many USD */
  maxCostUsd?: number;
  /** set when this job is one step of a pipeline or a member of a job group */
  step?: StepContext;
  /** the task's `checkpoint:` (snapshotted off the node, restored after a recovery) */
  checkpoint?: CheckpointSpec;
}

export interface AttemptView {
  attempt: number;
  cloud: string;
  region?: string;
  zone?: string;
  clusterName: string;
  nodeIds: string[];
  startedAt: string;
  /** when its run began (setup done); absent until then and in views recorded before */
  runningAt?: string;
  endedAt?: string;
  outcome: AttemptOutcome;
  reason?: string;
  /** what the optimizer planned there (clouds); absent in views recorded before */
  instanceType?: string;
  useSpot?: boolean;
  /** USD per node-hour (0 on infra Petrel does not bill for) */
  hourlyPrice?: number;
  numNodes?: number;
  exitCode?: number | null;
  /** detached-job keys of the setup and run phases on this attempt's cluster */
  setupKey?: string;
  runKey?: string;
  /** the worker that archived each ended phase's log (absent in views recorded before) */
  logWorkers?: { setup?: WorkerRef; run?: WorkerRef };
  handle?: ClusterHandle;
  /** job groups: where the group's hosts file is on each node of this attempt */
  groupHosts?: GroupHostsOnNode[];
  /** checkpoints: the directory on each node (rank order), and the snapshot restored onto them */
  checkpointPaths?: string[];
  restoredFrom?: CheckpointSnapshot;
}

/** One complete checkpoint snapshot, as the job's view lists it. */
export interface CheckpointSnapshot {
  seq: number;
  /** the attempt whose node it was taken from */
  attempt: number;
  takenAt: string;
  bytes: number;
  files: number;
  /** what the job wrote into its marker */
  marker: string;
  /** bytes actually copied off the node for it (the rest was unchanged) */
  copiedBytes?: number;
  /** why it was taken: every interval, or when the attempt ended */
  reason?: 'interval' | 'final';
}

export interface CheckpointView {
  /** where snapshots are kept (a store URL; file:// is on the worker named below) */
  store?: string;
  worker?: WorkerRef;
  intervalSeconds: number;
  keep: number;
  /** the complete snapshots kept, oldest first */
  snapshots: CheckpointSnapshot[];
  /** the last attempt at one that did not produce a snapshot, and why */
  lastSkipped?: { at: string; why: string };
}

export interface ManagedJobView {
  jobId: number;
  name?: string;
  user: string;
  status: ManagedJobStatus;
  /** stable across recoveries, like SkyPilot's */
  taskId: string;
  submittedAt: string;
  startedAt?: string;
  endedAt?: string;
  recoveries: number;
  restartsOnErrors: number;
  resourcesSummary: string;
  attempts: AttemptView[];
  blocked: BlockedScope[];
  placements: PlacementCandidate[];
  message?: string;
  /** USD spent by the attempts that have ended (running ones: see core/cost.ts) */
  spentUsd?: number;
  checkpoint?: CheckpointView;
  /** bucket mounts (file_mounts backed by S3/GCS) */
  storage?: StorageView;
}

export interface StorageView {
  mounts: Array<{ dest: string; url: string; mode: string; created: boolean; files: number; bytes: number }>;
  /** buckets Petrel created with persistent: false, deleted when the job ends */
  toDelete: string[];
  deleted?: string[];
  /** the last sync of MOUNT_CACHED changes back to their buckets */
  lastFlush?: { at: string; files: number; bytes: number; error?: string };
}
