// Leasing hosts of fixed-host infra (SSH node pools) through the pool's entity workflow, from
// inside the provision and terminate activities, so every workflow that provisions gets
// exclusive hosts without knowing which infra needs it.
import { Context } from '@temporalio/activity';
import { WithStartWorkflowOperation, WorkflowNotFoundError } from '@temporalio/client';
import { TASK_QUEUE } from '../core/names.js';
import { ProviderError } from '../providers/types.js';
import { acquireHostsUpdate, hostPoolWorkflowId, releaseHostsUpdate } from '../workflows/host-pool-types.js';

export interface LeaseRequest {
  cloud: string;
  pool: string;
  cluster: string;
  count: number;
  hosts: string[];
}

/** The workflow that provisions is the lease holder; its end (any end) frees the hosts. */
function holder(): string {
  const id = Context.current().info.workflowExecution?.workflowId;
  if (!id) throw new Error('hosts can only be leased from an activity of a workflow');
  return id;
}

export async function leaseHosts(req: LeaseRequest): Promise<string[]> {
  const client = Context.current().client;
  const result = await client.workflow.executeUpdateWithStart(acquireHostsUpdate, {
    args: [{ holder: holder(), cluster: req.cluster, count: req.count, hosts: req.hosts }],
    startWorkflowOperation: new WithStartWorkflowOperation('hostPoolWorkflow', {
      workflowId: hostPoolWorkflowId(req.cloud, req.pool),
      taskQueue: TASK_QUEUE,
      args: [],
      workflowIdConflictPolicy: 'USE_EXISTING',
    }),
  });
  if (!result.granted) {
    throw new ProviderError(
      'capacity',
      `${req.cloud}/${req.pool}: ${req.count} host(s) needed, ${result.free} free of ${result.total} answering`,
      'region',
    );
  }
  return result.hosts;
}

export async function releaseHosts(cloud: string, pool: string, cluster: string): Promise<void> {
  try {
    await Context.current().client.workflow.getHandle(hostPoolWorkflowId(cloud, pool)).executeUpdate(releaseHostsUpdate, { args: [{ holder: holder(), cluster }] });
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err; // no pool workflow: nothing leased
  }
}

/** Which of these workflows have ended (or never existed): their leases can go. */
export async function endedWorkflows(workflowIds: string[]): Promise<string[]> {
  const client = Context.current().client;
  const ended: string[] = [];
  for (const id of workflowIds) {
    try {
      if ((await client.workflow.getHandle(id).describe()).status.name !== 'RUNNING') ended.push(id);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) ended.push(id);
      else throw err;
    }
  }
  return ended;
}
