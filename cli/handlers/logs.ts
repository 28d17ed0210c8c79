// Handler of `petrel logs CLUSTER [JOB] [--follow]`: a job's setup and run output.
import { clusterWorkflowId } from '../../core/names.js';
import { clusterView } from '../cluster-client.js';
import type { CliContext } from '../context.js';
import { UserError } from '../errors.js';
import { followJob, jobExitCode } from '../follow.js';


export async function logs(ctx: CliContext, cluster: string, jobArg: string | undefined, flags: { follow?: boolean; status?: boolean }): Promise<number> {
  const client = await ctx.client();
  const view = await clusterView(client, cluster);
  const jobId = jobArg === undefined ? view.jobs.at(-1)?.id : Number(jobArg);
  if (jobId === undefined) throw new UserError(`cluster '${cluster}' has no jobs yet`);
  if (!Number.isInteger(jobId) || !view.jobs.some((j) => j.id === jobId)) throw new UserError(`cluster '${cluster}' has no job ${jobArg}`);
  const job = await followJob(ctx, client.workflow.getHandle(clusterWorkflowId(cluster)), jobId, {
    progress: false,
    until: flags.follow ? undefined : () => true,
  });
  return flags.status ? jobExitCode(job) : 0;
}
