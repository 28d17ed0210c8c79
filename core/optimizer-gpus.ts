// `petrel show-gpus` for priced clouds: the accelerators of the catalogs with counts and
// on-demand/spot prices per region (free infra reports its own GPUs; see cli/handlers/show-gpus.ts).
import { BUILTIN_CATALOGS } from './catalog/index.js';
import type { Catalog } from './catalog/types.js';
import { alignColumns, catalogDates, formatHourly } from './optimizer-table.js';
import { parseAcceleratorString } from './spec/accelerators.js';

export interface GpuPriceRow {
  cloud: string;
  region: string;
  instanceType: string;
  accelerator: string;
  count: number;
  /** per device */
  acceleratorMemoryGb: number;
  vcpus: number;
  memoryGb: number;
  /** USD per instance-hour */
  onDemand: number;
  /** the cheapest zone's spot price; absent = no spot offer there */
  spot?: number;
  zones: string[];
}

export interface GpuFilter {
  /** "A100" (any count) or "A100:8"; any case */
  accelerator?: string;
  cloud?: string;
  region?: string;
}

function parseFilter(text: string): { name: string; count?: number } {
  const parsed = parseAcceleratorString(text);
  const entry = parsed.ok && parsed.value.accelerators ? Object.entries(parsed.value.accelerators)[0] : undefined;
  if (!entry) return { name: text.trim() };
  return text.includes(':') ? { name: entry[0], count: entry[1] } : { name: entry[0] };
}

/** Rows in catalog order (cloud, then instance type, then region); filters match names in any case. */
export function catalogGpuRows(filter: GpuFilter = {}, catalogs: readonly Catalog[] = BUILTIN_CATALOGS): GpuPriceRow[] {
  const want = filter.accelerator !== undefined ? parseFilter(filter.accelerator) : undefined;
  const out: GpuPriceRow[] = [];
  for (const catalog of catalogs) {
    if (filter.cloud !== undefined && catalog.cloud !== filter.cloud.toLowerCase()) continue;
    for (const row of catalog.rows) {
      const a = row.accelerator;
      if (!a) continue;
      if (want && (a.name.toLowerCase() !== want.name.toLowerCase() || (want.count !== undefined && a.count !== want.count))) continue;
      for (const o of row.offers) {
        if (filter.region !== undefined && o.region !== filter.region) continue;
        out.push({
          cloud: catalog.cloud,
          region: o.region,
          instanceType: row.instanceType,
          accelerator: a.name,
          count: a.count,
          acceleratorMemoryGb: a.memoryGb,
          vcpus: row.vcpus,
          memoryGb: row.memoryGb,
          onDemand: o.onDemand,
          ...(o.spot !== undefined ? { spot: o.spot } : {}),
          zones: o.zones,
        });
      }
    }
  }
  return out;
}

/**
 * A table as SkyPilot's `show-gpus NAME`: one line per cloud and instance type, in its cheapest
 * region (every region with `allRegions`), sorted by accelerator, count and price.
 */
export function formatGpuTable(rows: readonly GpuPriceRow[], opts: { allRegions?: boolean; catalogs?: readonly Catalog[] } = {}): string {
  let shown = [...rows];
  if (!opts.allRegions) {
    const cheapest = new Map<string, GpuPriceRow>();
    for (const r of rows) {
      const k = `${r.cloud}\0${r.instanceType}\0${r.accelerator}\0${r.count}`;
      const held = cheapest.get(k);
      if (!held || r.onDemand < held.onDemand) cheapest.set(k, r);
    }
    shown = [...cheapest.values()];
  }
  if (shown.length === 0) return 'No accelerator in the catalogs matches.';
  shown.sort((a, b) => a.accelerator.localeCompare(b.accelerator) || a.count - b.count || a.onDemand - b.onDemand || a.cloud.localeCompare(b.cloud));
  const table = alignColumns(
    ['GPU', 'QTY', 'CLOUD', 'INSTANCE', 'DEVICE MEM', 'vCPUs', 'HOST MEM', '$/HOUR', 'SPOT $/HOUR', 'REGION'],
    shown.map((r) => [
      r.accelerator,
      String(r.count),
      r.cloud,
      r.instanceType,
      `${r.acceleratorMemoryGb}GB`,
      String(r.vcpus),
      `${r.memoryGb}GB`,
      formatHourly(r.onDemand),
      r.spot === undefined ? '-' : formatHourly(r.spot),
      r.region,
    ]),
  );
  const dates = catalogDates([...new Set(shown.map((r) => r.cloud))], opts.catalogs);
  return `${table}\nPrices in USD per hour (${dates}).`;
}
