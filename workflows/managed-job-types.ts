// Messages and views of the managedJob workflow, shared by the workflow, worker and CLI.
import type { ClusterHandle, WorkerRef } from '../core/cluster-state.js';
import type { BlockedScope, PlacementCandidate } from '../core/failover.js';
import type { AttemptOutcome, ManagedJobStatus } from '../core/managed-job-state.js';
import type { RecoveryStrategy, ResourceRequest } from '../core/task.js';
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
}
