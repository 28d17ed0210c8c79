// What `petrel check k8s` tells about a context: does it answer, what may Petrel do there (the
// API server's own verdict, by SelfSubjectAccessReview), and which GPUs its nodes offer.
import type { V1Pod } from '@kubernetes/client-node';
import { apiMessage, statusOf, type ContextClients } from './client.js';
import type { GpuAvailability } from '../../core/worker-ops.js';
import { DEVICE_RESOURCES, nodeAccelerators } from './accelerators.js';

/** What Petrel does in a namespace; the minimal Role in the README grants exactly these. */
export const NEEDED_ACCESS: Array<{ verb: string; resource: string; subresource?: string }> = [
  { verb: 'create', resource: 'pods' },
  { verb: 'get', resource: 'pods' },
  { verb: 'list', resource: 'pods' },
  { verb: 'delete', resource: 'pods' },
  { verb: 'create', resource: 'pods', subresource: 'exec' },
  { verb: 'create', resource: 'services' },
  { verb: 'delete', resource: 'services' },
];

export async function describeAccess(c: ContextClients, namespace: string): Promise<{ ok: boolean; text: string }> {
  const verdicts = await Promise.all(
    NEEDED_ACCESS.map(async (a) => {
      try {
        const r = await c.authz.createSelfSubjectAccessReview({
          body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { namespace, verb: a.verb, resource: a.resource, ...(a.subresource ? { subresource: a.subresource } : {}) } } },
        });
        return { a, allowed: r.status?.allowed === true };
      } catch (err) {
        if (statusOf(err) === 401) throw new Error(`the API server refused the credentials (401): ${apiMessage(err)}`);
        throw new Error(`cannot ask the API server what is allowed: ${apiMessage(err)}`);
      }
    }),
  );
  const denied = verdicts.filter((v) => !v.allowed).map((v) => `${v.a.verb} ${v.a.resource}${v.a.subresource ? `/${v.a.subresource}` : ''}`);
  if (denied.length) return { ok: false, text: `answers, but Petrel may not: ${denied.join(', ')}` };
  return { ok: true, text: 'answers; may create, exec into and delete pods and services' };
}

/** Per accelerator type: allocatable and free devices over the schedulable nodes of a context. */
export async function gpuAvailability(c: ContextClients): Promise<GpuAvailability[]> {
  const nodes = (await c.core.listNode()).items;
  const pods: V1Pod[] = (await c.core.listPodForAllNamespaces({ fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed' })).items;
  const used = new Map<string, number>();
  for (const p of pods) {
    const node = p.spec?.nodeName;
    if (!node) continue;
    for (const ct of p.spec?.containers ?? []) {
      for (const [k, v] of Object.entries(ct.resources?.requests ?? {})) if ((DEVICE_RESOURCES as readonly string[]).includes(k)) used.set(node, (used.get(node) ?? 0) + Number(v));
    }
  }
  const byType = new Map<string, GpuAvailability>();
  for (const n of nodes) {
    const a = nodeAccelerators(n);
    if (a.allocatable === 0 || !a.schedulable) continue;
    const type = a.label?.value ?? a.resource ?? 'gpu';
    const t = byType.get(type) ?? { infra: 'kubernetes', region: c.context, type, total: 0, free: 0, nodes: 0, perNode: 0 };
    t.total += a.allocatable;
    t.free += Math.max(0, a.allocatable - (used.get(a.node) ?? 0));
    t.nodes++;
    t.perNode = Math.max(t.perNode, a.allocatable);
    byType.set(type, t);
  }
  return [...byType.values()];
}

/** `A100: 3 of 4 free on 1 node(s), …` for `petrel check`. */
export async function describeGpus(c: ContextClients): Promise<string> {
  let gpus: GpuAvailability[];
  try {
    gpus = await gpuAvailability(c);
  } catch {
    return 'GPUs unknown (nodes cannot be listed)';
  }
  if (gpus.length === 0) return 'no GPUs';
  return gpus.map((t) => `${t.type}: ${t.free} of ${t.total} free on ${t.nodes} node(s)`).join(', ');
}
