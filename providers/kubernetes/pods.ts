// What Petrel creates in a namespace for a cluster: one pod per node and, for a multi-node
// cluster, a headless Service so that ranks reach each other by DNS name
// (<pod hostname>.<service>.<namespace>.svc.<cluster domain>). Names are deterministic, so a
// retried provision finds what an earlier attempt created instead of creating it twice.
import crypto from 'node:crypto';
import type { V1Pod, V1Service, V1NodeSelectorTerm, V1Toleration } from '@kubernetes/client-node';
import type { Quantity } from '../../core/task.js';
import type { KubeContextConfig } from './config.js';
import { mergePodConfig } from './config.js';

export const LABEL_CLUSTER = 'petrel.dev/cluster';
export const LABEL_RANK = 'petrel.dev/rank';
export const LABEL_USER = 'petrel.dev/user';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'petrel';
/** the provision request a pod was created for: a retry with the same key reuses the pod */
export const ANNOTATION_REQUEST = 'petrel.dev/request';

/** The one container Petrel execs into. */
export const CONTAINER = 'petrel';

/**
 * The container only has to stay up: jobs are started in it through exec. A shell loop rather
 * than `sleep infinity` (not every image's sleep takes it), ending at once on SIGTERM.
 */
const KEEP_ALIVE = ['/bin/sh', '-c', 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done'];

/** A DNS label (RFC 1123) from `base`, shortened with a hash of the whole when too long. */
function dnsLabel(base: string, max = 63): string {
  if (base.length <= max) return base;
  const hash = crypto.createHash('sha256').update(base).digest('hex').slice(0, 8);
  return `${base.slice(0, max - 9).replace(/-+$/, '')}-${hash}`;
}

export function podName(cluster: string, rank: number): string {
  const suffix = `-${rank}`;
  return `${dnsLabel(`petrel-${cluster}`, 63 - suffix.length)}${suffix}`;
}

export function serviceName(cluster: string): string {
  return dnsLabel(`petrel-${cluster}`);
}

/** A label value: at most 63 characters of [A-Za-z0-9._-], alphanumeric at both ends. */
export function labelValue(v: string): string {
  const cleaned = v.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return dnsLabel(cleaned, 63).replace(/[^A-Za-z0-9]+$/, '') || 'unknown';
}

export function clusterSelector(cluster: string): string {
  return `${LABEL_CLUSTER}=${labelValue(cluster)},${LABEL_MANAGED_BY}=${MANAGED_BY}`;
}

/** Every pod and service Petrel made, whatever the cluster. */
export const MANAGED_SELECTOR = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;

export interface PodRequest {
  cluster: string;
  rank: number;
  numNodes: number;
  requestKey: string;
  user?: string;
  image: string;
  cpus?: Quantity;
  memoryGb?: Quantity;
  /** resource name (nvidia.com/gpu, amd.com/gpu, google.com/tpu) → count per pod */
  devices?: Record<string, number>;
  /** nodes to accept: any term matches (node affinity) */
  nodeTerms?: V1NodeSelectorTerm[];
  taskLabels?: Record<string, string>;
}

/** Kubernetes quantity text: 4, 0.5 → "500m", GiB → "16Gi". */
function cpuQuantity(q: Quantity): string {
  return Number.isInteger(q.value) ? String(q.value) : `${Math.round(q.value * 1000)}m`;
}
function memoryQuantity(q: Quantity): string {
  return Number.isInteger(q.value) ? `${q.value}Gi` : `${Math.round(q.value * 1024)}Mi`;
}

/**
 * Requests and limits: what a task asks for is requested; `N+` means at least N, so it has no
 * limit. Devices (GPUs) must have equal requests and limits.
 */
function resources(req: PodRequest): { requests: Record<string, string>; limits: Record<string, string> } {
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  if (req.cpus) {
    requests.cpu = cpuQuantity(req.cpus);
    if (!req.cpus.orMore) limits.cpu = requests.cpu;
  }
  if (req.memoryGb) {
    requests.memory = memoryQuantity(req.memoryGb);
    if (!req.memoryGb.orMore) limits.memory = requests.memory;
  }
  for (const [name, count] of Object.entries(req.devices ?? {})) {
    requests[name] = String(Math.ceil(count));
    limits[name] = String(Math.ceil(count));
  }
  return { requests, limits };
}

export function podLabels(req: { cluster: string; rank?: number; user?: string }, ctx: KubeContextConfig): Record<string, string> {
  return {
    ...ctx.labels,
    [LABEL_MANAGED_BY]: MANAGED_BY,
    [LABEL_CLUSTER]: labelValue(req.cluster),
    ...(req.rank !== undefined ? { [LABEL_RANK]: String(req.rank) } : {}),
    ...(req.user ? { [LABEL_USER]: labelValue(req.user) } : {}),
  };
}

/** GPU nodes are commonly tainted so that only pods asking for GPUs land there. */
const DEVICE_TOLERATIONS: V1Toleration[] = [
  { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'amd.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'google.com/tpu', operator: 'Exists', effect: 'NoSchedule' },
];

export function podManifest(req: PodRequest, ctx: KubeContextConfig): V1Pod {
  const name = podName(req.cluster, req.rank);
  const labels = { ...sanitizedLabels(req.taskLabels), ...podLabels(req, ctx) };
  const pod: V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: ctx.namespace,
      labels,
      annotations: { ...ctx.annotations, [ANNOTATION_REQUEST]: req.requestKey },
    },
    spec: {
      restartPolicy: 'Never',
      // A node must keep its files and processes: a restarted container would have neither.
      hostname: name,
      ...(req.numNodes > 1 ? { subdomain: serviceName(req.cluster) } : {}),
      terminationGracePeriodSeconds: 30,
      containers: [
        {
          name: CONTAINER,
          image: req.image,
          command: KEEP_ALIVE,
          resources: resources(req),
          env: [
            { name: 'PETREL_NODE_RANK', value: String(req.rank) },
            { name: 'PETREL_CLUSTER', value: req.cluster },
          ],
        },
      ],
      ...(req.devices && Object.keys(req.devices).length ? { tolerations: DEVICE_TOLERATIONS } : {}),
      ...(req.nodeTerms?.length ? { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: req.nodeTerms } } } } : {}),
    },
  };
  const merged = mergePodConfig(pod as unknown as Record<string, unknown>, ctx.podConfig) as V1Pod;
  // pod_config may add to Petrel's pod but not take over what Petrel relies on.
  merged.metadata = { ...merged.metadata, name, namespace: ctx.namespace, labels: { ...merged.metadata?.labels, ...labels } };
  merged.spec!.restartPolicy = 'Never';
  merged.spec!.containers[0]!.name = CONTAINER;
  return merged;
}

/** Task labels that are not valid Kubernetes labels are left off rather than refused by the API. */
function sanitizedLabels(labels: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels ?? {})) {
    if (/^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(k) && /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/.test(v)) out[k] = v;
  }
  return out;
}

export function serviceManifest(cluster: string, user: string | undefined, ctx: KubeContextConfig): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: serviceName(cluster), namespace: ctx.namespace, labels: podLabels({ cluster, user }, ctx), annotations: { ...ctx.annotations } },
    spec: {
      clusterIP: 'None',
      // Ranks find each other before they are "ready" (there is no readiness probe to pass).
      publishNotReadyAddresses: true,
      selector: { [LABEL_CLUSTER]: labelValue(cluster), [LABEL_MANAGED_BY]: MANAGED_BY },
    },
  };
}
