// Which nodes of a Kubernetes cluster carry which accelerators. Clusters say it with node
// labels, each platform its own way, with values that rarely equal the name a task uses:
//   nvidia.com/gpu.product              NVIDIA GPU feature discovery: "NVIDIA-A100-SXM4-80GB"
//   cloud.google.com/gke-accelerator    GKE: "nvidia-tesla-a100", "nvidia-h100-80gb"
//   karpenter.k8s.aws/instance-gpu-name EKS with Karpenter: "a100"
//   skypilot.co/accelerator             SkyPilot's own labelling: "a100"
// A task's name matches a label value when every part of the name ("A100-80GB" → a100, 80gb)
// is a part of the value. The scheduler then gets the exact values found as node affinity.
import type { V1Node, V1NodeSelectorTerm } from '@kubernetes/client-node';
import { acceleratorMatches } from '../../core/accelerator-match.js';

export const ACCELERATOR_LABELS = [
  'nvidia.com/gpu.product',
  'cloud.google.com/gke-accelerator',
  'karpenter.k8s.aws/instance-gpu-name',
  'skypilot.co/accelerator',
] as const;

/** Extended resources that are accelerators, in the order they are looked for. */
export const DEVICE_RESOURCES = ['nvidia.com/gpu', 'amd.com/gpu', 'google.com/tpu'] as const;

export interface NodeAccelerators {
  node: string;
  /** the accelerator label and its value, when the node has one */
  label?: { key: string; value: string };
  /** the device resource the node offers and how many it can hold in all */
  resource?: string;
  allocatable: number;
  schedulable: boolean;
}

function isReady(n: V1Node): boolean {
  return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export function nodeAccelerators(n: V1Node): NodeAccelerators {
  const labels = n.metadata?.labels ?? {};
  const key = ACCELERATOR_LABELS.find((k) => labels[k]);
  const resource = DEVICE_RESOURCES.find((r) => Number(n.status?.allocatable?.[r] ?? 0) > 0);
  return {
    node: n.metadata?.name ?? '?',
    ...(key ? { label: { key, value: labels[key]! } } : {}),
    ...(resource ? { resource } : {}),
    allocatable: resource ? Number(n.status!.allocatable![resource]) : 0,
    schedulable: isReady(n) && !n.spec?.unschedulable,
  };
}

export type PlacementPlan =
  | { ok: true; resource: string; count: number; nodeTerms: V1NodeSelectorTerm[] }
  | { ok: false; message: string };

/**
 * How to ask for `count` of accelerator `name` per pod on a cluster whose nodes are `nodes`
 * (undefined: the nodes cannot be listed, e.g. RBAC). Fails when no node could ever hold it;
 * `canGrow` (an autoscaler) turns that into asking anyway.
 */
export function planAccelerator(name: string, count: number, nodes: V1Node[] | undefined, canGrow: boolean): PlacementPlan {
  // Nodes that cannot be listed (RBAC): ask by the names the label conventions with plain values use.
  if (!nodes) return { ok: true, resource: 'nvidia.com/gpu', count, nodeTerms: blindTerms(name) };
  const all = nodes.map(nodeAccelerators);
  const matching = all.filter((a) => a.label && acceleratorMatches(name, a.label.value));
  if (matching.length === 0) {
    if (canGrow) return { ok: true, resource: 'nvidia.com/gpu', count, nodeTerms: blindTerms(name) };
    const seen = [...new Set(all.flatMap((a) => (a.label ? [a.label.value] : [])))];
    return { ok: false, message: `no node has ${name} (accelerators here: ${seen.length ? seen.join(', ') : 'none labelled'})` };
  }
  const biggest = Math.max(...matching.filter((a) => a.schedulable).map((a) => a.allocatable), 0);
  if (biggest < Math.ceil(count) && !canGrow) {
    return { ok: false, message: `no schedulable node can hold ${name}:${count} (the largest has ${biggest})` };
  }
  const byKey = new Map<string, Set<string>>();
  for (const a of matching) {
    const values = byKey.get(a.label!.key) ?? new Set<string>();
    values.add(a.label!.value);
    byKey.set(a.label!.key, values);
  }
  return {
    ok: true,
    resource: matching.find((a) => a.resource)?.resource ?? 'nvidia.com/gpu',
    count,
    nodeTerms: [...byKey].map(([key, values]) => ({ matchExpressions: [{ key, operator: 'In', values: [...values].sort() }] })),
  };
}

function blindTerms(name: string): V1NodeSelectorTerm[] {
  const value = name.toLowerCase();
  return ['karpenter.k8s.aws/instance-gpu-name', 'skypilot.co/accelerator'].map((key) => ({ matchExpressions: [{ key, operator: 'In', values: [value] }] }));
}
