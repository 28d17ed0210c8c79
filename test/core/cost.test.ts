// Billing arithmetic behind jobs describe, cost-report and --max-cost.
import { describe, expect, it } from 'vitest';
import { budgetRunsOutAt, formatUsd, parseUsd, spanCost, totalCost, type BilledSpan } from '../../core/cost.js';

const span = (over: Partial<BilledSpan> = {}): BilledSpan => ({
  infra: 'aws/us-east-1/us-east-1a',
  instanceType: 'p4d.24xlarge',
  spot: true,
  nodes: 2,
  hourlyPrice: 10,
  startedAt: '2026-01-01T00:00:00.000Z',
  endedAt: '2026-01-01T00:30:00.000Z',
  ...over,
});

describe('cost of billed spans', () => {
  it('is price per node-hour × nodes × hours, an open span priced up to now', () => {
    expect(spanCost(span(), 0)).toBeCloseTo(10);
    const open = span({ endedAt: undefined });
    expect(spanCost(open, Date.parse('2026-01-01T01:00:00.000Z'))).toBeCloseTo(20);
    expect(totalCost([span(), span({ nodes: 1, hourlyPrice: 4 })], 0)).toBeCloseTo(12);
  });

  it('never goes negative on clocks that disagree or dates that do not parse', () => {
    expect(spanCost(span({ endedAt: '2025-12-31T23:00:00.000Z' }), 0)).toBe(0);
    expect(spanCost(span({ startedAt: 'garbage' }), 0)).toBe(0);
  });
});

describe('budget', () => {
  it('runs out when spent + hourly × time reaches the limit', () => {
    const t0 = Date.parse('2026-01-01T00:00:00.000Z');
    // $5 spent, $10 left at $20/h: half an hour
    expect(budgetRunsOutAt(5, 20, t0, 15)).toBe(t0 + 30 * 60_000);
    expect(budgetRunsOutAt(15, 20, t0, 15)).toBe(t0);
    expect(budgetRunsOutAt(20, 20, t0, 15)).toBe(t0);
    expect(budgetRunsOutAt(0, 0, t0, 15)).toBeUndefined();
  });

  it('parses --max-cost amounts and refuses the rest', () => {
    expect(parseUsd('25')).toBe(25);
    expect(parseUsd('$12.50')).toBe(12.5);
    expect(parseUsd(' .5 ')).toBe(0.5);
    for (const bad of ['0', '-3', 'ten', '1e3', '', '$', '12.5.1']) expect(parseUsd(bad)).toBeUndefined();
  });

  it('formats small sums so a short job does not read as free', () => {
    expect(formatUsd(0)).toBe('$0');
    expect(formatUsd(0.0042)).toBe('$0.0042');
    expect(formatUsd(12.345)).toBe('$12.35');
  });
});
