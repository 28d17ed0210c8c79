// The names Petrel gives things in GCE, derived so that any process (a retried provision, a
// teardown with an empty handle, a watcher) computes the same ones again: instance names, the
// requestId of each insert, the labels Petrel finds its instances by, and the network tag and
// firewall rule that open a cluster's ports.
import crypto from 'node:crypto';

export const LABEL_KEY = /^[a-z][a-z0-9_-]{0,62}$/;
export const LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;
const INSTANCE_NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

export const LABEL_CLUSTER = 'petrel-cluster';
export const LABEL_RANK = 'petrel-node-rank';
export const LABEL_REQUEST = 'petrel-request';
export const LABEL_USER = 'petrel-user';

function digest(s: string, n: number): string {
  return crypto.createHash('sha256').update(s).digest('hex').slice(0, n);
}

/** `s` as a label value: kept when valid, else made valid with a hash of the original (so two names never collide). */
export function labelValue(s: string): string {
  if (LABEL_VALUE.test(s)) return s;
  const clean = s.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '');
  return `${clean.slice(0, 52)}-${digest(s, 10)}`.replace(/^-/, '');
}

/** A user's label key or value as GCP allows it: lowercased, other characters as '_', at most 63. */
export function userLabel(s: string, isKey: boolean): string {
  let v = s.toLowerCase().replace(/[^a-z0-9_-]/g, '_').slice(0, 63);
  if (isKey && !/^[a-z]/.test(v)) v = `l${v}`.slice(0, 63);
  return v;
}

/** `petrel-<cluster>-<rank>`, DNS-safe; a name too long (or not DNS-safe) is shortened with a hash. */
export function instanceName(cluster: string, rank: number): string {
  const plain = `petrel-${cluster}-${rank}`;
  if (INSTANCE_NAME.test(plain)) return plain;
  const clean = cluster.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-+$/, '');
  const suffix = `-${digest(cluster, 8)}-${rank}`;
  return `petrel-${clean.slice(0, 63 - 'petrel-'.length - suffix.length)}${suffix}`.replace(/--+/g, '-');
}

/**
 * The network tag every instance of the cluster carries, which its firewall rule targets:
 * `petrel-<cluster, cleaned>-<hash>` within GCE's tag rules (lowercase, at most 63, starting with
 * a letter). The hash of the exact name keeps two clusters whose cleaned names agree apart; the
 * rule's name adds `-ports`, so the tag leaves room for it.
 */
export function clusterTag(cluster: string): string {
  const suffix = `-${digest(`tag\0${cluster}`, 10)}`;
  const clean = cluster.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  const room = 63 - 'petrel-'.length - suffix.length - '-ports'.length;
  return `petrel-${clean.slice(0, room).replace(/-+$/, '')}${suffix}`.replace(/--+/g, '-');
}

/** The cluster's VPC firewall rule (its ports): `<tag>-ports`. */
export function firewallName(cluster: string): string {
  return `${clusterTag(cluster)}-ports`;
}

/**
 * The insert's requestId: a UUID (the API refuses anything else) that is the same for the same
 * (request, cluster, rank), so GCE itself answers a repeated insert with the first one's operation.
 */
export function requestIdOf(idempotencyKey: string, cluster: string, rank: number | 'firewall'): string {
  const h = crypto.createHash('sha256').update(`petrel\0${idempotencyKey}\0${cluster}\0${rank}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50; // version 5 layout (name-based)
  h[8] = (h[8]! & 0x3f) | 0x80; // RFC 4122 variant
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

/** The labels of one instance: the config's, the task's (made valid), then Petrel's own. */
export function instanceLabels(o: { cluster: string; rank: number; requestKey: string; user?: string; taskLabels?: Record<string, string>; configLabels: Record<string, string> }): Record<string, string> {
  const labels: Record<string, string> = { ...o.configLabels };
  for (const [k, v] of Object.entries(o.taskLabels ?? {})) {
    const key = userLabel(k, true);
    if (key.startsWith('petrel-')) continue;
    labels[key] = userLabel(String(v), false);
  }
  labels[LABEL_CLUSTER] = labelValue(o.cluster);
  labels[LABEL_RANK] = String(o.rank);
  labels[LABEL_REQUEST] = labelValue(o.requestKey);
  if (o.user) labels[LABEL_USER] = labelValue(o.user);
  return labels;
}

/** The list filter for one cluster's instances. */
export function clusterFilter(cluster: string): string {
  return `labels.${LABEL_CLUSTER} = "${labelValue(cluster)}"`;
}

/** Every Petrel instance (one list per zone serves every watched cluster). */
export const ALL_PETREL_FILTER = `labels.${LABEL_CLUSTER}:*`;
