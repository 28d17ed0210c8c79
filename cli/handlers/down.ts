// Handler of `petrel down CLUSTER…|-a [-u]`: tear clusters down and wait until nothing is left.
// Another user's cluster only with -u/--all-users; -a is every cluster of yours, -u alone (or
// with -a) every cluster of every user.
import type { Client } from '@temporalio/client';
import { notYoursMessage, otherOwner, possessive } from '../../core/users.js';
import { downUpdate } from '../../workflows/cluster-messages.js';
import { asUserError, clusterHandle, clusterView } from '../cluster-client.js';
import { currentUser } from '../cluster-requests.js';
import type { CliContext } from '../context.js';
import { UserError } from '../errors.js';
import { confirm } from '../prompt.js';
import { ofOtherUsers, ownerOf, RUNNING_CLUSTERS, visibleTo } from '../visibility.js';

/** Who launched a cluster: from describe (strongly consistent), not from a listing. */
export async function clusterOwner(client: Client, name: string): Promise<string | undefined> {
  try {
    return ownerOf(await clusterHandle(client, name).describe());
  } catch (err) {
    throw asUserError(err, name);
  }
}

export async function down(ctx: CliContext, names: string[], flags: { all?: boolean; allUsers?: boolean; yes?: boolean }): Promise<number> {
  const all = !!flags.all || (!!flags.allUsers && names.length === 0);
  if (all && names.length > 0) throw new UserError('down: give cluster names or --all, not both');
  if (!all && names.length === 0) throw new UserError('down: give cluster names or --all');
  const client = await ctx.client();
  const me = currentUser();
  if (all) {
    const query = flags.allUsers ? RUNNING_CLUSTERS : `${RUNNING_CLUSTERS} AND ${visibleTo(me)}`;
    for await (const wf of client.workflow.list({ query })) {
      names.push(wf.workflowId.replace(/^cluster\//, ''));
    }
    if (names.length === 0) ctx.line('No existing clusters.');
    if (!flags.allUsers) {
      const { count } = await client.workflow.count(`${RUNNING_CLUSTERS} AND ${ofOtherUsers(me)}`);
      if (count > 0) ctx.note(`${count} cluster${count > 1 ? 's' : ''} of other users left alone (you are ${me}); add --all-users (-u) to tear ${count > 1 ? 'them' : 'it'} down too`);
    }
    if (names.length === 0) return 0;
  }
  // Every name exists, and is ours to tear down, before anything is torn down.
  const others = new Map<string, string>();
  for (const name of names) {
    await clusterView(client, name);
    const owner = otherOwner(await clusterOwner(client, name), me);
    if (owner) others.set(name, owner);
  }
  if (!flags.allUsers && others.size > 0) {
    const things = [...others].map(([name, owner]) => ({ what: `cluster '${name}'`, owner }));
    throw new UserError(notYoursMessage(things, (it) => `tear ${it} down`));
  }
  const label = (name: string) => (others.has(name) ? `${name} (${possessive(others.get(name)!)})` : name);
  if (!(await confirm(`Tear down ${names.map(label).join(', ')}?`, !!flags.yes))) return 1;
  await Promise.all(
    names.map(async (name) => {
      const handle = clusterHandle(client, name);
      const whose = others.has(name) ? ` of ${others.get(name)}` : '';
      try {
        ctx.note(`Terminating cluster '${name}'${whose}...`);
        await handle.executeUpdate(downUpdate);
        await handle.result();
      } catch (err) {
        throw asUserError(err, name);
      }
      ctx.line(`Cluster '${name}'${whose} terminated.`);
    }),
  );
  return 0;
}
