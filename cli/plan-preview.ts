// `--dryrun`: the plan a task would follow, computed here from the built-in catalogs without
// starting or asking anything (a dry run never needs a server). Which clouds are usable is the
// worker's to know (its credentials), so every priced cloud is shown, and the table says so.
import { pricedClouds } from '../core/catalog/index.js';
import { describeInfeasible } from '../core/infeasible.js';
import { fitsMachineAtHand, formatPlanTable, planCandidates, type FreePlacement, type Plan, type PlanEntry } from '../core/optimizer.js';
import type { ResourceRequest, TaskSpec } from '../core/task.js';
import { managedCandidates } from './cluster-requests.js';

export function previewPlan(task: TaskSpec, where: string): Plan {
  const candidates = managedCandidates(task, where);
  const priced = pricedClouds();
  const freePlacements: FreePlacement[] = candidates.flatMap((c, candidate): FreePlacement[] => {
    if (c.cloud !== undefined && !priced.includes(c.cloud)) {
      return [{ candidate, cloud: c.cloud, ...(c.region ? { region: c.region } : {}), ...(c.zone ? { zone: c.zone } : {}) }];
    }
    // Unpinned CPU work fits the machine at hand; GPUs on Kubernetes or Slurm only a worker can see.
    if (fitsMachineAtHand(c)) return [{ candidate, cloud: 'local' }];
    return [];
  });
  return planCandidates({ candidates, ordered: task.resources.ordered, numNodes: task.numNodes, enabledClouds: priced, freePlacements });
}

/**
 * A cluster's plan: the one placement it gets (clusters do not fail over; managed jobs do) —
 * the catalog's cheapest on a priced cloud, else the infra it names (local by default).
 */
export function previewClusterPlan(r: ResourceRequest & { cloud: string }, numNodes: number): Plan {
  if (pricedClouds().includes(r.cloud)) {
    const plan = planCandidates({ candidates: [r], ordered: true, numNodes, enabledClouds: pricedClouds(), freePlacements: [] });
    return { ...plan, entries: plan.entries.slice(0, 1) };
  }
  return planCandidates({ candidates: [r], ordered: true, numNodes, enabledClouds: [], freePlacements: [{ candidate: 0, cloud: r.cloud, ...(r.region ? { region: r.region } : {}), ...(r.zone ? { zone: r.zone } : {}) }] });
}

/** The table (or why nothing fits), and the caveat that credentials decide. */
export function renderPlan(plan: Plan, task: TaskSpec, where: string, candidates: readonly ResourceRequest[] = managedCandidates(task, where)): string {
  if (plan.entries.length === 0) return describeInfeasible(plan, candidates);
  const table = formatPlanTable(plan, task.numNodes);
  const clouds = new Set(plan.entries.map((e) => e.cloud));
  const note = [...clouds].some((c) => pricedClouds().includes(c))
    ? '\nA worker uses a cloud only where its credentials are enabled (see petrel check); Kubernetes and Slurm GPUs are found by the worker at launch.'
    : '';
  return table + note;
}

/** Where a cluster on a priced cloud goes: the instance type, region and zone of its plan; elsewhere as asked. */
export function clusterPlacement(r: ResourceRequest & { cloud: string }, numNodes: number): { entry?: PlanEntry; why?: string } {
  if (!pricedClouds().includes(r.cloud)) return {};
  const plan = previewClusterPlan(r, numNodes);
  if (plan.entries[0]) return { entry: plan.entries[0] };
  return { why: describeInfeasible(plan, [r]) };
}
