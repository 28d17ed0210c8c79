// From a validated task to a started managedJob workflow: shared by `petrel jobs launch`
// and the benchmarks, so both submit exactly the same way.
import type { Client } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { TASK_QUEUE } from '../core/names.js';
import type { RecoveryStrategy, TaskSpec } from '../core/task.js';
import type { ManagedJobInput } from '../workflows/managed-job-types.js';
import { pricedClouds } from '../core/catalog/index.js';
import { parseUsd } from '../core/cost.js';
import { describeInfeasible } from '../core/infeasible.js';
import { currentUser, describeResources, jobRequest, managedCandidates } from './cluster-requests.js';
import { UserError } from './errors.js';
import { JobIdAllocator } from './job-ids.js';
import { readJobsConfig } from './petrel-config.js';
import { managedJobWorkflowId } from './managed-job-client.js';
import { PIPELINE_WORKFLOW } from './pipeline-client.js';
import type { LoadedPipeline } from './task-input.js';
import { stepName } from '../workflows/pipeline-naming.js';
import type { PipelineInput } from '../workflows/pipeline-types.js';
import { previewPlan } from './plan-preview.js';
import { managedJobStartMetadata } from '../workflows/job-details.js';

const STRATEGIES: RecoveryStrategy[] = ['EAGER_NEXT_REGION', 'FAILOVER'];

function recoveryFor(task: TaskSpec, flag: string | undefined): ManagedJobInput['recovery'] {
  const fromYaml = task.resources.candidates[0]?.jobRecovery;
  let strategy = fromYaml?.strategy ?? 'EAGER_NEXT_REGION';
  if (flag !== undefined) {
    const upper = flag.toUpperCase() as RecoveryStrategy;
    if (!STRATEGIES.includes(upper)) throw new UserError(`--job-recovery: '${flag}' is not a strategy; use ${STRATEGIES.join(' or ')}`);
    strategy = upper;
  }
  return { strategy, maxRestartsOnErrors: fromYaml?.maxRestartsOnErrors ?? 0, recoverOnExitCodes: fromYaml?.recoverOnExitCodes ?? [] };
}

/** Everything but the job id; UserErrors for what Petrel cannot run. */
export function managedJobInput(
  home: string,
  task: TaskSpec,
  where: string,
  opts: { jobRecovery?: string; retryUntilUp?: boolean; maxCost?: string },
): Omit<ManagedJobInput, 'jobId'> {
  const candidates = managedCandidates(task, where);
  refuseInfeasible(task, where);
  const { numNodes: _, ...payload } = jobRequest(home, task, candidates[0]!, true);
  const jobsConfig = readJobsConfig(home);
  let maxCostUsd = jobsConfig.max_cost;
  if (opts.maxCost !== undefined) {
    maxCostUsd = parseUsd(opts.maxCost);
    if (maxCostUsd === undefined) throw new UserError(`--max-cost: '${opts.maxCost}' is not an amount of USD above 0 (e.g. 25 or 12.50)`);
  }
  return {
    ...payload,
    user: currentUser(),
    candidates,
    ordered: task.resources.ordered,
    numNodes: task.numNodes,
    recovery: recoveryFor(task, opts.jobRecovery),
    retryUntilUp: !!opts.retryUntilUp,
    unreachableGraceSeconds: jobsConfig.unreachable_grace_seconds,
    ...(maxCostUsd !== undefined ? { maxCostUsd } : {}),
    ...(task.checkpoint ? { checkpoint: task.checkpoint } : {}),
    resourcesSummary: describeResources(candidates[0]!, task.numNodes) + (candidates.length > 1 ? ` (+${candidates.length - 1} more)` : ''),
  };
}

/**
 * A task whose every candidate names a cloud the catalog cannot serve (A100:16 on AWS, a typo in
 * an instance type) is bad input: refused here with what would fit, and nothing is submitted.
 * Anything that may fit on infra only a worker can see (Kubernetes, Slurm, unpinned) goes on.
 */
function refuseInfeasible(task: TaskSpec, where: string): void {
  const priced = pricedClouds();
  if (!task.resources.candidates.every((c) => c.cloud !== undefined && priced.includes(c.cloud))) return;
  const plan = previewPlan(task, where);
  if (plan.entries.length === 0) throw new UserError(`${where}: resources: ${describeInfeasible(plan, task.resources.candidates)}`);
}

const keyword = (name: string) => defineSearchAttributeKey(name, SearchAttributeType.KEYWORD);

/** A job (or pipeline) is visible and filterable before any worker has picked it up. */
function pendingJobAttributes(id: number, base: { user: string; name?: string }) {
  return [
    { key: keyword('PetrelKind'), value: 'job' },
    { key: keyword('PetrelJobId'), value: String(id) },
    { key: keyword('PetrelStatus'), value: 'PENDING' },
    { key: keyword('PetrelUser'), value: base.user },
    ...(base.name ? [{ key: keyword('PetrelJobName'), value: base.name }] : []),
  ];
}

const allocators = new WeakMap<Client, JobIdAllocator>();

