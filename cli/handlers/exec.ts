// Handler of `petrel exec CLUSTER [YAML|CMD]`: run a task on an existing cluster (no provisioning, no setup).
import { submitJobUpdate } from '../../workflows/cluster-messages.js';
import { clusterHandle, clusterView } from '../cluster-client.js';
import { chooseResources, jobRequest } from '../cluster-requests.js';
import type { CliContext } from '../context.js';
import { submitJob } from '../submit.js';
import { loadTask } from '../task-input.js';
import type { TaskFlags } from '../task-flags.js';


export async function exec(ctx: CliContext, cluster: string, entrypoint: string | undefined, flags: TaskFlags & { detachRun?: boolean }): Promise<number> {
  const { task, file } = loadTask(entrypoint, flags, 'exec');
  const resources = chooseResources(task, file ?? 'command line');
  const client = await ctx.client();
  await clusterView(client, cluster); // a clear error if there is no such cluster
  const request = jobRequest(ctx.home, task, resources, false);
  return submitJob(ctx, cluster, !!flags.detachRun, () => clusterHandle(client, cluster).executeUpdate(submitJobUpdate, { args: [request] }));
}
