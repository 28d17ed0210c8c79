// Handler of `petrel logs CLUSTER [JOB] [--follow]`: a job's setup and run output.
import { clusterWorkflowId } from '../../core/names.js';
import { clusterView } from '../cluster-client.js';
import type { CliContext } from '../context.js';
import { UserError } from '../errors.js';
import { followJob, jobExitCode } from '../follow.js';
import { missingOutputNote, silenceNote } from '../log-silence.js';
import { isTerminalJobStatus } from '../../core/cluster-state.js';


export async function logs(ctx: CliContext, cluster: string, jobArg: string | undefined, flags: { follow?: boolean; status?: boolean }): Promise<number> {
  const client = await ctx.client();
  const view = await clusterView(client, cluster);
  const jobId = jobArg === undefined ? view.jobs.at(-1)?.id : Number(jobArg);
  if (jobId === undefined) throw new UserError(`cluster '${cluster}' has no jobs yet`);
  if (!Number.isInteger(jobId) || !view.jobs.some((j) => j.id === jobId)) throw new UserError(`cluster '${cluster}' has no job ${jobArg}`);
  const { job, report } = await followJob(ctx, client.workflow.getHandle(clusterWorkflowId(cluster)), jobId, {
    progress: false,
    until: flags.follow ? undefined : () => true,
  });
  const what = `job ${jobId} of cluster '${cluster}'`;
  const missing = missingOutputNote(what, report);
  if (missing) ctx.note(missing);
  else if (report.printed === 0) {
    ctx.note(silenceNote(what, { started: !!(job.logKeys.setup || job.logKeys.run), ended: isTerminalJobStatus(job.status), status: job.status, message: job.message }));
  }
  if (flags.status) return jobExitCode(job);
  return missing && report.printed === 0 ? 1 : 0;
}
