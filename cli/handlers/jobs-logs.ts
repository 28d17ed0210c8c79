// Handler of `petrel jobs logs ID [--follow] [--task N|NAME]`: output of every attempt, following
// recoveries; a pipeline's steps in order (a job group's members together), or one of them.
import type { CliContext } from '../context.js';
import { isTerminalManagedJobStatus } from '../../core/managed-job-state.js';
import { UserError } from '../errors.js';
import { missingOutputNote, silenceNote } from '../log-silence.js';
import { followManagedJob, parseJobId } from '../managed-job-client.js';
import { followPipeline, isPipeline } from '../pipeline-client.js';

export async function jobsLogs(ctx: CliContext, idArg: string, flags: { follow?: boolean; task?: string }): Promise<number> {
  const id = parseJobId(idArg);
  const client = await ctx.client();
  if (await isPipeline(client, id)) {
    const { view, report } = await followPipeline(ctx, client, id, { follow: !!flags.follow, progress: false, only: flags.task });
    const missing = missingOutputNote(`managed job ${id}`, report);
    if (missing) ctx.note(missing);
    else if (report.printed === 0) {
      const started = view.steps.some((s) => s.workflowId);
      ctx.note(silenceNote(`managed job ${id}${flags.task !== undefined ? ` task ${flags.task}` : ''}`, { started, ended: isTerminalManagedJobStatus(view.status), status: view.status, message: view.message }));
    }
    return missing && report.printed === 0 ? 1 : 0;
  }
  if (flags.task !== undefined) throw new UserError(`--task ${flags.task}: managed job ${id} is a single task, not a pipeline or job group`);
  const { view, report } = await followManagedJob(ctx, client, id, { follow: !!flags.follow, progress: false });
  const missing = missingOutputNote(`managed job ${id}`, report);
  if (missing) ctx.note(missing);
  else if (report.printed === 0) {
    const started = view.attempts.some((a) => a.setupKey || a.runKey);
    ctx.note(silenceNote(`managed job ${id}`, { started, ended: isTerminalManagedJobStatus(view.status), status: view.status, message: view.message }));
  }
  return missing && report.printed === 0 ? 1 : 0;
}
