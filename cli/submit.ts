// Shared tail of `launch` and `exec`: submit a job to a cluster, then detach or follow it.
import { asUserError } from './cluster-client.js';
import type { CliContext } from './context.js';
import { followJob, jobExitCode } from './follow.js';
import { missingOutputNote } from './log-silence.js';
import { clusterWorkflowId } from '../core/names.js';

export async function submitJob(
  ctx: CliContext,
  clusterName: string,
  detach: boolean,
  send: () => Promise<{ jobId: number }>,
): Promise<number> {
  let jobId: number;
  try {
    ({ jobId } = await send());
  } catch (err) {
    throw asUserError(err, clusterName);
  }
  if (detach) {
    ctx.note(`Job ${jobId} submitted to cluster '${clusterName}'. Follow it with: petrel logs ${clusterName} ${jobId} --follow`);
    return 0;
  }
  const client = await ctx.client();
  const { job: done, report } = await followJob(ctx, client.workflow.getHandle(clusterWorkflowId(clusterName)), jobId, { progress: true });
  const missing = missingOutputNote(`job ${jobId}`, report);
  if (missing) ctx.note(missing);
  ctx.note(`Job ${jobId} ${done.status}${done.message ? `: ${done.message}` : ''}.`);
  return jobExitCode(done);
}
