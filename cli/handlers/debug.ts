// Handler of `petrel debug preempt CLUSTER [--node R]`: reclaim nodes the way a cloud takes back spot
// machines, to rehearse recovery. Only the local provider can do this.
import { LocalProvider } from '../../providers/local/index.js';
import { clusterView } from '../cluster-client.js';
import type { CliContext } from '../context.js';
import { UserError } from '../errors.js';


export async function preempt(ctx: CliContext, cluster: string, flags: { node?: number }): Promise<number> {
  const client = await ctx.client();
  const view = await clusterView(client, cluster);
  if (!view.handle) throw new UserError(`cluster '${cluster}' has no nodes yet (still ${view.status})`);
  if (view.handle.provider !== 'local') throw new UserError(`debug preempt works on local clusters; '${cluster}' runs on ${view.handle.provider}`);
  if (flags.node !== undefined && !view.handle.nodes.some((n) => n.rank === flags.node)) {
    throw new UserError(`--node: cluster '${cluster}' has no node ${flags.node} (nodes: ${view.handle.nodes.map((n) => n.rank).join(', ')})`);
  }
  const hit = await new LocalProvider({ home: ctx.home }).preempt(view.handle, flags.node === undefined ? undefined : [flags.node]);
  ctx.line(`Preempted node${hit.length === 1 ? '' : 's'} ${hit.join(', ')} of cluster '${cluster}'.`);
  return 0;
}
