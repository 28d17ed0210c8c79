// `petrel jobs launch PIPELINE.yaml` (a multi-document YAML: a chain of steps, or a job group)
// and `petrel jobs resume ID` (a failed or cancelled pipeline again, from its first step that
// did not succeed).
import type { Client } from '@temporalio/client';
import { decodeArrayFromPayloads } from '@temporalio/common/lib/internal-non-workflow/index.js';
import { isTerminalManagedJobStatus } from '../../core/managed-job-state.js';
import type { PipelineInput, PipelineView } from '../../workflows/pipeline-types.js';
import type { CliContext } from '../context.js';
import { UserError } from '../errors.js';
import { missingOutputNote } from '../log-silence.js';
import { jobHandle, managedJobWorkflowId, parseJobId } from '../managed-job-client.js';
import { noteUiLink } from './ui.js';
import { pipelineInput, resubmitPipeline, submitPipeline } from '../managed-job-submit.js';
import { followPipeline, isPipeline, pipelineExitCode, pipelineView } from '../pipeline-client.js';
import { previewPlan, renderPlan } from '../plan-preview.js';
import { confirm } from '../prompt.js';
import type { TaskFlags } from '../task-flags.js';
import { loadPipeline, type LoadedTasks } from '../task-input.js';

export interface PipelineLaunchFlags extends TaskFlags {
  detachRun?: boolean;
  jobRecovery?: string;
  retryUntilUp?: boolean;
  yes?: boolean;
  json?: boolean;
  dryrun?: boolean;
  maxCost?: string;
}

export async function launchPipeline(ctx: CliContext, loaded: LoadedTasks, flags: PipelineLaunchFlags & { count?: string; sweep?: string[] }): Promise<number> {
  if (flags.count !== undefined || flags.sweep !== undefined) throw new UserError(`${loaded.file}: --count and --sweep submit copies of one task; a pipeline or job group is submitted once`);
  const pipeline = loadPipeline(loaded, flags);
  const base = pipelineInput(ctx.home, pipeline, flags);
  const kind = pipeline.execution === 'parallel' ? 'Job group' : 'Pipeline';
  if (flags.dryrun) {
    pipeline.tasks.forEach((task, i) => {
      ctx.line(`${pipeline.execution === 'parallel' ? 'Member' : 'Step'} ${i + 1}/${pipeline.tasks.length} ${base.steps[i]!.name}:`);
      ctx.line(renderPlan(previewPlan(task, pipeline.file), task, pipeline.file));
    });
    return 0;
  }
  if (flags.json && !flags.detachRun) throw new UserError("--json prints the ids of submitted jobs; it needs -d (without -d, jobs launch streams the job's output)");
  ctx.note(`${kind}${base.name ? ` '${base.name}'` : ''}: ${base.resourcesSummary}`);
  base.steps.forEach((s, i) => ctx.note(`  ${i}. ${s.name}: ${s.resourcesSummary}, recovery ${s.recovery.strategy}`));
  if (!(await confirm('Submit?', !!flags.yes))) return 1;
  const client = await ctx.client();
  const jobId = await submitPipeline(client, base);
  return afterSubmit(ctx, client, jobId, flags, `${kind} ${jobId} submitted.`);
}

async function afterSubmit(ctx: CliContext, client: Client, jobId: number, flags: { detachRun?: boolean; json?: boolean }, submitted: string): Promise<number> {
  if (flags.detachRun) {
    ctx.note(`${submitted} Follow it with: petrel jobs logs ${jobId} --follow`);
    noteUiLink(ctx, managedJobWorkflowId(jobId));
    if (flags.json) ctx.line(JSON.stringify([{ id: jobId }], null, 2));
    else ctx.line(String(jobId));
    return 0;
  }
  ctx.note(submitted);
  noteUiLink(ctx, managedJobWorkflowId(jobId));
  const { view, stepViews, report } = await followPipeline(ctx, client, jobId, { follow: true, progress: true });
  const missing = missingOutputNote(`managed job ${jobId}`, report);
  if (missing) ctx.note(missing);
  ctx.note(`Managed job ${jobId} ${view.status}${view.message ? `: ${view.message}` : ''}.`);
  return pipelineExitCode(view, stepViews);
}

/** The input the pipeline's latest run was started with (decrypted with this home's codec key). */
async function startInput(client: Client, id: number): Promise<PipelineInput> {
  const history = await jobHandle(client, id).fetchHistory();
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  const [input] = await decodeArrayFromPayloads(client.options.loadedDataConverter, started?.input?.payloads);
  if (!input) throw new UserError(`managed job ${id}: its start input cannot be read`);
  return input as PipelineInput;
}

export async function jobsResume(ctx: CliContext, idArg: string, flags: { detachRun?: boolean; yes?: boolean; json?: boolean }): Promise<number> {
  const id = parseJobId(idArg);
  const client = await ctx.client();
  if (!(await isPipeline(client, id))) throw new UserError(`managed job ${id} is a single task, not a pipeline; launch it again with petrel jobs launch`);
  const view: PipelineView = await pipelineView(client, id);
  if (!isTerminalManagedJobStatus(view.status)) throw new UserError(`managed job ${id} is ${view.status}; only a pipeline that has ended can be resumed`);
  if (view.status === 'SUCCEEDED') throw new UserError(`managed job ${id} SUCCEEDED; there is nothing to resume`);
  if (view.kind === 'jobgroup') throw new UserError(`managed job ${id} is a job group; its members run together, so it is launched again as a whole (petrel jobs launch)`);
  const from = view.steps.findIndex((s) => s.status !== 'SUCCEEDED');
  const input = await startInput(client, id);
  const resumed: PipelineInput = {
    ...input,
    resume: { generation: view.generation + 1, submittedAtMs: input.resume?.submittedAtMs ?? Date.parse(view.submittedAt), steps: view.steps },
  };
  const kept = view.steps.slice(0, from).map((s) => s.name);
  ctx.note(`Pipeline ${id} ${view.status}: resuming from step ${from + 1}/${view.steps.length} (${view.steps[from]!.name})${kept.length ? `; ${kept.join(', ')} succeeded and will not run again` : ''}.`);
  if (!(await confirm('Resume?', !!flags.yes))) return 1;
  await resubmitPipeline(client, resumed);
  return afterSubmit(ctx, client, id, flags, `Pipeline ${id} resumed.`);
}
