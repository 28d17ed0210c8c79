// Handler of `petrel jobs cancel ID…|-n NAME|-a`: request cancellation (the workflow tears the
// job's machines down in a non-cancellable scope) and wait until each job is CANCELLED.
import { currentUser } from '../cluster-requests.js';
import type { CliContext } from '../context.js';
import { UserError } from '../errors.js';
import { describeJob, jobHandle, managedJobView, parseJobId } from '../managed-job-client.js';
import { confirm } from '../prompt.js';
import { literal, MANAGED_JOBS, NOT_ENDED } from '../visibility.js';
import { listJobs } from './jobs-queue.js';

const CANCEL_WAIT_MS = 60_000;

export async function jobsCancel(ctx: CliContext, idArgs: string[], flags: { name?: string; all?: boolean; yes?: boolean }): Promise<number> {
  const selectors = [idArgs.length > 0, flags.name !== undefined, !!flags.all].filter(Boolean).length;
  if (selectors !== 1) throw new UserError('jobs cancel: give job ids, or -n NAME, or -a (exactly one of them)');
  let ids: number[];
  if (idArgs.length > 0) ids = idArgs.map(parseJobId);
  else {
    const live = `${MANAGED_JOBS} AND PetrelUser = ${literal(currentUser())} AND ${NOT_ENDED}`;
    const query = flags.name !== undefined ? `${live} AND PetrelJobName = ${literal(flags.name)}` : live;
    ids = (await listJobs(ctx, query)).map((r) => r.id);
    if (ids.length === 0) {
      ctx.line(flags.name !== undefined ? `No live managed job named '${flags.name}'.` : 'No live managed jobs.');
      return 0;
    }
  }
  const client = await ctx.client();
  // Existence and state come from the server (describe), not from a query, so jobs that no
  // worker has picked up yet (PENDING) can be cancelled too.
  for (const id of ids) await describeJob(client, id);
  if (!(await confirm(`Cancel managed job${ids.length > 1 ? 's' : ''} ${ids.join(', ')}?`, !!flags.yes))) return 1;
  let failed = 0;
  await Promise.all(
    ids.map(async (id) => {
      const handle = jobHandle(client, id);
      if ((await handle.describe()).status.name !== 'RUNNING') {
        ctx.line(`Job ${id}: already ${(await managedJobView(client, id)).status}`);
        return;
      }
      await handle.cancel();
      const deadline = Date.now() + CANCEL_WAIT_MS;
      for (;;) {
        const state = (await handle.describe()).status.name;
        if (state !== 'RUNNING') {
          ctx.line(`Job ${id}: ${state === 'CANCELLED' ? 'CANCELLED' : (await managedJobView(client, id)).status}`);
          return;
        }
        if (Date.now() > deadline) {
          failed++;
          ctx.note(`Job ${id}: still being cancelled after ${CANCEL_WAIT_MS / 1000} s; its teardown goes on in the background`);
          return;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }),
  );
  return failed > 0 ? 1 : 0;
}
