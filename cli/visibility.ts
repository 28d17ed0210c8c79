// Visibility queries over Petrel's search attributes, and reading them back from listings.
import type { WorkflowExecutionInfo } from '@temporalio/client';
import { TERMINAL_MANAGED_JOB_STATUSES } from '../core/managed-job-state.js';

type WithAttributes = Pick<WorkflowExecutionInfo, 'typedSearchAttributes'>;

/** A value as a quoted literal of Temporal's list-filter language. */
export function literal(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export const RUNNING_CLUSTERS = "PetrelKind = 'cluster' AND ExecutionStatus = 'Running'";
export const MANAGED_JOBS = "PetrelKind = 'job'";
/** the steps of pipelines (and members of job groups), child workflows `job/<id>/<index>` */
export const STEPS = "PetrelKind = 'job-task'";
export const NOT_ENDED = `PetrelStatus NOT IN (${TERMINAL_MANAGED_JOB_STATUSES.map(literal).join(', ')})`;

/** A Petrel search attribute of a listed workflow, as a string (undefined if unset). */
export function attribute(wf: WithAttributes, name: string): string | undefined {
  const value = wf.typedSearchAttributes.getAll().find((p) => p.key.name === name)?.value;
  return value === undefined || value === null ? undefined : String(value);
}

/** The user who recorded a listed or described workflow (undefined: recorded before users existed). */
export function ownerOf(wf: WithAttributes): string | undefined {
  return attribute(wf, 'PetrelUser');
}

/**
 * What `user` sees without --all-users: their own, and what was recorded before users existed
 * (no PetrelUser), which counts as everyone's.
 */
export function visibleTo(user: string): string {
  return `(PetrelUser = ${literal(user)} OR PetrelUser IS NULL)`;
}

/** Recorded by some user other than `user` (IS NOT NULL: `!=` alone matches unset values on some stores). */
export function ofOtherUsers(user: string): string {
  return `(PetrelUser != ${literal(user)} AND PetrelUser IS NOT NULL)`;
}