function allocatorOf(client: Client): JobIdAllocator {
  let allocator = allocators.get(client);
  if (!allocator) allocators.set(client, (allocator = new JobIdAllocator(client)));
  return allocator;
}

/** Starts the job's workflow under the next free id; no worker is needed for this. */
export function submitManagedJob(client: Client, base: Omit<ManagedJobInput, 'jobId'>): Promise<number> {
  return allocatorOf(client).start((id) => ({
    taskQueue: TASK_QUEUE,
    args: [{ ...base, jobId: id }],
    memo: { resources: base.resourcesSummary },
    // What the Temporal UI lists it as (user metadata; never envs, secrets or the script).
    ...managedJobStartMetadata(base, id),
    typedSearchAttributes: pendingJobAttributes(id, base),
  }));
}

/** A pipeline's (or job group's) input: every task as a step, checked before anything is submitted. */
export function pipelineInput(home: string, pipeline: LoadedPipeline, opts: { jobRecovery?: string; retryUntilUp?: boolean; maxCost?: string }): Omit<PipelineInput, 'jobId'> {
  const steps = pipeline.tasks.map((task, i) => {
    const name = stepName(pipeline, task.name, i);
    try {
      return { ...managedJobInput(home, task, pipeline.file, opts), name };
    } catch (err) {
      if (err instanceof UserError) throw new UserError(`task ${i} (${name}): ${err.message}`, err.exitCode);
      throw err;
    }
  });
  const kind = pipeline.execution === 'parallel' ? 'job group' : 'pipeline';
  return {
    user: currentUser(),
    ...(pipeline.name !== undefined ? { name: pipeline.name } : {}),
    execution: pipeline.execution,
    steps: steps.map(({ user: _, ...step }) => step),
    ...(pipeline.jobGroup ? { group: pipeline.jobGroup } : {}),
    resourcesSummary: `${kind} of ${steps.length}: ${steps.map((s) => s.name).join(pipeline.execution === 'parallel' ? ' + ' : ' → ')}`,
  };
}

/** The search attributes a pipeline is listed with before any worker has picked it up. */
function pipelineStartOptions(base: Omit<PipelineInput, 'jobId'>, id: number) {
  return {
    taskQueue: TASK_QUEUE,
    args: [{ ...base, jobId: id }],
    memo: { resources: base.resourcesSummary, execution: base.execution },
    staticSummary: `${base.execution === 'parallel' ? 'job group' : 'pipeline'} ${base.name ?? id}: ${base.resourcesSummary.replace(/^[a-z ]+ of \d+: /, '')}`,
    typedSearchAttributes: pendingJobAttributes(id, base),
  };
}

export function submitPipeline(client: Client, base: Omit<PipelineInput, 'jobId'>): Promise<number> {
  return allocatorOf(client).start((id) => pipelineStartOptions(base, id), PIPELINE_WORKFLOW);
}

/** `jobs resume`: a new run of the pipeline's workflow, under its id, that skips the steps that succeeded. */
export async function resubmitPipeline(client: Client, input: PipelineInput): Promise<void> {
  await client.workflow.start(PIPELINE_WORKFLOW, {
    ...pipelineStartOptions(input, input.jobId),
    args: [input],
    workflowId: managedJobWorkflowId(input.jobId),
    // Only a closed run can be resumed; a second resume of a running one is refused by the server.
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
  });
}

/**
 * How many starts one batch keeps in flight. Measured with 1,000 jobs against the embedded
 * server with its worker busy starting them (2 cores): 16-64 in flight gave 33-86 jobs/s, 128
 * gave 90-154, 256 no more than 128 (96-115). The server does less work per start when it has
 * more of them at once, up to a point; past it more only queue and delay the first error.
 */
export const BATCH_IN_FLIGHT = 128;

export interface BatchResult {
  /** the job id of each index; undefined where nothing was submitted */
  ids: Array<number | undefined>;
  /** why the batch stopped early (what was already submitted stays submitted) */
  error?: unknown;
}

/**
 * Submits `total` jobs, input `inputFor(index)` each, at most `inFlight` at a time. Ids come
 * from one allocator, so they are handed out in index order. The first failure (or `signal`)
 * stops new starts; the ones in flight finish, and the result says which indexes got an id.
 */
export async function submitManagedJobs(
  client: Client,
  total: number,
  inputFor: (index: number) => Omit<ManagedJobInput, 'jobId'>,
  opts: { inFlight?: number; onSubmitted?: (done: number) => void; signal?: AbortSignal } = {},
): Promise<BatchResult> {
  const ids: Array<number | undefined> = new Array<number | undefined>(total).fill(undefined);
  let next = 0;
  let done = 0;
  let error: unknown;
  const lane = async () => {
    while (error === undefined && !opts.signal?.aborted && next < total) {
      const index = next++;
      try {
        ids[index] = await submitManagedJob(client, inputFor(index));
      } catch (err) {
        error ??= err;
        return;
      }
      opts.onSubmitted?.(++done);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.inFlight ?? BATCH_IN_FLIGHT, total)) }, lane));
  return { ids, error };
}
