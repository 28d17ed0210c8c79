// Pure steps of scripts/refresh-catalog.mjs shared by both clouds: put freshly fetched prices
// into a catalog, keeping the rows (the curated selection) and what was not fetched.
import type { Catalog, CatalogRow, RegionOffer } from './types.js';

export interface FreshOffer {
  onDemand: number;
  /** spot price per zone (AWS); or one price for every zone under the key '*' (GCP) */
  spot?: Map<string, number>;
  /** absent: keep the zones the catalog had */
  zones?: string[];
}

export interface RefreshReport {
  catalog: Catalog;
  /** rows × regions whose prices were replaced */
  updated: number;
  /** "p5.48xlarge in eu-west-1: not offered any more" and the like */
  notes: string[];
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;

/** The offer a row gets from fresh data; zones in the region's order, spot as region minimum plus differing zones. */
export function freshOffer(region: string, fresh: FreshOffer, old: RegionOffer | undefined, regionZones: readonly string[]): RegionOffer | undefined {
  const zones = [...(fresh.zones ?? old?.zones ?? [])].sort((a, b) => order(regionZones, a) - order(regionZones, b) || a.localeCompare(b));
  if (zones.length === 0) return undefined;
  const offer: RegionOffer = { region, onDemand: round(fresh.onDemand), zones };
  if (fresh.spot && fresh.spot.size > 0) {
    const everywhere = fresh.spot.get('*');
    const byZone = zones.map((z) => [z, fresh.spot!.get(z) ?? everywhere] as const).filter((e): e is readonly [string, number] => e[1] !== undefined);
    if (byZone.length > 0) {
      const spot = round(Math.min(...byZone.map(([, p]) => p)));
      offer.spot = spot;
      const differs = byZone.filter(([, p]) => round(p) !== spot);
      if (differs.length) offer.zoneSpot = Object.fromEntries(differs.map(([z, p]) => [z, round(p)]));
    }
  }
  return offer;
}

function order(zones: readonly string[], z: string): number {
  const i = zones.indexOf(z);
  return i < 0 ? zones.length : i;
}

/**
 * Replaces each row's offer in `region` by `fresh(row)`: undefined = the row's data was not in
 * the answer (kept as it was, noted); null = not offered there any more (dropped, noted).
 */
export function applyRegion(
  catalog: Catalog,
  region: string,
  fresh: (row: CatalogRow) => FreshOffer | null | undefined,
  report: RefreshReport,
): Catalog {
  const regionZones = catalog.regions.find((r) => r.name === region)?.zones ?? [];
  const rows = catalog.rows.map((row) => {
    const old = row.offers.find((o) => o.region === region);
    const f = fresh(row);
    if (f === undefined) {
      if (old) report.notes.push(`${rowName(row)} in ${region}: no price in the answer; kept ${old.onDemand}`);
      return row;
    }
    const next = f === null ? undefined : freshOffer(region, f, old, regionZones);
    if (!next && old) report.notes.push(`${rowName(row)} in ${region}: not offered any more; dropped`);
    if (next) report.updated++;
    const offers = row.offers.filter((o) => o.region !== region);
    if (next) offers.push(next);
    offers.sort((a, b) => catalog.regions.findIndex((r) => r.name === a.region) - catalog.regions.findIndex((r) => r.name === b.region));
    return { ...row, offers };
  });
  return { ...catalog, rows };
}

export function rowName(row: CatalogRow): string {
  return row.accelerator?.apiName ? `${row.instanceType}+${row.accelerator.name}:${row.accelerator.count}` : row.instanceType;
}

export function stamped(catalog: Catalog, fetchedAt: string, source: string): Catalog {
  return { ...catalog, fetchedAt, source };
}
