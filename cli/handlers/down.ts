// Handler of `petrel down CLUSTER…|-a`: tear clusters down and wait until nothing is left.
import { downUpdate } from '../../workflows/cluster-messages.js';
import { asUserError, clusterHandle, clusterView } from '../cluster-client.js';
import type { CliContext } from '../context.js';
import { UserError } from '../errors.js';
import { confirm } from '../prompt.js';
import { RUNNING_CLUSTERS } from '../visibility.js';


export async function down(ctx: CliContext, names: string[], flags: { all?: boolean; yes?: boolean }): Promise<number> {
  if (!flags.all && names.length === 0) throw new UserError('down: give cluster names or --all');
  const client = await ctx.client();
  if (flags.all) {
    for await (const wf of client.workflow.list({ query: RUNNING_CLUSTERS })) {
      names.push(wf.workflowId.replace(/^cluster\//, ''));
    }
    if (names.length === 0) {
      ctx.line('No existing clusters.');
      return 0;
    }
  }
  for (const name of names) await clusterView(client, name); // every name exists before anything is torn down
  if (!(await confirm(`Tear down ${names.join(', ')}?`, !!flags.yes))) return 1;
  await Promise.all(
    names.map(async (name) => {
      const handle = clusterHandle(client, name);
      try {
        ctx.note(`Terminating cluster '${name}'...`);
        await handle.executeUpdate(downUpdate);
        await handle.result();
      } catch (err) {
        throw asUserError(err, name);
      }
      ctx.line(`Cluster '${name}' terminated.`);
    }),
  );
  return 0;
}
