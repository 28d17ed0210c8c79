// `launch --dryrun` / `jobs launch --dryrun`: the plan as a table, the chosen placement first,
// then the alternatives the failover would try, with prices per node and for all nodes.
import { BUILTIN_CATALOGS } from './catalog/index.js';
import type { Catalog } from './catalog/types.js';
import type { Plan, PlanEntry } from './optimizer.js';

/** Aligned columns, two spaces apart (as cli/table.ts; core may not import the CLI). */
export function alignColumns(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [fmt(headers), ...rows.map(fmt)].join('\n');
}

/** "$0", "$0.0353", "$21.96": hourly rates under a dollar keep four decimals. */
export function formatHourly(usd: number): string {
  if (usd === 0) return '$0';
  return `$${usd < 1 ? usd.toFixed(4) : usd.toFixed(2)}`;
}

export function formatAccelerators(a: Record<string, number> | undefined): string {
  const parts = Object.entries(a ?? {}).map(([n, c]) => `${n}:${c}`);
  return parts.length ? parts.join(', ') : '-';
}

const infraOf = (e: PlanEntry, withZone: boolean) => [e.cloud, e.region, withZone ? e.zone : undefined].filter(Boolean).join('/');

/** Catalog dates of the clouds a plan uses, e.g. "aws prices of 2025-06-15". */
export function catalogDates(clouds: readonly string[], catalogs: readonly Catalog[] = BUILTIN_CATALOGS): string {
  return catalogs
    .filter((c) => clouds.includes(c.cloud))
    .map((c) => `${c.cloud} prices of ${c.fetchedAt}`)
    .join(', ');
}

/**
 * The chosen placement (marked ✔, with its zone), then up to `alternatives` (default 5) other
 * places in plan order, one row per region and instance type (the zones of a region follow
 * one another in the failover anyway). Infeasible candidates are listed below.
 */
export function formatPlanTable(plan: Plan, numNodes: number, opts: { alternatives?: number; catalogs?: readonly Catalog[] } = {}): string {
  const lines: string[] = [];
  const [chosen, ...rest] = plan.entries;
  if (chosen) {
    const max = opts.alternatives ?? 5;
    const shown: PlanEntry[] = [];
    const seen = new Set<string>([key(chosen)]);
    let more = 0;
    for (const e of rest) {
      const k = key(e);
      if (seen.has(k)) continue;
      seen.add(k);
      if (shown.length < max) shown.push(e);
      else more++;
    }
    const headers = ['', 'INFRA', 'INSTANCE', 'ACCELERATORS', 'vCPUs', 'MEM', 'SPOT', '$/HOUR'];
    if (numNodes > 1) headers.push(`$/HOUR x${numNodes} NODES`);
    const row = (e: PlanEntry, mark: string, withZone: boolean) => {
      const cells = [
        mark,
        infraOf(e, withZone),
        e.instanceType ?? '-',
        formatAccelerators(e.accelerators),
        e.vcpus === undefined ? '-' : String(e.vcpus),
        e.memoryGb === undefined ? '-' : `${e.memoryGb}GB`,
        e.useSpot ? 'yes' : 'no',
        formatHourly(e.hourlyPrice),
      ];
      if (numNodes > 1) cells.push(formatHourly(e.hourlyPrice * numNodes));
      return cells;
    };
    lines.push(alignColumns(headers, [row(chosen, '✔', true), ...shown.map((e) => row(e, '', false))]));
    if (more > 0) lines.push(`… and ${more} more`);
    const clouds = [...new Set([chosen, ...shown].map((e) => e.cloud))];
    const dates = catalogDates(clouds, opts.catalogs);
    if (dates) lines.push(`Prices in USD per hour (${dates}).`);
  } else {
    lines.push('No placement fits this task.');
  }
  for (const f of plan.infeasible) {
    const hint = f.suggestions.length ? `; did you mean ${f.suggestions.join(', ')}?` : '';
    lines.push(`Candidate ${f.candidate + 1} fits nowhere: ${f.reason}${hint}`);
  }
  return lines.join('\n');
}

function key(e: PlanEntry): string {
  return JSON.stringify([e.candidate, e.cloud, e.region, e.instanceType, e.useSpot, e.accelerators]);
}
