// Messages and views of the pipeline workflow (a multi-document task YAML run as one managed
// job, `job/<id>`): its steps are child managedJob workflows `job/<id>/<index>`. Shared by the
// workflows, the worker and the CLI.
import type { ManagedJobStatus } from '../core/managed-job-state.js';
import type { ManagedJobInput } from './managed-job-types.js';

/** One step's managed-job input, without what the pipeline decides (id, user, step context). */
export type StepInput = Omit<ManagedJobInput, 'jobId' | 'user' | 'step'>;

export interface JobGroupSettings {
  /** tasks whose end ends the group; absent = every task */
  primaryTasks?: string[];
  /** seconds an auxiliary task keeps running after the last primary ended */
  terminationDelaySeconds: { default: number; perTask: Record<string, number> };
}

export interface PipelineInput {
  jobId: number;
  user: string;
  /** the header's name (SkyPilot's DAG name) */
  name?: string;
  /** serial: a chain, each step after the previous SUCCEEDED; parallel: a job group */
  execution: 'serial' | 'parallel';
  steps: StepInput[];
  group?: JobGroupSettings;
  /** `jobs resume`: what the run being resumed left behind */
  resume?: PipelineResume;
  /** one-line resources description for listings */
  resourcesSummary: string;
}

export interface PipelineResume {
  /** 1 for the first resume, 2 for the next, … */
  generation: number;
  /** the submission time of the first run: task ids stay what they were */
  submittedAtMs: number;
  /** the steps as the resumed run ended */
  steps: StepView[];
}

/** A step's status: a managed job's, or SKIPPED for a step that never ran because an earlier one did not succeed. */
export type StepStatus = ManagedJobStatus | 'SKIPPED';

export interface StepView {
  index: number;
  name: string;
  /** the step's managedJob workflow (absent until it started) */
  workflowId?: string;
  status: StepStatus;
  resourcesSummary: string;
  cloud?: string;
  region?: string;
  recoveries: number;
  startedAt?: string;
  endedAt?: string;
  message?: string;
  /** the run (0 = first, n = n-th resume) whose execution this step's result is from */
  generation?: number;
  /** job groups: primary (ends the group) or auxiliary (cancelled after the primaries end) */
  role?: 'primary' | 'auxiliary';
}

export interface PipelineView {
  jobId: number;
  name?: string;
  user: string;
  kind: 'pipeline' | 'jobgroup';
  status: ManagedJobStatus;
  submittedAt: string;
  endedAt?: string;
  generation: number;
  steps: StepView[];
  /** a job group's hostnames (`<task>-<rank>.<group>`) and where they point now */
  hosts?: GroupHosts;
  message?: string;
}

/** What a step tells its pipeline on every status change (child → parent signal). */
export interface StepProgress {
  index: number;
  /** increases with every message of one step run, so a late one never overwrites a newer one */
  seq: number;
  status: ManagedJobStatus;
  cloud?: string;
  region?: string;
  recoveries: number;
  /** the attempt whose nodes are up now, and their addresses in rank order */
  live?: { attempt: number; nodeIps: string[] };
  message?: string;
}

/** A job group's name table, sent to every member whenever a member's nodes change. */
export interface GroupHosts {
  version: number;
  group: string;
  members: Array<{ index: number; task: string; attempt: number; nodeIps: string[] }>;
}

/** What a step needs to know about the pipeline it belongs to. */
export interface StepContext {
  index: number;
  count: number;
  /** the pipeline's name, part of each step's task id */
  pipelineName?: string;
  /** the step's own name (task name, or `<pipeline>-<index>`) */
  taskName: string;
  /** when the pipeline was first submitted: task ids are formed from it */
  submittedAtMs: number;
  /** cluster-name prefix unique to this step and run, e.g. `job-3-t1` or `job-3-t1r1` */
  clusterPrefix: string;
  /** every step's task id, in order (SKYPILOT_TASK_IDS) */
  taskIds: string[];
  /** a job group's name, when the step is a member of one */
  group?: string;
}
