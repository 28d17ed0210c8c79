// What a managed job's attempts cost, as billed spans (core/cost.ts): the workflow keeps them in
// its memo and `jobs describe` prices each attempt the same way. Pure (no workflow APIs).
import { type BilledSpan } from '../core/cost.js';
import { placementLabel } from '../core/failover.js';
import type { AttemptView } from './managed-job-types.js';

/** An attempt's billed machines; undefined when it ran none (free infra, or a refused provision created nothing). */
export function attemptSpan(a: AttemptView): BilledSpan | undefined {
  if ((a.hourlyPrice ?? 0) <= 0 || ['no_capacity', 'quota', 'precheck_failed'].includes(a.outcome)) return undefined;
  return {
    infra: placementLabel(a),
    ...(a.instanceType ? { instanceType: a.instanceType } : {}),
    spot: !!a.useSpot,
    nodes: a.numNodes ?? 1,
    hourlyPrice: a.hourlyPrice!,
    startedAt: a.startedAt,
    ...(a.endedAt ? { endedAt: a.endedAt } : {}),
  };
}

export function billedSpans(attempts: readonly AttemptView[]): BilledSpan[] {
  return attempts.flatMap((a) => attemptSpan(a) ?? []);
}
