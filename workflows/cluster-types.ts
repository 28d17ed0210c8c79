// Messages and views of the cluster workflow, shared by the workflow, the worker and the CLI.
import type { StorageMountRequest } from '../core/storage-mounts.js';
import type { BilledSpan } from '../core/cost.js';
import type { Quantity } from '../core/task.js';
import type { ClusterHandle, ClusterJobStatus, ClusterStatus, WorkerRef } from '../core/cluster-state.js';

export interface ClusterWorkflowInput {
  clusterName: string;
  provider: string;
  region?: string;
  zone?: string;
  numNodes: number;
  useSpot: boolean;
  accelerators?: Record<string, number>;
  cpus?: Quantity;
  memoryGb?: Quantity;
  /** one-line description for listings: "local, 2x node, A100:1" */
  resourcesSummary: string;
  autostop?: { idleMinutes: number; down: boolean };
  user: string;
  /** the task's image_id, for infra that runs images (Kubernetes) */
  imageId?: string | Record<string, string>;
  /** the task's resources.labels, for infra with labels */
  labels?: Record<string, string>;
  /** the task's instance_type, ports and disk_size (clouds) */
  instanceType?: string;
  ports?: string[];
  diskSizeGb?: number;
}

/** What a job runs and brings along: the same for a cluster's job and a managed job. */
export interface JobPayload {
  name?: string;
  setup?: string;
  run?: string;
  envs: Record<string, string>;
  /** values sealed with the Petrel secret key; opened only inside activities */
  sealedSecrets: Record<string, string>;
  /** a directory on the worker's machine, synced to every node before the job */
  workdir?: string;
  /** destination on the node → local source (file or directory) on the worker's machine */
  fileMounts?: Record<string, string>;
  /** file_mounts backed by buckets (S3, GCS) */
  storageMounts?: StorageMountRequest[];
  gpusPerNode: number;
}

export interface JobRequest extends JobPayload {
  numNodes?: number;
}

export interface JobView {
  id: number;
  name?: string;
  status: ClusterJobStatus;
  taskId: string;
  numNodes: number;
  submittedAt: string;
  startedAt?: string;
  endedAt?: string;
  /** per node rank; null for nodes whose process vanished without an exit code */
  exitCodes?: (number | null)[];
  /** the job's exit code: that of the first node to fail, null if it vanished */
  exitCode?: number | null;
  /** detached-job keys of each phase on the nodes */
  logKeys: { setup?: string; run?: string };
  /** the worker that archived each ended phase's log (absent in views recorded before) */
  logWorkers?: { setup?: WorkerRef; run?: WorkerRef };
  /** true while the workdir is being synced to the nodes (before setup/run) */
  syncing?: boolean;
  /** what went wrong, for humans */
  message?: string;
}

export interface ClusterView {
  name: string;
  status: ClusterStatus;
  provider: string;
  region?: string;
  resourcesSummary: string;
  handle?: ClusterHandle;
  launchedAt: string;
  autostop?: { idleMinutes: number; down: boolean };
  jobs: JobView[];
  lastError?: string;
  /** when its machines were billed (clouds; absent elsewhere and in views recorded before) */
  billing?: BilledSpan[];
}

/** State carried across continue-as-new. */
export interface ClusterCarriedState {
  view: ClusterView;
  nextJobId: number;
  pending: Array<{ id: number; request: JobRequest }>;
}
