// Activities only managed jobs need: turning a task's resource candidates into the placements
// to try, in order (the optimizer over the clouds' catalogs and this worker's free infra).
import type { PlacementCandidate } from '../core/failover.js';
import type { ResourceRequest } from '../core/task.js';
import type { ProviderContext } from '../providers/registry.js';
import { ProviderError } from '../providers/types.js';
import { mapProviderErrors } from './failures.js';
import { endedWorkflows } from './host-leases.js';
import { planTask } from './plan.js';
import { describeInfeasible } from '../core/infeasible.js';
import { createCheckpointActivities } from './checkpoints.js';
import { createGroupHostsActivities } from './group-hosts.js';
import { createStorageMountActivities } from './storage-mounts.js';

export function createJobActivities(ctx: ProviderContext) {
  /**
   * Every (candidate, place, instance type) in the order to try. Nothing fits: a config
   * failure saying why for each candidate and what would fit instead.
   */
  async function planPlacements(candidates: ResourceRequest[], opts?: { ordered?: boolean; numNodes?: number }): Promise<PlacementCandidate[]> {
    return mapProviderErrors(async () => {
      const plan = await planTask(ctx, { candidates, ordered: opts?.ordered ?? true, numNodes: opts?.numNodes ?? 1 });
      if (plan.entries.length === 0) throw new ProviderError('config', describeInfeasible(plan, candidates));
      return plan.entries;
    });
  }

  return { planPlacements, endedWorkflows, ...createGroupHostsActivities(ctx), ...createCheckpointActivities(ctx), ...createStorageMountActivities(ctx) };
}

export type JobActivities = ReturnType<typeof createJobActivities>;
