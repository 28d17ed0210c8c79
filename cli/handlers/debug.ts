// Handler of `petrel debug preempt|unreachable`: do to local nodes what clouds and networks do
// to real ones, to rehearse recovery. Only the local provider can do this, and only the worker
// that provisioned the cluster (its nodes are directories in its home) acts on them.
import type { Client } from '@temporalio/client';
import type { ClusterHandle } from '../../core/cluster-state.js';
import type { DebugPreemptRequest, DebugUnreachableRequest } from '../../core/worker-ops.js';
import { clusterView } from '../cluster-client.js';
import type { CliContext } from '../context.js';
import { UserError } from '../errors.js';
import { managedJobView, parseJobId } from '../managed-job-client.js';
import { runWorkerOperation } from '../worker-ops.js';
import { isPipeline, pipelineView } from '../pipeline-client.js';
import { isTerminalManagedJobStatus, type ManagedJobStatus } from '../../core/managed-job-state.js';

/** Clusters of managed-job attempts are named job-<job id>-<attempt>. */
const MANAGED_JOB_CLUSTER = /^job-(\d+)-(\d+)$/;

async function clusterExists(client: Client, name: string): Promise<boolean> {
  try {
    await clusterView(client, name);
    return true;
  } catch (err) {
    if (err instanceof UserError) return false;
    throw err;
  }
}

/**
 * `--job ID` or `--job ID/TASK`: a managed job, or a pipeline's step. A pipeline's id alone means
 * the step it runs now.
 */
async function jobOrStep(client: Client, arg: string): Promise<number | string> {
  const step = /^(\d+)\/(\d+)$/.exec(arg);
  if (step) return `job/${step[1]}/${step[2]}`;
  const id = parseJobId(arg);
  if (!(await isPipeline(client, id))) return id;
  const view = await pipelineView(client, id);
  const live = view.steps.filter((s) => s.workflowId && !isTerminalManagedJobStatus(s.status as ManagedJobStatus) && s.status !== 'SKIPPED');
  if (live.length !== 1) throw new UserError(`managed job ${id} is a pipeline with ${live.length} running steps; name one as --job ${id}/TASK`);
  return live[0]!.workflowId!;
}

interface Target {
  cluster?: string;
  job?: string;
  node?: number;
}

/** The nodes of a cluster, or of the live attempt of a managed job (`--job ID`). */
async function targetHandle(ctx: CliContext, t: Target): Promise<{ handle: ClusterHandle; label: string }> {
  if ((t.cluster === undefined) === (t.job === undefined)) throw new UserError('give a cluster name or --job ID (one of them)');
  const client = await ctx.client();
  let handle: ClusterHandle | undefined;
  let label: string;
  if (t.job !== undefined) {
    const view = await managedJobView(client, await jobOrStep(client, t.job));
    const live = view.attempts.filter((a) => a.handle && !a.endedAt).at(-1);
    if (!live) throw new UserError(`managed job ${view.jobId} has no running cluster (it is ${view.status})`);
    handle = live.handle;
    label = `cluster '${live.clusterName}' of managed job ${view.jobId}`;
  } else if (MANAGED_JOB_CLUSTER.test(t.cluster!) && !(await clusterExists(client, t.cluster!))) {
    // The cluster of one attempt of a managed job, named as `jobs describe` shows it.
    const [, jobId, attemptNo] = MANAGED_JOB_CLUSTER.exec(t.cluster!)!;
    const view = await managedJobView(client, Number(jobId));
    const attempt = view.attempts.find((a) => a.attempt === Number(attemptNo));
    if (!attempt) throw new UserError(`cluster '${t.cluster}' does not exist: managed job ${view.jobId} has no attempt ${attemptNo} (attempts: ${view.attempts.map((a) => a.clusterName).join(', ') || 'none yet'})`);
    if (attempt.endedAt) throw new UserError(`cluster '${t.cluster}' of managed job ${view.jobId} is gone: attempt ${attempt.attempt} ended (${attempt.outcome}${attempt.reason ? `: ${attempt.reason.split('\n')[0]}` : ''})`);
    if (!attempt.handle) throw new UserError(`cluster '${t.cluster}' of managed job ${view.jobId} has no nodes yet (still provisioning)`);
    handle = attempt.handle;
    label = `cluster '${t.cluster}' of managed job ${view.jobId}`;
  } else {
    const view = await clusterView(client, t.cluster!);
    handle = view.handle;
    label = `cluster '${t.cluster}'`;
    if (!handle) throw new UserError(`${label} has no nodes yet (still ${view.status})`);
  }
  if (handle!.provider !== 'local') throw new UserError(`debug commands work on local clusters; ${label} runs on ${handle!.provider}`);
  if (t.node !== undefined && !handle!.nodes.some((n) => n.rank === t.node)) {
    throw new UserError(`--node: ${label} has no node ${t.node} (nodes: ${handle!.nodes.map((n) => n.rank).join(', ')})`);
  }
  return { handle: handle!, label };
}

export async function preempt(ctx: CliContext, cluster: string | undefined, flags: Target): Promise<number> {
  const { handle, label } = await targetHandle(ctx, { ...flags, cluster });
  const req: DebugPreemptRequest = { handle, ranks: flags.node === undefined ? undefined : [flags.node] };
  const hit = await runWorkerOperation<number[]>(await ctx.client(), 'debug-preempt', {
    op: 'debugPreempt',
    args: [req],
    queue: handle.worker?.queue,
    worker: handle.worker,
    what: `debug preempt of ${label}`,
  });
  ctx.line(`Preempted node${hit.length === 1 ? '' : 's'} ${hit.join(', ')} of ${label}.`);
  return 0;
}

export async function unreachable(ctx: CliContext, cluster: string | undefined, flags: Target & { seconds: number }): Promise<number> {
  if (!Number.isFinite(flags.seconds) || flags.seconds <= 0) throw new UserError('--seconds: give a positive number of seconds');
  const { handle, label } = await targetHandle(ctx, { ...flags, cluster });
  const req: DebugUnreachableRequest = { handle, ranks: flags.node === undefined ? undefined : [flags.node], seconds: flags.seconds };
  await runWorkerOperation<number[]>(await ctx.client(), 'debug-unreachable', {
    op: 'debugUnreachable',
    args: [req],
    queue: handle.worker?.queue,
    worker: handle.worker,
    what: `debug unreachable of ${label}`,
  });
  ctx.line(`Node${flags.node === undefined ? 's' : ` ${flags.node}`} of ${label} will not answer for ${flags.seconds} s.`);
  return 0;
}
