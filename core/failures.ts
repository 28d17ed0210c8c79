// Failure kinds shared by providers (which throw them), activities (which turn them into
// ApplicationFailure types) and workflows (which branch on those types).

export const FAILURE_TYPES = {
  capacity: 'PetrelCapacityError',
  quota: 'PetrelQuotaError',
  config: 'PetrelConfigError',
  preempted: 'PetrelPreempted',
  userCode: 'PetrelUserCodeError',
  transient: 'PetrelTransientError',
} as const;

export type FailureKind = keyof typeof FAILURE_TYPES;

/** Where a capacity error applies: the failover loop blocks exactly this scope. */
export type CapacityScope = 'zone' | 'region' | 'cloud';

/** Failures that retrying the same call cannot fix. */
export const NON_RETRYABLE_FAILURE_TYPES: string[] = [
  FAILURE_TYPES.capacity,
  FAILURE_TYPES.quota,
  FAILURE_TYPES.config,
  FAILURE_TYPES.preempted,
  FAILURE_TYPES.userCode,
];
