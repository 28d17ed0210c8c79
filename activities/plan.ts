// Where a managed job may run, in the order to try: the optimizer (core/optimizer.ts) over the
// clouds' catalogs, plus the infra of this worker that costs nothing (local, SSH pools, Slurm
// partitions, Kubernetes contexts). Runs on a worker because only it knows which clouds its
// credentials enable and which GPUs its clusters have.
import { acceleratorMatches } from '../core/accelerator-match.js';
import { pricedClouds } from '../core/catalog/index.js';
import { fitsMachineAtHand, planCandidates, type FreePlacement, type Plan } from '../core/optimizer.js';
import type { ResourceRequest } from '../core/task.js';
import type { CheckResult } from '../core/worker-ops.js';
import { getProvider, type ProviderContext } from '../providers/registry.js';

/** Infra a task that names none may land on when it asks for accelerators (where the GPUs can be seen). */
const GPU_INFRA = ['kubernetes', 'slurm'] as const;

export interface PlanRequest {
  candidates: ResourceRequest[];
  ordered: boolean;
  numNodes: number;
}

/** What check() said, kept a minute: a plan per job must not cost a round of cloud API calls each. */
const CHECK_TTL_MS = 60_000;
const checks = new Map<string, { at: number; result: Promise<CheckResult> }>();

function checkCached(cloud: string, ctx: ProviderContext): Promise<CheckResult> {
  const key = `${ctx.home}\0${cloud}`;
  const hit = checks.get(key);
  if (hit && Date.now() - hit.at < CHECK_TTL_MS) return hit.result;
  const result = getProvider(cloud, ctx)
    .check()
    .catch((err: unknown): CheckResult => ({ provider: cloud, enabled: false, detail: (err as Error).message }));
  checks.set(key, { at: Date.now(), result });
  return result;
}

export async function planTask(ctx: ProviderContext, req: PlanRequest): Promise<Plan & { disabled: CheckResult[] }> {
  const priced = pricedClouds();
  const wanted = priced.filter((cloud) => req.candidates.some((c) => c.cloud === undefined || c.cloud === cloud));
  const results = await Promise.all(wanted.map((c) => checkCached(c, ctx)));
  const enabledClouds = results.filter((r) => r.enabled).map((r) => r.provider);
  const freePlacements: FreePlacement[] = [];
  for (const [i, c] of req.candidates.entries()) freePlacements.push(...(await freePlacementsOf(ctx, c, i)));
  const plan = planCandidates({ candidates: req.candidates, ordered: req.ordered, numNodes: req.numNodes, enabledClouds, freePlacements });
  return { ...plan, disabled: results.filter((r) => !r.enabled) };
}

/** The placements of one candidate on infra Petrel does not bill for. */
async function freePlacementsOf(ctx: ProviderContext, c: ResourceRequest, candidate: number): Promise<FreePlacement[]> {
  if (c.cloud !== undefined) {
    if (pricedClouds().includes(c.cloud)) return [];
    return expand(ctx, c.cloud, c, candidate);
  }
  if (fitsMachineAtHand(c)) return expand(ctx, 'local', c, candidate);
  const accelerators = Object.entries(c.accelerators ?? {});
  if (accelerators.length === 0) return [];
  const [name, count] = accelerators[0]!;
  const out: FreePlacement[] = [];
  for (const infra of GPU_INFRA) {
    const provider = getProvider(infra, ctx);
    if (!provider.gpus) continue;
    const { gpus } = await provider.gpus().catch(() => ({ gpus: [] }));
    const seen = new Set<string>();
    for (const g of gpus) {
      if (!acceleratorMatches(name, g.type) || g.perNode < count) continue;
      if (c.region && g.region !== c.region) continue;
      const key = `${g.region}/${g.zone ?? ''}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ candidate, cloud: infra, region: g.region, ...(g.zone ? { zone: g.zone } : {}) });
    }
  }
  return out;
}

/** Every (region, zone) the infra offers, as before the optimizer: candidates first, then regions, then zones. */
async function expand(ctx: ProviderContext, cloud: string, c: ResourceRequest, candidate: number): Promise<FreePlacement[]> {
  const provider = getProvider(cloud, ctx);
  const regions = c.region ? [c.region] : provider.regions ? await provider.regions() : [undefined];
  const out: FreePlacement[] = [];
  for (const region of regions) {
    const zones = c.zone ? [c.zone] : provider.zones ? await provider.zones(region) : [undefined];
    for (const zone of zones) out.push({ candidate, cloud, ...(region !== undefined ? { region } : {}), ...(zone ? { zone } : {}) });
  }
  return out;
}
