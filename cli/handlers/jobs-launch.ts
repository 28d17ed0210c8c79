// Handler of `petrel jobs launch`: allocate a job id, start its managedJob workflow, and
// follow it (unless -d) across recoveries; exits with the job's exit code.
import type { RecoveryStrategy, TaskSpec } from '../../core/task.js';
import { TASK_QUEUE } from '../../core/names.js';
import { providerNames } from '../../providers/registry.js';
import type { ManagedJobInput } from '../../workflows/managed-job-types.js';
import { currentUser, describeResources, jobRequest } from '../cluster-requests.js';
import type { CliContext } from '../context.js';
import { UserError } from '../errors.js';
import { startWithNextJobId } from '../job-ids.js';
import { followManagedJob, managedJobExitCode } from '../managed-job-client.js';
import { readJobsConfig } from '../petrel-config.js';
import { confirm } from '../prompt.js';
import type { TaskFlags } from '../task-flags.js';
import { loadTask } from '../task-input.js';

interface JobsLaunchFlags extends TaskFlags {
  detachRun?: boolean;
  jobRecovery?: string;
  retryUntilUp?: boolean;
  yes?: boolean;
}

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

export async function jobsLaunch(ctx: CliContext, entrypoint: string | undefined, flags: JobsLaunchFlags): Promise<number> {
  const { task, file } = loadTask(entrypoint, flags, 'jobs launch');
  const where = file ?? 'command line';
  const supported = providerNames();
  const candidates = task.resources.candidates
    .map((c) => ({ ...c, cloud: c.cloud ?? 'local' }))
    .filter((c) => supported.includes(c.cloud));
  if (candidates.length === 0) {
    const asked = [...new Set(task.resources.candidates.map((c) => c.cloud ?? 'local'))].join(', ');
    throw new UserError(`${where}: resources: infra '${asked}' is not available in Petrel yet; available: ${supported.join(', ')}`);
  }
  const recovery = recoveryFor(task, flags.jobRecovery);
  const request = jobRequest(ctx.home, task, candidates[0]!, true);
  const resourcesSummary = describeResources(candidates[0]!, task.numNodes) + (candidates.length > 1 ? ` (+${candidates.length - 1} more)` : '');
  const base: Omit<ManagedJobInput, 'jobId'> = {
    name: task.name,
    user: currentUser(),
    candidates,
    numNodes: task.numNodes,
    setup: request.setup,
    run: request.run,
    envs: request.envs,
    sealedSecrets: request.sealedSecrets,
    workdir: request.workdir,
    gpusPerNode: request.gpusPerNode,
    recovery,
    retryUntilUp: !!flags.retryUntilUp,
    unreachableGraceSeconds: readJobsConfig(ctx.home).unreachable_grace_seconds,
    resourcesSummary,
  };
  ctx.note(`Managed job${task.name ? ` '${task.name}'` : ''}: ${resourcesSummary}, recovery ${recovery.strategy}`);
  if (!(await confirm('Submit?', !!flags.yes))) return 1;

  const client = await ctx.client();
  const { SearchAttributeType, defineSearchAttributeKey } = await import('@temporalio/common');
  const keyword = (name: string) => defineSearchAttributeKey(name, SearchAttributeType.KEYWORD);
  const jobId = await startWithNextJobId(client, (id) => ({
    taskQueue: TASK_QUEUE,
    args: [{ ...base, jobId: id }],
    memo: { resources: resourcesSummary },
    // Visible and filterable before any worker has picked the job up.
    typedSearchAttributes: [
      { key: keyword('PetrelKind'), value: 'job' },
      { key: keyword('PetrelJobId'), value: String(id) },
      { key: keyword('PetrelStatus'), value: 'PENDING' },
      { key: keyword('PetrelUser'), value: base.user },
      ...(task.name ? [{ key: keyword('PetrelJobName'), value: task.name }] : []),
    ],
  }));
  ctx.note(`Managed job ${jobId} submitted.${flags.detachRun ? ` Follow it with: petrel jobs logs ${jobId} --follow` : ''}`);
  if (flags.detachRun) {
    ctx.line(String(jobId));
    return 0;
  }
  const view = await followManagedJob(ctx, client, jobId, { follow: true, progress: true });
  ctx.note(`Managed job ${jobId} ${view.status}${view.recoveries ? ` after ${view.recoveries} recover${view.recoveries === 1 ? 'y' : 'ies'}` : ''}${view.message ? `: ${view.message}` : ''}.`);
  return managedJobExitCode(view);
}
