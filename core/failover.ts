// Where to (re)launch a managed job: the candidate placements in preference order, minus
// the scopes that failed, reordered by the recovery strategy. Pure and deterministic, so
// the workflow can keep its state in history and replay it.
import type { CapacityScope } from './failures.js';
import type { RecoveryStrategy } from './task.js';

export interface Placement {
  cloud: string;
  region?: string;
  zone?: string;
}

/** One launchable option: a resource candidate of the task pinned to a place. */
export interface PlacementCandidate extends Placement {
  /** index into the task's resource candidates */
  candidate: number;
  /** the instance type the optimizer chose there (clouds; absent in plans recorded before) */
  instanceType?: string;
  /** spot or on-demand (clouds) */
  useSpot?: boolean;
  /** USD per node-hour there; 0 on infra Petrel does not bill for (local, SSH, Slurm, Kubernetes) */
  hourlyPrice?: number;
}

export interface BlockedScope extends Placement {
  scope: CapacityScope;
  reason: string;
  /** the infra refused us (credentials, permissions), not a lack of capacity: it stays blocked across passes */
  refused?: boolean;
}

export function placementLabel(p: Placement): string {
  return [p.cloud, p.region, p.zone].filter(Boolean).join('/');
}

export function blockFor(p: Placement, scope: CapacityScope, reason: string): BlockedScope {
  if (scope === 'cloud') return { cloud: p.cloud, scope, reason };
  if (scope === 'zone' && p.zone) return { cloud: p.cloud, region: p.region, zone: p.zone, scope, reason };
  return { cloud: p.cloud, region: p.region, scope: 'region', reason };
}

export function isBlocked(p: Placement, blocked: readonly BlockedScope[]): boolean {
  return blocked.some((b) => {
    if (b.cloud !== p.cloud) return false;
    if (b.scope === 'cloud') return true;
    if (b.region !== p.region) return false;
    return b.scope === 'region' || b.zone === p.zone;
  });
}

const sameRegion = (a: Placement, b: Placement) => a.cloud === b.cloud && a.region === b.region;

/**
 * The placement to try next. After a preemption in `lastRegion`, EAGER_NEXT_REGION tries
 * every other region first and that region only when nothing else is left; FAILOVER tries
 * the same region first. At first launch both keep the preference order.
 */
export function nextPlacement(
  candidates: readonly PlacementCandidate[],
  blocked: readonly BlockedScope[],
  strategy: RecoveryStrategy,
  lastRegion?: Placement,
): PlacementCandidate | undefined {
  const open = candidates.filter((c) => !isBlocked(c, blocked));
  if (!lastRegion) return open[0];
  const here = open.filter((c) => sameRegion(c, lastRegion));
  const elsewhere = open.filter((c) => !sameRegion(c, lastRegion));
  return strategy === 'FAILOVER' ? (here[0] ?? elsewhere[0]) : (elsewhere[0] ?? here[0]);
}

/** Capped exponential backoff between full passes over the candidates. */
export function passBackoffMs(pass: number, baseMs = 2_000, capMs = 60_000): number {
  return Math.min(capMs, baseMs * 2 ** Math.max(0, pass - 1));
}
