// Handler of `petrel cancel CLUSTER JOB…|-a`: stop jobs on a cluster's queue; the cluster stays up.
import { isTerminalJobStatus } from '../../core/cluster-state.js';
import { cancelJobUpdate } from '../../workflows/cluster-messages.js';
import { asUserError, clusterHandle, clusterView } from '../cluster-client.js';
import type { CliContext } from '../context.js';
import { UserError } from '../errors.js';


export async function cancel(ctx: CliContext, cluster: string, jobArgs: string[], flags: { all?: boolean }): Promise<number> {
  if (!flags.all && jobArgs.length === 0) throw new UserError('cancel: give job ids or --all');
  const client = await ctx.client();
  const view = await clusterView(client, cluster);
  const ids = flags.all ? view.jobs.filter((j) => !isTerminalJobStatus(j.status)).map((j) => j.id) : jobArgs.map(Number);
  for (const [i, id] of ids.entries()) {
    if (!Number.isInteger(id) || !view.jobs.some((j) => j.id === id)) throw new UserError(`cluster '${cluster}' has no job ${jobArgs[i]}`);
  }
  if (ids.length === 0) ctx.note(`No jobs to cancel on cluster '${cluster}'.`);
  for (const id of ids) {
    try {
      const job = await clusterHandle(client, cluster).executeUpdate(cancelJobUpdate, { args: [id] });
      ctx.line(`Job ${id}: ${job.status}`);
    } catch (err) {
      throw asUserError(err, cluster);
    }
  }
  return 0;
}
