// Reading failures that come back from activities.
import { ApplicationFailure } from '@temporalio/workflow';

export function rootCauseOf(err: unknown): unknown {
  let e = err as { cause?: unknown } | undefined;
  while (e && typeof e === 'object' && 'cause' in e && e.cause) e = e.cause as { cause?: unknown };
  return e;
}

export function failureType(err: unknown): string | undefined {
  const root = rootCauseOf(err);
  return root instanceof ApplicationFailure ? (root.type ?? undefined) : undefined;
}

export function failureDetails<T>(err: unknown): T | undefined {
  const root = rootCauseOf(err);
  return root instanceof ApplicationFailure ? (root.details?.[0] as T | undefined) : undefined;
}

/** Detail `index` of the root ApplicationFailure (failureDetails is detail 0). */
export function failureDetail<T>(err: unknown, index: number): T | undefined {
  const root = rootCauseOf(err);
  return root instanceof ApplicationFailure ? (root.details?.[index] as T | undefined) : undefined;
}

export function errorMessage(err: unknown): string {
  const root = rootCauseOf(err);
  return root instanceof Error ? root.message : String(root);
}
