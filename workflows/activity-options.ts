// Activity options shared by Petrel's workflows.
import { ActivityCancellationType, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { ClusterActivities } from '../activities/cluster-activities.js';
import type { JobActivities } from '../activities/job-activities.js';
import type { PhaseWatchActivities } from '../activities/phase-watch-activities.js';
import { NON_RETRYABLE_FAILURE_TYPES } from '../core/failures.js';

// Every activity heartbeats while it works: a worker that dies mid-call is noticed after one
// heartbeat timeout, and the retry (idempotent by design) picks up where it stopped.
export const SHORT: ActivityOptions = {
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '10s',
  retry: { initialInterval: '1s', maximumInterval: '30s', nonRetryableErrorTypes: NON_RETRYABLE_FAILURE_TYPES },
};

export const LONG: ActivityOptions = {
  startToCloseTimeout: '3650 days',
  heartbeatTimeout: '10s',
  cancellationType: ActivityCancellationType.TRY_CANCEL,
  retry: { initialInterval: '1s', maximumInterval: '10s', nonRetryableErrorTypes: NON_RETRYABLE_FAILURE_TYPES },
};

// Teardown must eventually succeed: never give up, back off to once a minute.
export const TEARDOWN: ActivityOptions = {
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '10s',
  retry: { initialInterval: '1s', maximumInterval: '60s' },
};

/** Activities with a one-line summary that the Temporal UI shows for the call. */
export function activities(options: ActivityOptions, summary?: string, taskQueue?: string) {
  return proxyActivities<ClusterActivities & JobActivities & PhaseWatchActivities>({ ...options, ...(summary ? { summary } : {}), ...(taskQueue ? { taskQueue } : {}) });
}
