// The Compute Engine calls the provider makes, each with GCE's failures turned into typed
// errors: insert (with its requestId), zone-operation waits (looped: a wait is bounded and may
// answer before DONE), paged lists by label, get, stop, start, delete.
import type { protos } from '@google-cloud/compute';
import { ProviderError } from '../types.js';
import type { GceClients } from './client.js';
import { classify, gceFailure, isAlreadyExists, isNotFound, operationFailure } from './errors.js';

export type Instance = protos.google.cloud.compute.v1.IInstance;
export type Operation = protos.google.cloud.compute.v1.IOperation;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** An insert, stop, start or delete GCE accepted: its operation, to wait on. */
export interface Pending {
  zone: string;
  operation: string;
  /** what it was, for messages */
  what: string;
}

function opName(lro: unknown): string {
  // insert() is typed as an LROperation but is a plain object; the Operation is its latestResponse.
  const latest = (lro as { latestResponse?: Operation } | undefined)?.latestResponse;
  const name = latest?.name;
  if (!name) throw new ProviderError('transient', 'GCE accepted the request but named no operation');
  return name;
}

/**
 * Waits for a zone operation to end (DONE), then reports its error as a typed one.
 * `fromInsert`: an insert's failure that names no known code blocks the zone (SkyPilot's rule).
 */
export async function waitOperation(c: GceClients, p: Pending, deadlineMs: number, fromInsert = false): Promise<Operation> {
  for (;;) {
    let op: Operation;
    try {
      [op] = await c.zoneOps.wait({ project: c.project, zone: p.zone, operation: p.operation });
    } catch (err) {
      throw gceFailure(`${c.where}/${p.zone}`, `waiting for ${p.what}`, err);
    }
    if (op.status === 'DONE') {
      const f = operationFailure(op);
      if (f) throw classify(`${c.where}/${p.zone}`, p.what, f, fromInsert);
      return op;
    }
    if (Date.now() >= deadlineMs) throw new ProviderError('transient', `${c.where}/${p.zone}: ${p.what} is still ${op.status ?? 'running'} (operation ${p.operation})`);
    await sleep(200);
  }
}

/**
 * Inserts one instance. The requestId makes GCE answer a repeat of the same request with the
 * first one's operation (creating nothing); a 409 means the name exists — the caller decides
 * whether that instance is this request's.
 */
export async function insertInstance(c: GceClients, zone: string, body: Instance, requestId: string): Promise<Pending | 'exists'> {
  try {
    const [lro] = await c.instances.insert({ project: c.project, zone, requestId, instanceResource: body });
    return { zone, operation: opName(lro), what: `creating instance ${body.name}` };
  } catch (err) {
    if (isAlreadyExists(err)) return 'exists';
    throw gceFailure(`${c.where}/${zone}`, `creating instance ${body.name}`, err);
  }
}

export async function getInstance(c: GceClients, zone: string, name: string): Promise<Instance | undefined> {
  try {
    const [inst] = await c.instances.get({ project: c.project, zone, instance: name });
    return inst;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw gceFailure(`${c.where}/${zone}`, `reading instance ${name}`, err);
  }
}

/** Every instance of a zone matching `filter`, page by page. */
export async function listInstances(c: GceClients, zone: string, filter: string): Promise<Instance[]> {
  const out: Instance[] = [];
  let pageToken: string | undefined;
  do {
    try {
      const [items, , raw] = await c.instances.list({ project: c.project, zone, filter, maxResults: 500, ...(pageToken ? { pageToken } : {}) }, { autoPaginate: false });
      out.push(...items);
      pageToken = raw?.nextPageToken ?? undefined;
    } catch (err) {
      throw gceFailure(`${c.where}/${zone}`, 'listing instances', err);
    }
  } while (pageToken);
  return out;
}

/** Operations of a zone matching `filter` (preemptions), page by page. */
export async function listOperations(c: GceClients, zone: string, filter: string): Promise<Operation[]> {
  const out: Operation[] = [];
  let pageToken: string | undefined;
  do {
    try {
      const [items, , raw] = await c.zoneOps.list({ project: c.project, zone, filter, maxResults: 500, ...(pageToken ? { pageToken } : {}) }, { autoPaginate: false });
      out.push(...items);
      pageToken = raw?.nextPageToken ?? undefined;
    } catch (err) {
      throw gceFailure(`${c.where}/${zone}`, 'listing operations', err);
    }
  } while (pageToken);
  return out;
}

/** Deletes an instance; undefined when it is already gone. */
export async function deleteInstance(c: GceClients, zone: string, name: string): Promise<Pending | undefined> {
  try {
    const [lro] = await c.instances.delete({ project: c.project, zone, instance: name });
    return { zone, operation: opName(lro), what: `deleting instance ${name}` };
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw gceFailure(`${c.where}/${zone}`, `deleting instance ${name}`, err);
  }
}

export async function stopInstance(c: GceClients, zone: string, name: string): Promise<Pending | undefined> {
  try {
    const [lro] = await c.instances.stop({ project: c.project, zone, instance: name });
    return { zone, operation: opName(lro), what: `stopping instance ${name}` };
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw gceFailure(`${c.where}/${zone}`, `stopping instance ${name}`, err);
  }
}

export async function startInstance(c: GceClients, zone: string, name: string): Promise<Pending> {
  try {
    const [lro] = await c.instances.start({ project: c.project, zone, instance: name });
    return { zone, operation: opName(lro), what: `starting instance ${name}` };
  } catch (err) {
    throw gceFailure(`${c.where}/${zone}`, `starting instance ${name}`, err);
  }
}

/** Waits for every pending operation; the first failure is thrown after all have ended. */
export async function waitAll(c: GceClients, pending: Pending[], deadlineMs: number, fromInsert = false): Promise<void> {
  const results = await Promise.allSettled(pending.map((p) => waitOperation(c, p, deadlineMs, fromInsert)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** The zone's short name from a URL or name (`…/zones/us-central1-a` → `us-central1-a`). */
export function shortName(urlOrName: string | null | undefined): string {
  return (urlOrName ?? '').split('/').pop() ?? '';
}

export function ipsOf(inst: Instance): { privateIp?: string; publicIp?: string } {
  const nic = inst.networkInterfaces?.[0];
  const privateIp = nic?.networkIP ?? undefined;
  const publicIp = nic?.accessConfigs?.find((a) => a.natIP)?.natIP ?? undefined;
  return { ...(privateIp ? { privateIp } : {}), ...(publicIp ? { publicIp } : {}) };
}
