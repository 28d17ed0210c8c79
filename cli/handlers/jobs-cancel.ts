// Handler of `petrel jobs cancel ID…|-n NAME|-a [-u]`: request cancellation (the workflow tears the
// job's machines down in a non-cancellable scope) and wait until each job is CANCELLED.
// Another user's job only with -u/--all-users; -n and -a choose among your jobs, or among
// everyone's with -u (-u alone: every live job of every user).
import { notYoursMessage, otherOwner, possessive } from '../../core/users.js';
import { currentUser } from '../cluster-requests.js';
import type { CliContext } from '../context.js';
import { UserError } from '../errors.js';
import { describeJob, jobHandle, parseJobId } from '../managed-job-client.js';
import { anyJobStatus } from '../pipeline-client.js';
import { confirm } from '../prompt.js';
import { literal, MANAGED_JOBS, NOT_ENDED, ofOtherUsers, ownerOf, visibleTo } from '../visibility.js';
import { listJobs } from './jobs-queue.js';

const CANCEL_WAIT_MS = 60_000;

export async function jobsCancel(
  ctx: CliContext,
  idArgs: string[],
  flags: { name?: string; all?: boolean; allUsers?: boolean; yes?: boolean },
): Promise<number> {
  const all = !!flags.all || (!!flags.allUsers && idArgs.length === 0 && flags.name === undefined);
  const selectors = [idArgs.length > 0, flags.name !== undefined, all].filter(Boolean).length;
  if (selectors !== 1) throw new UserError('jobs cancel: give job ids, or -n NAME, or -a (exactly one of them)');
  const me = currentUser();
  let ids: number[];
  if (idArgs.length > 0) ids = idArgs.map(parseJobId);
  else {
    const live = [MANAGED_JOBS, NOT_ENDED];
    if (flags.name !== undefined) live.push(`PetrelJobName = ${literal(flags.name)}`);
    ids = (await listJobs(ctx, [...live, ...(flags.allUsers ? [] : [visibleTo(me)])].join(' AND '))).map((r) => r.id);
    if (ids.length === 0) ctx.line(flags.name !== undefined ? `No live managed job named '${flags.name}'.` : 'No live managed jobs.');
    if (!flags.allUsers) {
      const { count } = await (await ctx.client()).workflow.count([...live, ofOtherUsers(me)].join(' AND '));
      const what = `live managed job${count > 1 ? 's' : ''}${flags.name !== undefined ? ` named '${flags.name}'` : ''}`;
      if (count > 0) ctx.note(`${count} ${what} of other users left alone (you are ${me}); add --all-users (-u) to cancel ${count > 1 ? 'them' : 'it'} too`);
    }
    if (ids.length === 0) return 0;
  }
  const client = await ctx.client();
  // Existence, state and owner come from the server (describe), not from a query, so jobs that
  // no worker has picked up yet (PENDING) can be cancelled too.
  const others = new Map<number, string>();
  for (const id of ids) {
    const owner = otherOwner(ownerOf(await describeJob(client, id)), me);
    if (owner) others.set(id, owner);
  }
  if (!flags.allUsers && others.size > 0) {
    const things = [...others].map(([id, owner]) => ({ what: `managed job ${id}`, owner }));
    throw new UserError(notYoursMessage(things, (it) => `cancel ${it}`));
  }
  const label = (id: number) => (others.has(id) ? `${id} (${possessive(others.get(id)!)})` : String(id));
  if (!(await confirm(`Cancel managed job${ids.length > 1 ? 's' : ''} ${ids.map(label).join(', ')}?`, !!flags.yes))) return 1;
  let failed = 0;
  await Promise.all(
    ids.map(async (id) => {
      const handle = jobHandle(client, id);
      if ((await handle.describe()).status.name !== 'RUNNING') {
        ctx.line(`Job ${label(id)}: already ${(await anyJobStatus(client, id))}`);
        return;
      }
      await handle.cancel();
      const deadline = Date.now() + CANCEL_WAIT_MS;
      for (;;) {
        const state = (await handle.describe()).status.name;
        if (state !== 'RUNNING') {
          ctx.line(`Job ${label(id)}: ${state === 'CANCELLED' ? 'CANCELLED' : (await anyJobStatus(client, id))}`);
          return;
        }
        if (Date.now() > deadline) {
          failed++;
          ctx.note(`Job ${label(id)}: still being cancelled after ${CANCEL_WAIT_MS / 1000} s; its teardown goes on in the background`);
          return;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }),
  );
  return failed > 0 ? 1 : 0;
}
