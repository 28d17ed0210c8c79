// Handler of `petrel jobs launch`: start the job's managedJob workflow and follow it (unless
// -d) across recoveries; exits with the job's exit code.
import type { CliContext } from '../context.js';
import { missingOutputNote } from '../log-silence.js';
import { followManagedJob, managedJobExitCode } from '../managed-job-client.js';
import { managedJobInput, submitManagedJob } from '../managed-job-submit.js';
import { confirm } from '../prompt.js';
import type { TaskFlags } from '../task-flags.js';
import { loadTask } from '../task-input.js';

interface JobsLaunchFlags extends TaskFlags {
  detachRun?: boolean;
  jobRecovery?: string;
  retryUntilUp?: boolean;
  yes?: boolean;
}

export async function jobsLaunch(ctx: CliContext, entrypoint: string | undefined, flags: JobsLaunchFlags): Promise<number> {
  const { task, file } = loadTask(entrypoint, flags, 'jobs launch');
  const base = managedJobInput(ctx.home, task, file ?? 'command line', flags);
  ctx.note(`Managed job${task.name ? ` '${task.name}'` : ''}: ${base.resourcesSummary}, recovery ${base.recovery.strategy}`);
  if (!(await confirm('Submit?', !!flags.yes))) return 1;
  const client = await ctx.client();
  const jobId = await submitManagedJob(client, base);
  if (flags.detachRun) {
    ctx.note(`Managed job ${jobId} submitted. Follow it with: petrel jobs logs ${jobId} --follow`);
    ctx.line(String(jobId));
    return 0;
  }
  ctx.note(`Managed job ${jobId} submitted.`);
  const { view, report } = await followManagedJob(ctx, client, jobId, { follow: true, progress: true });
  const missing = missingOutputNote(`managed job ${jobId}`, report);
  if (missing) ctx.note(missing);
  const recoveries = view.recoveries ? ` after ${view.recoveries} recover${view.recoveries === 1 ? 'y' : 'ies'}` : '';
  ctx.note(`Managed job ${jobId} ${view.status}${recoveries}${view.message ? `: ${view.message}` : ''}.`);
  return managedJobExitCode(view);
}
