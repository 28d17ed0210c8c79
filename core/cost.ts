// What a cluster or managed job costs: each stretch of time its machines were billed (an
// attempt's cluster, a cluster between start and stop) at the price the optimizer planned.
// Pure, so the workflows can keep the spans in their memo and `petrel cost-report` can price a
// running span up to now without asking anyone.

/** One stretch of billed machines. Plain JSON: it lives in workflow memos. */
export interface BilledSpan {
  /** cloud/region/zone */
  infra: string;
  instanceType?: string;
  spot: boolean;
  nodes: number;
  /** USD per node-hour */
  hourlyPrice: number;
  startedAt: string;
  /** absent while the machines still run */
  endedAt?: string;
}

/** The memo key both workflows keep their spans under. */
export const COST_MEMO_KEY = 'cost';

export interface CostMemo {
  spans: BilledSpan[];
}

const HOUR_MS = 3_600_000;

export function spanHourlyTotal(span: BilledSpan): number {
  return span.hourlyPrice * span.nodes;
}

/** Hours `span`'s machines ran, up to its end, or up to `nowMs` while they run. */
export function spanHours(span: BilledSpan, nowMs: number): number {
  const from = Date.parse(span.startedAt);
  const to = span.endedAt ? Date.parse(span.endedAt) : nowMs;
  if (!Number.isFinite(from) || !Number.isFinite(to) || to <= from) return 0;
  return (to - from) / HOUR_MS;
}

/** USD spent by `span` up to its end, or up to `nowMs` while it runs. */
export function spanCost(span: BilledSpan, nowMs: number): number {
  return spanHourlyTotal(span) * spanHours(span, nowMs);
}

export function totalCost(spans: readonly BilledSpan[], nowMs: number): number {
  return spans.reduce((sum, s) => sum + spanCost(s, nowMs), 0);
}

/**
 * When spending `hourlyUsd` from `fromMs` on top of `spentUsd` reaches `maxUsd` (epoch ms), or
 * undefined when it never does (nothing billed). Already over: `fromMs`.
 */
export function budgetRunsOutAt(spentUsd: number, hourlyUsd: number, fromMs: number, maxUsd: number): number | undefined {
  if (hourlyUsd <= 0) return undefined;
  const left = maxUsd - spentUsd;
  if (left <= 0) return fromMs;
  return fromMs + Math.floor((left / hourlyUsd) * HOUR_MS);
}

/** "$12.34", "$0.0042" for small sums (a short test job must not read as free), "$0" for none. */
export function formatUsd(usd: number): string {
  if (usd === 0) return '$0';
  if (Math.abs(usd) < 0.01) return `$${usd.toPrecision(2)}`;
  return `$${usd.toFixed(2)}`;
}

/** Parses `--max-cost` / `jobs.max_cost`: a positive amount of USD, with or without `$`. */
export function parseUsd(text: string): number | undefined {
  const m = /^\s*\$?\s*(\d+(?:\.\d+)?|\.\d+)\s*$/.exec(text);
  if (!m) return undefined;
  const v = Number(m[1]);
  return v > 0 && Number.isFinite(v) ? v : undefined;
}
