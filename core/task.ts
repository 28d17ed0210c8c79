// The normalized task: what a SkyPilot-style YAML (plus CLI overrides) means once parsed.
// Everything downstream (optimizer, workflows, providers) reads this shape, never raw YAML,
// and it must stay plain JSON because it travels through Temporal payloads.

export type RecoveryStrategy = 'EAGER_NEXT_REGION' | 'FAILOVER';
export type DiskTier = 'low' | 'medium' | 'high' | 'ultra' | 'best';
export type NetworkTier = 'standard' | 'best';
export type AutostopWaitFor = 'jobs_and_ssh' | 'jobs' | 'none';

/** `4` is exactly 4; `4+` is at least 4. */
export interface Quantity {
  value: number;
  orMore: boolean;
}

export interface JobRecovery {
  strategy?: RecoveryStrategy;
  maxRestartsOnErrors: number;
  recoverOnExitCodes: number[];
}

export interface Autostop {
  idleMinutes: number;
  down: boolean;
  waitFor?: AutostopWaitFor;
  hook?: string;
  hookTimeoutSeconds?: number;
}

/** One concrete resource request; a task has one or more of these as candidates. */
export interface ResourceRequest {
  /** lower-case infra name: local, ssh, slurm, kubernetes, aws, gcp, … ('*' never appears) */
  cloud?: string;
  region?: string;
  zone?: string;
  /** accelerator name → count per node (fractions allowed, e.g. 0.5) */
  accelerators?: Record<string, number>;
  /** memory-based accelerator demand such as "80GB+" kept verbatim for the optimizer */
  acceleratorMemory?: string;
  cpus?: Quantity;
  memoryGb?: Quantity;
  instanceType?: string;
  useSpot: boolean;
  diskSizeGb?: number;
  diskTier?: DiskTier;
  networkTier?: NetworkTier;
  /** each entry is a port "8080" or an inclusive range "10022-10040" */
  ports: string[];
  imageId?: string | Record<string, string>;
  labels: Record<string, string>;
  jobRecovery?: JobRecovery;
  autostop?: Autostop;
  priority: number;
}

export interface GitWorkdir {
  url: string;
  ref?: string;
}

export type FileMount =
  | { kind: 'path'; source: string }
  | {
      kind: 'storage';
      name?: string;
      source?: string | string[];
      store?: string;
      persistent: boolean;
      mode: 'MOUNT' | 'COPY' | 'MOUNT_CACHED';
    };

export interface TaskSpec {
  name?: string;
  workdir?: string | GitWorkdir;
  numNodes: number;
  /**
   * Candidates in preference order. `ordered: true` means try strictly in this order
   * (SkyPilot `ordered:` or a list of accelerators); otherwise the optimizer may pick the
   * cheapest (`any_of:` or a set of accelerators). A plain `resources:` yields one candidate.
   */
  resources: { candidates: ResourceRequest[]; ordered: boolean };
  /** null values are placeholders that must be filled from --env before launch */
  envs: Record<string, string | null>;
  secrets: Record<string, string | null>;
  fileMounts: Record<string, FileMount>;
  setup?: string;
  run?: string;
  config: Record<string, unknown>;
  volumes: Record<string, unknown>;
  /** Petrel's extension: a directory snapshotted off the node and restored after a recovery */
  checkpoint?: CheckpointSpec;
}

export interface CheckpointSpec {
  /** relative to the node's own home */
  path: string;
  intervalSeconds: number;
  /** complete snapshots kept */
  keep: number;
  /** s3://, gs:// or file:/// — absent: the worker's own store */
  store?: string;
}

/** SkyPilot's JobGroup settings (a header with `execution: parallel`). */
export interface JobGroup {
  /** tasks whose end ends the group; absent = every task is primary */
  primaryTasks?: string[];
  /** seconds an auxiliary task keeps running after the primaries end (SkyPilot's default: 0) */
  terminationDelaySeconds: { default: number; perTask: Record<string, number> };
}

/** A YAML file may hold one task or a pipeline of several (multi-document YAML). */
export interface TaskFile {
  pipelineName?: string;
  /** as the header wrote it: serial is a chain (the default), parallel a job group */
  execution?: 'serial' | 'parallel';
  /** set exactly when execution is parallel */
  jobGroup?: JobGroup;
  tasks: TaskSpec[];
}

export function defaultResourceRequest(): ResourceRequest {
  return { useSpot: false, ports: [], labels: {}, priority: 0 };
}
