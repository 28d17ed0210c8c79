// Handler of `petrel jobs logs ID [--follow]`: output of every attempt, following recoveries.
import type { CliContext } from '../context.js';
import { isTerminalManagedJobStatus } from '../../core/managed-job-state.js';
import { missingOutputNote, silenceNote } from '../log-silence.js';
import { followManagedJob, parseJobId } from '../managed-job-client.js';

export async function jobsLogs(ctx: CliContext, idArg: string, flags: { follow?: boolean }): Promise<number> {
  const id = parseJobId(idArg);
  const client = await ctx.client();
  const { view, report } = await followManagedJob(ctx, client, id, { follow: !!flags.follow, progress: false });
  const missing = missingOutputNote(`managed job ${id}`, report);
  if (missing) ctx.note(missing);
  else if (report.printed === 0) {
    const started = view.attempts.some((a) => a.setupKey || a.runKey);
    ctx.note(silenceNote(`managed job ${id}`, { started, ended: isTerminalManagedJobStatus(view.status), status: view.status, message: view.message }));
  }
  return missing && report.printed === 0 ? 1 : 0;
}
