// Which catalog rows satisfy a resource request, as SkyPilot's catalog filter decides
// (sky/catalog/common.py): exact accelerator name (any case) and count, then cpus/memory.
import { parseAcceleratorMemory } from '../spec/accelerators.js';
import type { Quantity } from '../task.js';
import type { Catalog, CatalogRow, RegionOffer } from './types.js';

export interface RowRequest {
  accelerators?: Record<string, number>;
  /** canonical memory-based demand, e.g. `80GB+`, `nvidia:48GB:2` */
  acceleratorMemory?: string;
  cpus?: Quantity;
  memoryGb?: Quantity;
  instanceType?: string;
}

/**
 * SkyPilot's default for a request that names neither accelerators, instance type, cpus nor
 * memory (aws_catalog._DEFAULT_NUM_VCPUS = 8, _DEFAULT_MEMORY_CPU_RATIO = 4): 8+ vCPUs with at
 * least 4 GiB per vCPU, from the catalog's default families.
 */
export const DEFAULT_VCPUS = 8;
export const DEFAULT_MEMORY_PER_VCPU_GB = 4;

const fits = (have: number, want: Quantity | undefined) => want === undefined || (want.orMore ? have >= want.value : have === want.value);

function acceleratorFits(row: CatalogRow, req: RowRequest): boolean {
  const a = row.accelerator;
  const wanted = req.accelerators ? Object.entries(req.accelerators) : [];
  if (wanted.length > 0) {
    const [name, count] = wanted[0]!;
    return a !== undefined && a.name.toLowerCase() === name.toLowerCase() && a.count === count;
  }
  if (req.acceleratorMemory !== undefined) {
    const m = parseAcceleratorMemory(req.acceleratorMemory);
    if (!m || !a) return false;
    if (m.manufacturer && m.manufacturer.toLowerCase() !== a.manufacturer.toLowerCase()) return false;
    return a.count === m.count && (m.orMore ? a.memoryGb >= m.memoryGb : a.memoryGb === m.memoryGb);
  }
  // An instance_type pin brings whatever accelerators it has.
  return req.instanceType !== undefined || a === undefined;
}

export function rowFits(catalog: Catalog, row: CatalogRow, req: RowRequest): boolean {
  if (req.instanceType !== undefined && row.instanceType.toLowerCase() !== req.instanceType.toLowerCase()) return false;
  if (!acceleratorFits(row, req)) return false;
  if (!fits(row.vcpus, req.cpus) || !fits(row.memoryGb, req.memoryGb)) return false;
  const bare = req.instanceType === undefined && !req.accelerators && req.acceleratorMemory === undefined;
  if (bare && !catalog.defaultFamilies.includes(row.family)) return false;
  if (bare && req.cpus === undefined && req.memoryGb === undefined) {
    return row.vcpus >= DEFAULT_VCPUS && row.memoryGb >= DEFAULT_MEMORY_PER_VCPU_GB * row.vcpus;
  }
  return true;
}

/** USD per instance-hour in a zone (or the region's price without one); undefined = no spot offer. */
export function offerPrice(offer: RegionOffer, useSpot: boolean, zone?: string): number | undefined {
  if (!useSpot) return offer.onDemand;
  if (offer.spot === undefined) return undefined;
  return (zone !== undefined ? offer.zoneSpot?.[zone] : undefined) ?? offer.spot;
}
