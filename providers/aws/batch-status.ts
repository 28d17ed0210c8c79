// The cloud's half of batched status: ONE DescribeInstances (all pages) per region for every
// Petrel instance there, however many clusters and watchers ask. Concurrent callers share the
// call in flight, and an answer younger than MAX_AGE_MS is reused, so watchers polling a
// thousand jobs every second or two cost about one call per region every two seconds.
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ClusterHandle } from '../../core/cluster-state.js';
import type { InstanceState } from '../vm/access.js';
import { describe, TAG_CLUSTER, type Ec2Instance } from './instances.js';

export const MAX_AGE_MS = 2_000;

/** Spot capacity reclaimed: EC2's StateReason code for an interrupted spot instance. */
export const SPOT_TERMINATION = 'Server.SpotInstanceTermination';

export function instanceState(i: Ec2Instance): InstanceState {
  switch (i.state) {
    case 'pending':
    case 'running':
      return { state: 'up' };
    case 'stopping':
    case 'stopped':
      return { state: 'stopped', ...(i.stateReasonMessage ? { detail: `EC2: ${i.stateReasonMessage}` } : {}) };
    default: {
      const detail = `EC2: instance ${i.instanceId} ${i.state}${i.stateReasonMessage ? ` (${i.stateReasonMessage})` : i.stateReasonCode ? ` (${i.stateReasonCode})` : ''}`;
      return { state: 'gone', reason: i.stateReasonCode === SPOT_TERMINATION ? 'preempted' : 'terminated', detail };
    }
  }
}

export class RegionDescriber {
  private readonly rounds = new Map<string, { startedAt: number; done: boolean; answer: Promise<Map<string, Ec2Instance>> }>();
  /** DescribeInstances rounds started, for tests and metrics */
  roundsTotal = 0;

  constructor(
    private readonly clientFor: (region: string) => EC2Client,
    private readonly maxAgeMs = MAX_AGE_MS,
  ) {}

  /** Every Petrel instance of the region by id (terminated ones for as long as EC2 lists them). */
  instances(region: string): Promise<Map<string, Ec2Instance>> {
    const r = this.rounds.get(region);
    if (r && (!r.done || Date.now() - r.startedAt < this.maxAgeMs)) return r.answer;
    this.roundsTotal++;
    const round = {
      startedAt: Date.now(),
      done: false,
      answer: describe(this.clientFor(region), [{ Name: 'tag-key', Values: [TAG_CLUSTER] }], `aws ${region}`).then((list) => new Map(list.map((i) => [i.instanceId, i]))),
    };
    this.rounds.set(region, round);
    round.answer.then(
      () => (round.done = true),
      // A failed round is not reused: the next caller asks again.
      () => this.rounds.get(region) === round && this.rounds.delete(region),
    );
    return round.answer;
  }

  /** Forgets the region's answer (after we changed its instances ourselves). */
  invalidate(region: string): void {
    // Also one in flight: it may have been asked before the change (its callers still get it).
    this.rounds.delete(region);
  }

  /** The cloud's answer for every node of `handles` (for VmAccess.batchStatus). */
  async states(handles: ClusterHandle[]): Promise<Map<string, InstanceState>> {
    const regions = [...new Set(handles.map((h) => h.region).filter((r): r is string => !!r))];
    const answers = await Promise.all(regions.map((r) => this.instances(r)));
    const out = new Map<string, InstanceState>();
    for (const answer of answers) for (const [id, inst] of answer) out.set(id, instanceState(inst));
    return out;
  }
}
