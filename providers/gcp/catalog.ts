// What the GCP catalog (core/catalog) tells the provider: the regions and zones it may place
// clusters in, which machine type serves a request the optimizer did not size, and the
// acceleratorType to attach to an N1 machine (T4, V100, P100…: on A2/A3/G2 the machine type
// implies its GPUs).
import { catalogZones, cheapestFit } from '../../core/catalog/index.js';
import { GCP_CATALOG } from '../../core/catalog/gcp-data.js';
import type { CatalogRow } from '../../core/catalog/types.js';
import type { ProvisionRequest } from '../types.js';
import { ProviderError } from '../types.js';


/** `us-central1-a` → `us-central1` */
export function regionOfZone(zone: string): string {
  return zone.replace(/-[a-z]$/, '');
}

export interface MachinePlan {
  machineType: string;
  /** the GPUs to attach (N1 + T4/V100…); absent when the machine type has them built in, or none */
  guestAccelerator?: { apiName: string; count: number };
  /** the catalog row, when the catalog has one */
  row?: CatalogRow;
}

/**
 * The machine type for a request in a region: the optimizer's choice when it made one (with the
 * accelerator the catalog says to attach to it), else the cheapest catalog row that fits.
 */
export function planMachine(req: ProvisionRequest, region: string): MachinePlan {
  const acc = Object.entries(req.accelerators ?? {})[0];
  if (req.instanceType) {
    const rows = GCP_CATALOG.rows.filter((r) => r.instanceType === req.instanceType);
    const row = acc ? rows.find((r) => r.accelerator?.name.toLowerCase() === acc[0].toLowerCase() && r.accelerator.count === acc[1]) : rows.find((r) => !r.accelerator || !r.accelerator.apiName);
    if (acc && !row && rows.length && rows.every((r) => r.accelerator?.apiName)) {
      throw new ProviderError('config', `GCP machine type ${req.instanceType} takes no ${acc[1]}x ${acc[0]} in the catalog`);
    }
    const plan: MachinePlan = { machineType: req.instanceType, ...(row ? { row } : {}) };
    if (row?.accelerator?.apiName) plan.guestAccelerator = { apiName: row.accelerator.apiName, count: row.accelerator.count };
    return plan;
  }
  // The optimizer's own rule (core/catalog), so a cluster sized here is what a plan would pick.
  const best = cheapestFit('gcp', { ...(req.accelerators ? { accelerators: req.accelerators } : {}), ...(req.cpus ? { cpus: req.cpus } : {}), ...(req.memoryGb ? { memoryGb: req.memoryGb } : {}), useSpot: req.useSpot, region })?.row;
  if (!best) {
    const what = acc ? `${acc[1]}x ${acc[0]}` : `${req.cpus ? `${req.cpus.value}${req.cpus.orMore ? '+' : ''} CPUs` : 'the default size'}${req.memoryGb ? `, ${req.memoryGb.value}${req.memoryGb.orMore ? '+' : ''} GB` : ''}`;
    throw new ProviderError('capacity', `the GCP catalog has no ${req.useSpot ? 'spot ' : ''}machine type with ${what} in ${region}`, 'region');
  }
  const plan: MachinePlan = { machineType: best.instanceType, row: best };
  if (best.accelerator?.apiName) plan.guestAccelerator = { apiName: best.accelerator.apiName, count: best.accelerator.count };
  return plan;
}

/** The zones of `region` that offer the plan's row (all the region's zones when the catalog does not know the type). */
export function zonesFor(plan: MachinePlan, region: string): string[] {
  const offer = plan.row?.offers.find((o) => o.region === region);
  return offer?.zones.length ? offer.zones : catalogZones('gcp', region);
}
