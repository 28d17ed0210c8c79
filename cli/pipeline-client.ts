// Talking to pipeline (and job group) workflows: their views, choosing a step by index or name,
// and following their steps' output.
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { isTerminalManagedJobStatus } from '../core/managed-job-state.js';
import type { ManagedJobView } from '../workflows/managed-job-types.js';
import { pipelineStatusQuery } from '../workflows/pipeline-messages.js';
import type { PipelineView, StepView } from '../workflows/pipeline-types.js';
import type { CliContext } from './context.js';
import { UserError } from './errors.js';
import { mergeReports, type LogReport } from './log-streamer.js';
import { followManagedJob, jobHandle, managedJobExitCode, managedJobView } from './managed-job-client.js';

export const PIPELINE_WORKFLOW = 'pipelineWorkflow';

/** Whether job `id` is a pipeline or a job group (one describe; no worker needed). */
export async function isPipeline(client: Client, id: number): Promise<boolean> {
  try {
    return (await jobHandle(client, id).describe()).type === PIPELINE_WORKFLOW;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new UserError(`managed job ${id} does not exist; see petrel jobs queue`);
    throw err;
  }
}

export async function pipelineView(client: Client, id: number): Promise<PipelineView> {
  try {
    return await jobHandle(client, id).query(pipelineStatusQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new UserError(`managed job ${id} does not exist; see petrel jobs queue`);
    throw err;
  }
}

/** `--task N|NAME`: a step by its index (0-based, as SkyPilot's task ids) or its name. */
export function findStep(view: PipelineView, task: string): StepView {
  const byName = view.steps.filter((s) => s.name === task);
  if (byName.length === 1) return byName[0]!;
  if (/^\d+$/.test(task)) {
    const step = view.steps[Number(task)];
    if (step) return step;
  }
  const names = view.steps.map((s) => `${s.index} (${s.name})`).join(', ');
  throw new UserError(`--task ${task}: job ${view.jobId} has no such task; its tasks are ${names}`);
}

/** The step's own managed-job view, once it has started. */
export async function stepJobView(client: Client, step: StepView): Promise<ManagedJobView | undefined> {
  return step.workflowId ? managedJobView(client, step.workflowId) : undefined;
}

export function pipelineExitCode(view: PipelineView, stepViews: Array<ManagedJobView | undefined>): number {
  if (view.status === 'SUCCEEDED') return 0;
  if (view.status === 'CANCELLED') return 130;
  const failed = view.steps.findIndex((s) => s.status !== 'SUCCEEDED' && s.status !== 'SKIPPED' && s.status !== 'CANCELLED');
  const job = failed >= 0 ? stepViews[failed] : undefined;
  return job ? Math.max(1, managedJobExitCode(job)) : 1;
}

const what = (view: PipelineView) => (view.kind === 'jobgroup' ? 'member' : 'step');

/**
 * A pipeline's output step by step (a job group's member by member), each from where its
 * workflow is; with `follow`, until the pipeline ends. `only` limits it to one step.
 */
export async function followPipeline(
  ctx: CliContext,
  client: Client,
  id: number,
  opts: { follow: boolean; progress: boolean; only?: string },
): Promise<{ view: PipelineView; stepViews: Array<ManagedJobView | undefined>; report: LogReport }> {
  let view = await pipelineView(client, id);
  const indexes = opts.only !== undefined ? [findStep(view, opts.only).index] : view.steps.map((s) => s.index);
  const stepViews: Array<ManagedJobView | undefined> = view.steps.map(() => undefined);
  const reports: LogReport[] = [];
  const followStep = async (index: number) => {
    // Wait for the step to start (or for the pipeline to end without it).
    for (let delay = 100; ; delay = Math.min(1000, delay + 100)) {
      const step = view.steps[index]!;
      if (step.workflowId || step.status === 'SKIPPED' || isTerminalManagedJobStatus(view.status) || !opts.follow) break;
      await new Promise((r) => setTimeout(r, delay));
      view = await pipelineView(client, id);
    }
    const step = view.steps[index]!;
    const total = view.steps.length;
    if (!step.workflowId) {
      if (opts.progress || opts.only !== undefined) ctx.note(`⚙︎ ${what(view)} ${index + 1}/${total} ${step.name}: ${step.status}${step.message ? ` (${step.message})` : ''}`);
      return;
    }
    ctx.note(`⚙︎ ${what(view)} ${index + 1}/${total} ${step.name} (${step.workflowId})${step.generation !== view.generation ? `: SUCCEEDED in an earlier run` : ''}`);
    const { view: job, report } = await followManagedJob(ctx, client, step.workflowId, { follow: opts.follow, progress: opts.progress });
    stepViews[index] = job;
    reports.push(report);
  };
  // A chain's steps run one after another; a group's members all at once.
  if (view.kind === 'jobgroup') await Promise.all(indexes.map(followStep));
  else for (const i of indexes) await followStep(i);
  if (opts.follow) {
    for (let delay = 100; !isTerminalManagedJobStatus(view.status); delay = Math.min(1000, delay + 100)) {
      await new Promise((r) => setTimeout(r, delay));
      view = await pipelineView(client, id);
    }
  }
  for (const step of view.steps) if (!stepViews[step.index] && step.workflowId) stepViews[step.index] = await stepJobView(client, step).catch(() => undefined);
  return { view, stepViews, report: mergeReports(reports) };
}

/** A managed job's status, whether it is a single task or a pipeline. */
export async function anyJobStatus(client: Client, id: number): Promise<string> {
  return (await isPipeline(client, id)) ? (await pipelineView(client, id)).status : (await managedJobView(client, id)).status;
}
