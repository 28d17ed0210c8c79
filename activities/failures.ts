// Provider errors become ApplicationFailures whose type the workflows branch on.
import { ApplicationFailure } from '@temporalio/common';
import { FAILURE_TYPES } from '../core/failures.js';
import { ProviderError } from '../providers/types.js';

export function toApplicationFailure(err: unknown): unknown {
  if (err instanceof ProviderError) {
    return ApplicationFailure.create({
      type: FAILURE_TYPES[err.kind],
      message: err.message,
      nonRetryable: err.kind !== 'transient',
      details: err.scope ? [{ scope: err.scope }] : [],
    });
  }
  return err;
}

/** Runs an activity body, translating typed provider errors on the way out. */
export async function mapProviderErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toApplicationFailure(err);
  }
}
