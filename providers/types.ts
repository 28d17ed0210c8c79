// The one contract every infrastructure implements (after SkyPilot's sky/provision API).
// Providers know nothing of Temporal: activities and tests call them directly (the CLI never does).

import type { ClusterHandle, NodeHandle, NodeStatus } from '../core/cluster-state.js';
import type { CapacityScope, FailureKind } from '../core/failures.js';
import type { Quantity } from '../core/task.js';
import type { CheckResult, GpuAvailability } from '../core/worker-ops.js';

export interface ProvisionRequest {
  clusterName: string;
  numNodes: number;
  region?: string;
  zone?: string;
  useSpot: boolean;
  accelerators?: Record<string, number>;
  /** per node, where the infra allocates them (Slurm, Kubernetes); clouds pick instance types by them */
  cpus?: Quantity;
  memoryGb?: Quantity;
  /** stable across retries of the same logical request, so nothing is created twice */
  idempotencyKey: string;
  /** for infra of fixed hosts: the hosts leased to this cluster (see leasableHosts) */
  hosts?: string[];
  /** who launched it (Petrel's user): a label where the infra has labels */
  user?: string;
  /** the task's image_id (`docker:<image>`, or per region), where the infra runs images */
  imageId?: string | Record<string, string>;
  /** the task's resources.labels, where the infra has labels */
  labels?: Record<string, string>;
  /** the instance type the optimizer chose from the catalog (clouds) */
  instanceType?: string;
  /** the task's `ports` ("8080" or "10022-10040"): clouds open them to the world */
  ports?: string[];
  /** the task's disk_size (GB), where the infra sizes disks */
  diskSizeGb?: number;
}

export type { CheckResult } from '../core/worker-ops.js';

export interface Provider {
  readonly name: string;
  check(): Promise<CheckResult>;
  /**
   * Regions this provider can place clusters in (for the optimizer); absent = one default.
   * `undefined` in the list = a placement whose region the provider picks (or explains, at provision, why it cannot).
   */
  regions?(): Promise<Array<string | undefined>>;
  /**
   * The zones of a region the optimizer may place a cluster in, in preference order (Slurm:
   * the partitions). Absent = none named: the provider picks.
   */
  zones?(region: string | undefined): Promise<Array<string | undefined>>;
  /**
   * For infra made of fixed hosts (SSH node pools): the hosts of a region that answer now, in
   * preference order. Clusters then lease hosts from a pool workflow, so no host is given to
   * two clusters at once, and provision() receives the leased ones in `hosts`.
   */
  leasableHosts?(region: string | undefined): Promise<{ pool: string; hosts: string[] }>;
  /** Create or resume the cluster's nodes. Idempotent by clusterName. */
  provision(req: ProvisionRequest): Promise<ClusterHandle>;
  query(handle: ClusterHandle): Promise<NodeStatus[]>;
  stop?(handle: ClusterHandle): Promise<void>;
  start?(handle: ClusterHandle): Promise<ClusterHandle>;
  /**
   * Idempotent: never fails because something is already gone. Must also work with a handle
   * whose `nodes` is empty (a provision whose result was never seen): find the cluster's
   * nodes by name (tags, labels, directories) and remove them all.
   */
  terminate(handle: ClusterHandle): Promise<void>;
  runner(handle: ClusterHandle, node: NodeHandle): CommandRunner;
  /**
   * Copies a local directory to `remoteDir` on each of `nodes`. Optional: without it every
   * node's runner uploads on its own. Providers whose nodes may share one filesystem (NFS
   * homes, see NodeHandle.filesystem) implement it to send the files once per filesystem.
   */
  uploadToNodes?(handle: ClusterHandle, nodes: NodeHandle[], localDir: string, remoteDir: string): Promise<void>;
  /**
   * Batched status: the nodes and detached jobs of many clusters of this provider at once, in
   * one round per scope (one readdir pass, one exec per SSH host, one DescribeInstances by tag,
   * one `squeue`, one pod LIST), so watching ten thousand jobs costs a few calls, not ten
   * thousand. Watchers call it for every job of one watch scope (a region; see
   * nodesLocalToWorker) every second or two, so it must be cheap when nothing changed.
   *
   * Never throws because one node or host does not answer: that node is reported
   * `gone`/`unreachable` and its jobs `unknown` (the watcher applies the unreachable grace).
   * Throws only when the scope itself cannot be asked; then every node counts as unreachable.
   */
  batchStatus(jobs: WatchedJob[]): Promise<WatchedJobReport[]>;
  /**
   * The accelerators this infra has, where it can tell (Kubernetes nodes, Slurm partitions):
   * for `petrel show-gpus`. Places that cannot be asked are left out with a problem.
   */
  gpus?(): Promise<{ gpus: GpuAvailability[]; problems: string[] }>;
  /**
   * Nodes only the worker that provisioned them can reach (local directories): their
   * watcher runs on that worker's own task queue rather than on any worker.
   */
  readonly nodesLocalToWorker?: boolean;
}

/** One phase of a job on a cluster, as a watcher asks about it. */
export interface WatchedJob {
  handle: ClusterHandle;
  /** the detached-job key */
  key: string;
  /** the nodes the phase runs on */
  ranks: number[];
}

export interface WatchedJobReport {
  /** the nodes of `ranks`, in that order, as query() would report them */
  nodes: NodeStatus[];
  /** the job on each node of `ranks`, in that order; `unknown` where the node could not be asked */
  jobs: DetachedJobState[];
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface DetachedJobSpec {
  /** unique per cluster, e.g. "3-run"; starting the same key twice attaches, never reruns */
  key: string;
  script: string;
  env: Record<string, string>;
  /** working directory relative to the node's home; created if missing */
  cwd?: string;
}

export type DetachedJobState =
  | { state: 'running' }
  | { state: 'exited'; exitCode: number }
  /** the process vanished without recording an exit code (node reclaimed, killed) */
  | { state: 'lost' }
  | { state: 'unknown' };

export interface LogChunk {
  data: string;
  nextOffset: number;
}

export interface CommandRunner {
  run(command: string, opts?: { env?: Record<string, string>; timeoutMs?: number }): Promise<RunResult>;
  /**
   * Runs `command` in the node's home and hands its stdout to `onData` as it arrives, never
   * collecting it: transfers too large to hold (checkpoints). A promise from `onData` holds the
   * stream until it settles (backpressure: nothing piles up in memory). Optional: without it,
   * Petrel says the infra cannot do what needs it.
   */
  stream?(command: string, onData: (chunk: Buffer) => void | Promise<void>, opts?: { timeoutMs?: number }): Promise<{ exitCode: number; stderr: string }>;
  /** Copy a local directory to `remoteDir` (relative to the node home) */
  upload(localDir: string, remoteDir: string): Promise<void>;
  /** Starts the job, or reports that it had already been started. */
  startDetached(spec: DetachedJobSpec): Promise<{ alreadyStarted: boolean }>;
  status(key: string): Promise<DetachedJobState>;
  readLog(key: string, offset: number, maxBytes?: number): Promise<LogChunk>;
  signal(key: string, signal: 'SIGTERM' | 'SIGKILL' | 'SIGINT'): Promise<void>;
}

/** A typed provider error; activities map `kind` onto ApplicationFailure types. */
export class ProviderError extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly scope?: CapacityScope,
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}
