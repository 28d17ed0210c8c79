// Pure transforms of AWS answers for scripts/refresh-catalog.mjs: the public bulk price list
// (CSV, streamed line by line: the JSON of one region is hundreds of MB in one string), EC2
// DescribeSpotPriceHistory and DescribeInstanceTypeOfferings.
import { applyRegion, type RefreshReport } from './refresh.js';
import type { Catalog } from './types.js';

/** One CSV line into fields ("a","b ""c""",d). */
export function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let v = '';
      i++;
      while (i < line.length) {
        if (line[i] === '"' && line[i + 1] === '"') [v, i] = [v + '"', i + 2];
        else if (line[i] === '"') break;
        else v += line[i++];
      }
      out.push(v);
      i += 2; // closing quote and comma
    } else {
      const end = line.indexOf(',', i);
      out.push(line.slice(i, end < 0 ? line.length : end));
      i = end < 0 ? line.length + 1 : end + 1;
    }
  }
  return out;
}

/**
 * Reads a region's bulk price list CSV (…/offers/v1.0/aws/AmazonEC2/current/<region>/index.csv)
 * one line at a time and keeps the Linux, shared-tenancy, no-preinstalled-software, on-demand
 * hourly price of each wanted instance type.
 */
export function awsPriceListReader(wanted: ReadonlySet<string>) {
  let header: Map<string, number> | undefined;
  const prices = new Map<string, number>();
  return {
    push(line: string): void {
      if (!line.trim()) return;
      const f = splitCsvLine(line);
      if (!header) {
        // Metadata lines ("FormatVersion","v1.0" …) come before the header.
        if (f[0] === 'SKU') header = new Map(f.map((name, i) => [name, i]));
        return;
      }
      const get = (name: string) => f[header!.get(name) ?? -1] ?? '';
      const type = get('Instance Type');
      if (!wanted.has(type)) return;
      const license = get('License Model');
      if (
        get('TermType') !== 'OnDemand' ||
        get('Unit') !== 'Hrs' ||
        get('Currency') !== 'USD' ||
        get('Operating System') !== 'Linux' ||
        get('Tenancy') !== 'Shared' ||
        get('Pre Installed S/W') !== 'NA' ||
        get('CapacityStatus') !== 'Used' ||
        (license !== '' && license !== 'No License required')
      ) {
        return;
      }
      const price = Number(get('PricePerUnit'));
      if (price > 0 && !(prices.get(type)! <= price)) prices.set(type, price);
    },
    prices(): Map<string, number> {
      return prices;
    },
  };
}

export interface SpotPriceItem {
  InstanceType?: string;
  AvailabilityZone?: string;
  SpotPrice?: string;
  Timestamp?: Date | string;
}

/** The latest spot price per instance type and zone (DescribeSpotPriceHistory answers hold several per zone). */
export function latestSpotPrices(items: readonly SpotPriceItem[]): Map<string, Map<string, number>> {
  const latest = new Map<string, { at: number; price: number }>();
  for (const it of items) {
    if (!it.InstanceType || !it.AvailabilityZone || it.SpotPrice === undefined) continue;
    const at = it.Timestamp === undefined ? 0 : new Date(it.Timestamp).getTime();
    const key = `${it.InstanceType}\0${it.AvailabilityZone}`;
    const held = latest.get(key);
    const price = Number(it.SpotPrice);
    if (!(price > 0)) continue;
    if (!held || at > held.at) latest.set(key, { at, price });
  }
  const out = new Map<string, Map<string, number>>();
  for (const [key, { price }] of latest) {
    const [type, zone] = key.split('\0') as [string, string];
    if (!out.has(type)) out.set(type, new Map());
    out.get(type)!.set(zone, price);
  }
  return out;
}

export interface TypeOfferingItem {
  InstanceType?: string;
  /** the zone, for LocationType availability-zone */
  Location?: string;
}

export function zonesByType(items: readonly TypeOfferingItem[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const it of items) {
    if (!it.InstanceType || !it.Location) continue;
    const zones = out.get(it.InstanceType) ?? [];
    if (!zones.includes(it.Location)) zones.push(it.Location);
    out.set(it.InstanceType, zones);
  }
  return out;
}

/** A region's fresh AWS data into the catalog: types without an on-demand price keep their old offer. */
export function applyAwsRegion(
  catalog: Catalog,
  region: string,
  data: { onDemand: Map<string, number>; spot: Map<string, Map<string, number>>; zones: Map<string, string[]> },
  report: RefreshReport,
): Catalog {
  return applyRegion(
    catalog,
    region,
    (row) => {
      const zones = data.zones.get(row.instanceType);
      if (data.zones.size > 0 && !zones) return null;
      const onDemand = data.onDemand.get(row.instanceType);
      if (onDemand === undefined) return undefined;
      return { onDemand, spot: data.spot.get(row.instanceType) ?? new Map(), ...(zones ? { zones } : {}) };
    },
    report,
  );
}
