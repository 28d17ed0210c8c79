// Handler of `petrel jobs logs ID [--follow]`: output of every attempt, following recoveries.
import type { CliContext } from '../context.js';
import { followManagedJob, parseJobId } from '../managed-job-client.js';

export async function jobsLogs(ctx: CliContext, idArg: string, flags: { follow?: boolean }): Promise<number> {
  const id = parseJobId(idArg);
  const client = await ctx.client();
  await followManagedJob(ctx, client, id, { follow: !!flags.follow, progress: false });
  return 0;
}
