// The optimizer: a task's resource candidates → the placements to try, in order, with the
// instance type and price at each (SkyPilot's sky/optimizer.py, cost target). Pure and
// deterministic: the same input gives the same plan, so a workflow can keep it in history.
//
// Free infra (local, SSH, Slurm, Kubernetes) comes first at price 0; priced clouds follow by
// price per node-hour, expanded to zones because AWS and GCP report capacity per zone. Each zone
// holds the cheapest fitting instance type there: a capacity error blocks the whole zone
// (core/failover.ts), so a dearer type in the same zone would never be tried.
import { BUILTIN_CATALOGS } from './catalog/index.js';
import { offerPrice, rowFits } from './catalog/match.js';
import type { Catalog, CatalogRow } from './catalog/types.js';
import type { PlacementCandidate } from './failover.js';
import { explainInfeasible } from './optimizer-explain.js';
import type { ResourceRequest } from './task.js';

export { nearestFeasible } from './optimizer-explain.js';
export { formatPlanTable } from './optimizer-table.js';
export { catalogGpuRows, formatGpuTable, type GpuPriceRow } from './optimizer-gpus.js';

/** A place on infra Petrel does not bill for (local, SSH, Slurm, Kubernetes) that the lead found fitting. */
export interface FreePlacement {
  candidate: number;
  cloud: string;
  region?: string;
  zone?: string;
}

/**
 * A candidate naming no infra fits the machine at hand (local, the embedded default) when it asks
 * for no accelerator and no instance type: CPU work. GPUs are looked for where they can be seen.
 */
export function fitsMachineAtHand(c: ResourceRequest): boolean {
  return c.cloud === undefined && Object.keys(c.accelerators ?? {}).length === 0 && c.instanceType === undefined;
}

export interface PlanInput {
  candidates: ResourceRequest[];
  /** try the candidates in their order (ordered / list of accelerators) rather than cheapest first */
  ordered: boolean;
  numNodes: number;
  /** priced clouds usable on the worker: a subset of the catalogs' clouds */
  enabledClouds: string[];
  freePlacements: FreePlacement[];
  /** default: the built-in catalogs */
  catalogs?: readonly Catalog[];
}

export interface PlanEntry extends PlacementCandidate {
  instanceType?: string;
  useSpot: boolean;
  /** USD per node-hour; 0 on free infra */
  hourlyPrice: number;
  accelerators?: Record<string, number>;
  vcpus?: number;
  memoryGb?: number;
}

export interface Infeasible {
  candidate: number;
  reason: string;
  /** nearest feasible requests, e.g. "A100-80GB:8", "infra: aws/us-west-2", "use_spot: false" */
  suggestions: string[];
}

export interface Plan {
  entries: PlanEntry[];
  infeasible: Infeasible[];
}

interface Ranked {
  entry: PlanEntry;
  /** tie-breakers after price: cloud, region, zone order of the catalogs */
  cloudIx: number;
  regionIx: number;
  zoneIx: number;
}

/** The cheapest fitting row of each zone of one cloud, for one candidate. */
function pricedEntries(catalog: Catalog, cloudIx: number, c: ResourceRequest, candidate: number): Ranked[] {
  const best = new Map<string, { row: CatalogRow; price: number; regionIx: number; zoneIx: number; region: string }>();
  for (const row of catalog.rows) {
    if (!rowFits(catalog, row, c)) continue;
    for (const offer of row.offers) {
      if (c.region !== undefined && offer.region !== c.region) continue;
      const regionIx = catalog.regions.findIndex((r) => r.name === offer.region);
      const regionZones = catalog.regions[regionIx]?.zones ?? [];
      for (const zone of offer.zones) {
        if (c.zone !== undefined && zone !== c.zone) continue;
        const price = offerPrice(offer, c.useSpot, zone);
        if (price === undefined) continue;
        const held = best.get(zone);
        if (held && held.price <= price) continue;
        best.set(zone, { row, price, regionIx, zoneIx: regionZones.indexOf(zone), region: offer.region });
      }
    }
  }
  return [...best.entries()].map(([zone, b]) => ({
    entry: {
      candidate,
      cloud: catalog.cloud,
      region: b.region,
      zone,
      instanceType: b.row.instanceType,
      useSpot: c.useSpot,
      hourlyPrice: b.price,
      ...(b.row.accelerator ? { accelerators: { [b.row.accelerator.name]: b.row.accelerator.count } } : {}),
      vcpus: b.row.vcpus,
      memoryGb: b.row.memoryGb,
    },
    cloudIx,
    regionIx: b.regionIx,
    zoneIx: b.zoneIx,
  }));
}

function byPrice(a: Ranked, b: Ranked): number {
  return (
    a.entry.hourlyPrice - b.entry.hourlyPrice ||
    a.entry.candidate - b.entry.candidate ||
    a.cloudIx - b.cloudIx ||
    a.regionIx - b.regionIx ||
    a.zoneIx - b.zoneIx
  );
}

function freeEntry(p: FreePlacement, c: ResourceRequest): PlanEntry {
  return {
    candidate: p.candidate,
    cloud: p.cloud,
    ...(p.region !== undefined ? { region: p.region } : {}),
    ...(p.zone !== undefined ? { zone: p.zone } : {}),
    useSpot: c.useSpot,
    hourlyPrice: 0,
    ...(c.accelerators ? { accelerators: { ...c.accelerators } } : {}),
  };
}

export function planCandidates(input: PlanInput): Plan {
  const catalogs = input.catalogs ?? BUILTIN_CATALOGS;
  const priced = new Set<string>(catalogs.map((c) => c.cloud));
  const enabled = catalogs.filter((c) => input.enabledClouds.includes(c.cloud));
  const free: PlanEntry[][] = input.candidates.map(() => []);
  const paid: Ranked[][] = input.candidates.map(() => []);
  const infeasible: Infeasible[] = [];

  for (const p of input.freePlacements) {
    const c = input.candidates[p.candidate];
    // A candidate pinned to a priced cloud runs there, and nowhere free.
    if (!c || (c.cloud !== undefined && priced.has(c.cloud))) continue;
    free[p.candidate]!.push(freeEntry(p, c));
  }
  input.candidates.forEach((c, i) => {
    const clouds = c.cloud === undefined ? enabled : enabled.filter((k) => k.cloud === c.cloud);
    for (const catalog of clouds) paid[i]!.push(...pricedEntries(catalog, catalogs.indexOf(catalog), c, i));
    paid[i]!.sort(byPrice);
    if (free[i]!.length === 0 && paid[i]!.length === 0) {
      infeasible.push({ candidate: i, ...explainInfeasible(c, { catalogs, enabledClouds: input.enabledClouds }) });
    }
  });

  const entries = input.ordered
    ? input.candidates.flatMap((_, i) => [...free[i]!, ...paid[i]!.map((r) => r.entry)])
    : [...free.flat(), ...paid.flat().sort(byPrice).map((r) => r.entry)];
  return { entries, infeasible };
}
