// The built-in catalogs and lookups by cloud, instance type and region (for the optimizer, the
// cloud providers and `petrel show-gpus`).
import { AWS_CATALOG } from './aws-data.js';
import { GCP_CATALOG } from './gcp-data.js';
import { offerPrice, rowFits, type RowRequest } from './match.js';
import type { Catalog, CatalogRow, RegionOffer } from './types.js';

export type { Catalog, CatalogAccelerator, CatalogRegion, CatalogRow, PricedCloud, RegionOffer } from './types.js';
export { DEFAULT_MEMORY_PER_VCPU_GB, DEFAULT_VCPUS, offerPrice, rowFits, type RowRequest } from './match.js';

export const BUILTIN_CATALOGS: readonly Catalog[] = [AWS_CATALOG, GCP_CATALOG];

export function catalogFor(cloud: string, catalogs: readonly Catalog[] = BUILTIN_CATALOGS): Catalog | undefined {
  return catalogs.find((c) => c.cloud === cloud);
}

/** The clouds a catalog prices ('aws', 'gcp'). */
export function pricedClouds(catalogs: readonly Catalog[] = BUILTIN_CATALOGS): string[] {
  return catalogs.map((c) => c.cloud);
}

/** Region names in the catalog's preference order (a provider's regions()). */
export function catalogRegions(cloud: string, catalogs?: readonly Catalog[]): string[] {
  return catalogFor(cloud, catalogs)?.regions.map((r) => r.name) ?? [];
}

/** The zones of a region in the catalog's order (a provider's zones()). */
export function catalogZones(cloud: string, region: string, catalogs?: readonly Catalog[]): string[] {
  return catalogFor(cloud, catalogs)?.regions.find((r) => r.name === region)?.zones ?? [];
}

export interface CatalogOffer {
  row: CatalogRow;
  offer: RegionOffer;
}

/**
 * The row of an instance type (GCP N1: the one with these accelerators attached; without
 * `accelerators` the bare machine type, else the first) offered in a region.
 */
export function lookupInstance(
  cloud: string,
  instanceType: string,
  region: string,
  accelerators?: Record<string, number>,
  catalogs?: readonly Catalog[],
): CatalogOffer | undefined {
  const catalog = catalogFor(cloud, catalogs);
  if (!catalog) return undefined;
  const found: CatalogOffer[] = [];
  for (const row of catalog.rows) {
    if (row.instanceType.toLowerCase() !== instanceType.toLowerCase()) continue;
    const offer = row.offers.find((o) => o.region === region);
    if (offer) found.push({ row, offer });
  }
  const wanted = accelerators && Object.entries(accelerators)[0];
  if (wanted) {
    return found.find(({ row: r }) => r.accelerator?.name.toLowerCase() === wanted[0].toLowerCase() && r.accelerator.count === wanted[1]);
  }
  return found.find(({ row: r }) => !r.accelerator?.apiName) ?? found[0];
}

/** The zones of `region` offering that instance type (the first is where a zone-less provision goes). */
export function zonesOffering(cloud: string, instanceType: string, region: string, accelerators?: Record<string, number>, catalogs?: readonly Catalog[]): string[] {
  return lookupInstance(cloud, instanceType, region, accelerators, catalogs)?.offer.zones ?? [];
}

export interface CheapestFit extends CatalogOffer {
  /** USD per instance-hour */
  price: number;
}

/**
 * The cheapest row of `cloud` that fits the request in `region` (a provider given no
 * instance type). Ties keep catalog order.
 */
export function cheapestFit(
  cloud: string,
  req: RowRequest & { useSpot: boolean; region: string; zone?: string },
  catalogs?: readonly Catalog[],
): CheapestFit | undefined {
  const catalog = catalogFor(cloud, catalogs);
  if (!catalog) return undefined;
  let best: CheapestFit | undefined;
  for (const row of catalog.rows) {
    if (!rowFits(catalog, row, req)) continue;
    const offer = row.offers.find((o) => o.region === req.region);
    if (!offer || (req.zone !== undefined && !offer.zones.includes(req.zone))) continue;
    const price = offerPrice(offer, req.useSpot, req.zone);
    if (price !== undefined && (!best || price < best.price)) best = { row, offer, price };
  }
  return best;
}
