// What GCE says about the instances of many clusters, for the batched status: ONE
// instances.list per zone per round (every Petrel instance of the zone, by label presence),
// shared by concurrent callers and reused while younger than REUSE_MS, so a thousand watched
// jobs in a zone cost one call per round. Instances that are not running are explained by the
// zone's preemption operations (one more list, only in zones that have such instances).
import type { ClusterHandle } from '../../core/cluster-state.js';
import type { InstanceState } from '../vm/access.js';
import { Coalescer } from '../vm/coalescer.js';
import type { GceClients } from './client.js';
import { listInstances, listOperations, shortName, type Instance, type Operation } from './instances.js';
import { ALL_PETREL_FILTER } from './names.js';

export const REUSE_MS = 2_000;

const PREEMPTED_FILTER = 'operationType = "compute.instances.preempted"';

export class GceStatus {
  readonly lists = new Coalescer<Instance[]>(REUSE_MS);
  readonly preemptions = new Coalescer<Operation[]>(REUSE_MS);

  zoneInstances(c: GceClients, zone: string): Promise<Instance[]> {
    return this.lists.get(`${c.project}/${zone}`, () => listInstances(c, zone, ALL_PETREL_FILTER));
  }

  zonePreemptions(c: GceClients, zone: string): Promise<Operation[]> {
    return this.preemptions.get(`${c.project}/${zone}`, () => listOperations(c, zone, PREEMPTED_FILTER));
  }

  /** After a change of our own (provision, stop, terminate): the next round asks again. */
  invalidate(c: GceClients, zone: string): void {
    this.lists.drop(`${c.project}/${zone}`);
    this.preemptions.drop(`${c.project}/${zone}`);
  }

  /** Instance states (keyed by instance name) of every node of `handles`. */
  async states(c: GceClients, handles: ClusterHandle[]): Promise<Map<string, InstanceState>> {
    const zones = new Set<string>();
    for (const h of handles) for (const n of h.nodes) if (n.data.zone ?? h.zone) zones.add(n.data.zone ?? h.zone!);
    const out = new Map<string, InstanceState>();
    await Promise.all(
      [...zones].map(async (zone) => {
        const instances = await this.zoneInstances(c, zone);
        const byName = new Map(instances.map((i) => [i.name ?? '', i]));
        const watched = handles.flatMap((h) => h.nodes.filter((n) => (n.data.zone ?? h.zone) === zone));
        const unwell = watched.some((n) => {
          const s = byName.get(n.data.instance_id ?? '')?.status;
          return s !== 'RUNNING' && s !== 'PROVISIONING' && s !== 'STAGING';
        });
        const preempted = unwell ? await this.zonePreemptions(c, zone) : [];
        for (const n of watched) {
          const name = n.data.instance_id ?? '';
          out.set(name, stateOf(zone, name, n.data.gce_id, byName.get(name), preempted));
        }
      }),
    );
    return out;
  }
}

function preemptionOf(name: string, id: string | undefined, ops: Operation[], since?: string): Operation | undefined {
  return ops.find((o) => (shortName(o.targetLink) === name || (id && String(o.targetId) === id)) && (!since || Date.parse(o.insertTime ?? '') >= Date.parse(since)));
}

/** One instance's state, from the list (absent = gone) and the zone's preemption operations. */
export function stateOf(zone: string, name: string, id: string | undefined, inst: Instance | undefined, preempted: Operation[]): InstanceState {
  const at = (op: Operation) => `GCE preempted the Spot VM ${name} in ${zone}${op.insertTime ? ` at ${op.insertTime}` : ''}`;
  if (!inst) {
    const op = preemptionOf(name, id, preempted);
    return op ? { state: 'gone', reason: 'preempted', detail: `${at(op)} (deleted)` } : { state: 'gone', reason: 'terminated', detail: `instance ${name} in ${zone} no longer exists` };
  }
  switch (inst.status) {
    case 'PROVISIONING':
    case 'STAGING':
    case 'RUNNING':
      return { state: 'up' };
    case 'STOPPING':
    case 'TERMINATED': {
      // A preemption after the instance last started (a stopped-then-started instance's old preemption does not count).
      const op = preemptionOf(name, id ?? (inst.id ? String(inst.id) : undefined), preempted, inst.lastStartTimestamp ?? undefined);
      if (op || /preempt/i.test(inst.statusMessage ?? '')) return { state: 'gone', reason: 'preempted', detail: op ? at(op) : `${name}: ${inst.statusMessage}` };
      return { state: 'stopped', detail: `instance ${name} is ${inst.status}` };
    }
    default:
      return { state: 'stopped', detail: `instance ${name} is ${inst.status ?? 'in an unknown state'}` };
  }
}
