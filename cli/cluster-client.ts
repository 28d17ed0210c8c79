// Talking to one cluster workflow, with errors a user understands.
import type { Client, WorkflowHandle } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { clusterWorkflowId } from '../core/names.js';
import { clusterStatusQuery } from '../workflows/cluster-messages.js';
import type { ClusterView } from '../workflows/cluster-types.js';
import { UserError } from './errors.js';

export function clusterHandle(client: Client, name: string): WorkflowHandle {
  return client.workflow.getHandle(clusterWorkflowId(name));
}

/** The live view of a running cluster; a UserError if there is no such cluster. */
export async function clusterView(client: Client, name: string): Promise<ClusterView> {
  const handle = clusterHandle(client, name);
  try {
    const desc = await handle.describe();
    if (desc.status.name !== 'RUNNING') throw new UserError(`cluster '${name}' does not exist (it was torn down); see petrel status`);
    return await handle.query(clusterStatusQuery);
  } catch (err) {
    throw asUserError(err, name);
  }
}

export function asUserError(err: unknown, name: string): unknown {
  if (err instanceof UserError) return err;
  if (err instanceof WorkflowNotFoundError) return new UserError(`cluster '${name}' does not exist; see petrel status`);
  const e = err as { message?: string; cause?: { message?: string } };
  const msg = e?.cause?.message ?? e?.message ?? String(err);
  if (/workflow execution already completed|not found/i.test(msg)) return new UserError(`cluster '${name}' does not exist; see petrel status`);
  if (/Update.*rejected|validator/i.test(msg) || e?.cause) return new UserError(`cluster '${name}': ${msg}`);
  return err;
}
