// Activities only managed jobs need: expanding a task's resource candidates into concrete
// placements (which regions each infra offers right now).
import type { PlacementCandidate } from '../core/failover.js';
import type { ResourceRequest } from '../core/task.js';
import { getProvider, type ProviderContext } from '../providers/registry.js';
import { mapProviderErrors } from './failures.js';
import { endedWorkflows } from './host-leases.js';

export function createJobActivities(ctx: ProviderContext) {
  /** Every (candidate, region, zone) in preference order: candidates first, then regions, then zones. */
  async function planPlacements(candidates: ResourceRequest[]): Promise<PlacementCandidate[]> {
    return mapProviderErrors(async () => {
      const out: PlacementCandidate[] = [];
      for (const [i, c] of candidates.entries()) {
        const cloud = c.cloud ?? 'local';
        const provider = getProvider(cloud, ctx);
        const regions = c.region ? [c.region] : provider.regions ? await provider.regions() : [undefined];
        for (const region of regions) {
          const zones = c.zone ? [c.zone] : provider.zones ? await provider.zones(region) : [undefined];
          for (const zone of zones) out.push({ cloud, region, ...(zone ? { zone } : {}), candidate: i });
        }
      }
      return out;
    });
  }

  return { planPlacements, endedWorkflows };
}

export type JobActivities = ReturnType<typeof createJobActivities>;
