// The task's `ports`, opened as SkyPilot opens them on GCP: one VPC firewall rule per cluster,
// allowing TCP on those ports from anywhere to the instances carrying the cluster's network tag
// (names.ts clusterTag). Port 22 is not in it: the default network's `default-allow-ssh` rule
// already lets SSH in, and a task that lists 22 gets it like any other port.
//
// Firewall rules are global resources, so their operations are global operations. Idempotent:
// the rule is looked up first, its insert carries a requestId derived from the request (GCE
// answers a repeat with the first one's operation), and 409 alreadyExists means another try of
// this cluster made it. Like SkyPilot, ports are only ever added to an existing rule, never
// removed, until the cluster is torn down.
import type { protos } from '@google-cloud/compute';
import { ProviderError } from '../types.js';
import type { GceClients } from './client.js';
import { classify, failureOf, isAlreadyExists, isNotFound, operationFailure, type GceFailure } from './errors.js';
import { clusterTag, firewallName } from './names.js';

export type Firewall = protos.google.cloud.compute.v1.IFirewall;
type Operation = protos.google.cloud.compute.v1.IOperation;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `8080` or `10022-10040`, as GCE's `allowed[].ports` takes them; anything else is refused. */
export function firewallPorts(ports: string[]): string[] {
  const out: string[] = [];
  for (const p of ports) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(p.trim());
    const from = Number(m?.[1]);
    const to = Number(m?.[2] ?? m?.[1]);
    if (!m || from < 1 || to > 65535 || from > to) throw new ProviderError('config', `ports: '${p}' is not a port or a range of ports (e.g. 8080 or 10022-10040)`);
    const norm = from === to ? String(from) : `${from}-${to}`;
    if (!out.includes(norm)) out.push(norm);
  }
  return out;
}

/**
 * A firewall failure as a typed error. A rule is a project-wide resource: no zone or region can
 * do better, so what the instance rules call zone capacity (e.g. RESOURCE_NOT_FOUND: the network
 * is gone) is a configuration problem here, and a quota (FIREWALLS) is the whole cloud's.
 */
function firewallFailure(where: string, what: string, f: GceFailure): ProviderError {
  const e = classify(where, what, f);
  if (e.kind === 'quota') return new ProviderError('quota', e.message, 'cloud');
  if (e.kind === 'capacity') return new ProviderError('config', e.message, 'cloud');
  return e;
}

function callFailure(c: GceClients, what: string, err: unknown): ProviderError {
  if (err instanceof ProviderError) return err;
  return firewallFailure(c.where, what, failureOf(err));
}

function opName(lro: unknown, what: string): string {
  // Like instances.insert(), these are typed as LROperations; the Operation is latestResponse.
  const name = (lro as { latestResponse?: Operation } | undefined)?.latestResponse?.name;
  if (!name) throw new ProviderError('transient', `GCE accepted ${what} but named no operation`);
  return name;
}

/** Waits for a global operation to end (DONE) and reports its error as a typed one. */
export async function waitGlobalOperation(c: GceClients, operation: string, what: string, deadlineMs: number): Promise<Operation> {
  for (;;) {
    let op: Operation;
    try {
      [op] = await c.globalOps.wait({ project: c.project, operation });
    } catch (err) {
      throw callFailure(c, `waiting for ${what}`, err);
    }
    if (op.status === 'DONE') {
      const f = operationFailure(op);
      if (f) throw firewallFailure(c.where, what, f);
      return op;
    }
    if (Date.now() >= deadlineMs) throw new ProviderError('transient', `${c.where}: ${what} is still ${op.status ?? 'running'} (operation ${operation})`);
    await sleep(200);
  }
}

export async function getFirewall(c: GceClients, name: string): Promise<Firewall | undefined> {
  try {
    const [fw] = await c.firewalls.get({ project: c.project, firewall: name });
    return fw;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw callFailure(c, `reading firewall rule ${name}`, err);
  }
}

/** The TCP ports a rule allows. */
function allowedTcp(fw: Firewall): string[] {
  return (fw.allowed ?? []).filter((a) => a.IPProtocol === 'tcp').flatMap((a) => a.ports ?? []);
}

export interface PortsRequest {
  cluster: string;
  ports: string[];
  /** the instances' network, e.g. `global/networks/default` */
  network: string;
  /** the insert's requestId (names.ts requestIdOf(…, 'firewall')) */
  requestId: string;
  deadlineMs: number;
}

/**
 * Makes the cluster's firewall rule allow (at least) `ports`. Returns 'created' when this call
 * created the rule (a failed provision deletes it again), else 'kept' or 'widened'.
 */
export async function openPorts(c: GceClients, r: PortsRequest): Promise<'created' | 'kept' | 'widened'> {
  const name = firewallName(r.cluster);
  const ports = firewallPorts(r.ports);
  const existing = await getFirewall(c, name);
  if (existing) return widen(c, existing, ports, r.deadlineMs);
  const what = `creating firewall rule ${name}`;
  const body: Firewall = {
    name,
    description: `Petrel cluster ${r.cluster}: the task's ports (${ports.join(', ')})`,
    network: r.network,
    direction: 'INGRESS',
    priority: 1000,
    allowed: [{ IPProtocol: 'tcp', ports }],
    sourceRanges: ['0.0.0.0/0'],
    targetTags: [clusterTag(r.cluster)],
  };
  let op: string;
  try {
    const [lro] = await c.firewalls.insert({ project: c.project, requestId: r.requestId, firewallResource: body });
    op = opName(lro, what);
  } catch (err) {
    if (!isAlreadyExists(err)) throw callFailure(c, what, err);
    // Another try of this cluster inserted it; until its operation is DONE the rule cannot be read.
    for (;;) {
      const theirs = await getFirewall(c, name);
      if (theirs) return widen(c, theirs, ports, r.deadlineMs);
      if (Date.now() >= r.deadlineMs) throw new ProviderError('transient', `${c.where}: firewall rule ${name} exists but cannot be read yet`);
      await sleep(200);
    }
  }
  await waitGlobalOperation(c, op, what, r.deadlineMs);
  return 'created';
}

/** Adds to an existing rule the ports it lacks (SkyPilot never removes ports before teardown). */
async function widen(c: GceClients, existing: Firewall, ports: string[], deadlineMs: number): Promise<'kept' | 'widened'> {
  const name = existing.name ?? '';
  const have = allowedTcp(existing);
  const missing = ports.filter((p) => !have.includes(p));
  if (missing.length === 0) return 'kept';
  const what = `adding ports ${missing.join(', ')} to firewall rule ${name}`;
  let op: string;
  try {
    const [lro] = await c.firewalls.patch({ project: c.project, firewall: name, firewallResource: { allowed: [...(existing.allowed ?? []), { IPProtocol: 'tcp', ports: missing }] } });
    op = opName(lro, what);
  } catch (err) {
    throw callFailure(c, what, err);
  }
  await waitGlobalOperation(c, op, what, deadlineMs);
  return 'widened';
}

/** Deletes the cluster's firewall rule and waits until it is gone; none is fine. */
export async function closePorts(c: GceClients, cluster: string, deadlineMs: number): Promise<void> {
  const name = firewallName(cluster);
  const what = `deleting firewall rule ${name}`;
  let op: string;
  try {
    const [lro] = await c.firewalls.delete({ project: c.project, firewall: name });
    op = opName(lro, what);
  } catch (err) {
    if (isNotFound(err)) return;
    throw callFailure(c, what, err);
  }
  await waitGlobalOperation(c, op, what, deadlineMs);
}
