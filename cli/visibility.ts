// Visibility queries over Petrel's search attributes, and reading them back from listings.
import type { WorkflowExecutionInfo } from '@temporalio/client';
import { TERMINAL_MANAGED_JOB_STATUSES } from '../core/managed-job-state.js';

/** A value as a quoted literal of Temporal's list-filter language. */
export function literal(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export const RUNNING_CLUSTERS = "PetrelKind = 'cluster' AND ExecutionStatus = 'Running'";
export const MANAGED_JOBS = "PetrelKind = 'job'";
export const NOT_ENDED = `PetrelStatus NOT IN (${TERMINAL_MANAGED_JOB_STATUSES.map(literal).join(', ')})`;

/** A Petrel search attribute of a listed workflow, as a string (undefined if unset). */
export function attribute(wf: WorkflowExecutionInfo, name: string): string | undefined {
  const value = wf.typedSearchAttributes.getAll().find((p) => p.key.name === name)?.value;
  return value === undefined || value === null ? undefined : String(value);
}
