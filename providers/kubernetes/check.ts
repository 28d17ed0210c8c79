// What `petrel check k8s` tells about a context: does it answer, what may Petrel do there (the
// API server's own verdict, by SelfSubjectAccessReview), and which GPUs its nodes offer.
import type { V1Pod } from '@kubernetes/client-node';
import { apiMessage, statusOf, type ContextClients } from './client.js';
import { nodeAccelerators } from './accelerators.js';

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

/** Per GPU type: allocatable and free GPUs over the schedulable nodes ("" when nodes cannot be listed). */
export async function describeGpus(c: ContextClients): Promise<string> {
  let nodes;
  let pods: V1Pod[];
  try {
    nodes = (await c.core.listNode()).items;
    pods = (await c.core.listPodForAllNamespaces({ fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed' })).items;
  } catch {
    return 'GPUs unknown (nodes cannot be listed)';
  }
  const used = new Map<string, number>();
  for (const p of pods) {
    const node = p.spec?.nodeName;
    if (!node) continue;
    for (const ct of p.spec?.containers ?? []) {
      for (const [k, v] of Object.entries(ct.resources?.requests ?? {})) if (/gpu|tpu/.test(k)) used.set(node, (used.get(node) ?? 0) + Number(v));
    }
  }
  const byType = new Map<string, { total: number; free: number; nodes: number }>();
  for (const n of nodes) {
    const a = nodeAccelerators(n);
    if (a.allocatable === 0 || !a.schedulable) continue;
    const type = a.label?.value ?? a.resource ?? 'gpu';
    const t = byType.get(type) ?? { total: 0, free: 0, nodes: 0 };
    t.total += a.allocatable;
    t.free += Math.max(0, a.allocatable - (used.get(a.node) ?? 0));
    t.nodes++;
    byType.set(type, t);
  }
  if (byType.size === 0) return 'no GPUs';
  return [...byType].map(([type, t]) => `${type}: ${t.free} of ${t.total} free on ${t.nodes} node(s)`).join(', ');
}
