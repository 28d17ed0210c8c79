// Handler of `petrel cancel CLUSTER JOB…|-a [-u]`: stop jobs on a cluster's queue; the cluster
// stays up. Jobs on another user's cluster only with -u/--all-users (-u alone: all of them).
import { isTerminalJobStatus } from '../../core/cluster-state.js';
import { notYoursMessage, otherOwner } from '../../core/users.js';
import { cancelJobUpdate } from '../../workflows/cluster-messages.js';
import { asUserError, clusterHandle, clusterView } from '../cluster-client.js';
import { currentUser } from '../cluster-requests.js';
import type { CliContext } from '../context.js';
import { UserError } from '../errors.js';
import { clusterOwner } from './down.js';

export async function cancel(ctx: CliContext, cluster: string, jobArgs: string[], flags: { all?: boolean; allUsers?: boolean }): Promise<number> {
  const all = !!flags.all || (!!flags.allUsers && jobArgs.length === 0);
  if (all && jobArgs.length > 0) throw new UserError('cancel: give job ids or --all, not both');
  if (!all && jobArgs.length === 0) throw new UserError('cancel: give job ids or --all');
  const client = await ctx.client();
  const view = await clusterView(client, cluster);
  const owner = otherOwner(await clusterOwner(client, cluster), currentUser());
  if (owner && !flags.allUsers) {
    throw new UserError(notYoursMessage([{ what: `cluster '${cluster}'`, owner }], () => 'cancel jobs on it'));
  }
  const ids = all ? view.jobs.filter((j) => !isTerminalJobStatus(j.status)).map((j) => j.id) : jobArgs.map(Number);
  for (const [i, id] of ids.entries()) {
    if (!Number.isInteger(id) || !view.jobs.some((j) => j.id === id)) throw new UserError(`cluster '${cluster}' has no job ${jobArgs[i]}`);
  }
  if (ids.length === 0) ctx.note(`No jobs to cancel on cluster '${cluster}'.`);
  else if (owner) ctx.note(`Cluster '${cluster}' belongs to ${owner}.`);
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
