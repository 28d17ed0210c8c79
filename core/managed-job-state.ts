// Managed-job statuses, with SkyPilot's names and meanings (sky/jobs/state.py).

export type ManagedJobStatus =
  | 'PENDING'
  | 'STARTING'
  | 'RUNNING'
  | 'RECOVERING'
  | 'CANCELLING'
  | 'SUCCEEDED'
  | 'CANCELLED'
  | 'FAILED'
  | 'FAILED_SETUP'
  | 'FAILED_PRECHECKS'
  | 'FAILED_NO_RESOURCE'
  | 'FAILED_CONTROLLER'
  /** Petrel's own: stopped because its spend would pass its --max-cost budget */
  | 'FAILED_BUDGET';

export const TERMINAL_MANAGED_JOB_STATUSES: readonly ManagedJobStatus[] = [
  'SUCCEEDED',
  'CANCELLED',
  'FAILED',
  'FAILED_SETUP',
  'FAILED_PRECHECKS',
  'FAILED_NO_RESOURCE',
  'FAILED_CONTROLLER',
  'FAILED_BUDGET',
];

export function isTerminalManagedJobStatus(s: ManagedJobStatus): boolean {
  return TERMINAL_MANAGED_JOB_STATUSES.includes(s);
}

/** How one attempt (a provision, and the run on it if it got that far) ended. */
export type AttemptOutcome =
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'restarted'
  | 'preempted'
  | 'no_capacity'
  | 'quota'
  | 'precheck_failed'
  | 'setup_failed'
  | 'cancelled'
  | 'error';
