// The cloud's half of batched status: ONE DescribeInstances (all pages) per region for every
// Petrel instance there, however many clusters and watchers ask. Concurrent callers share the
// call in flight, and an answer younger than MAX_AGE_MS is reused, so watchers polling a
// thousand jobs every second or two cost about one call per region every two seconds.
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ClusterHandle } from '../../core/cluster-state.js';
import type { InstanceState } from '../vm/access.js';
import { Coalescer } from '../vm/coalescer.js';
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
  private readonly answers: Coalescer<Map<string, Ec2Instance>>;

  constructor(
    private readonly clientFor: (region: string) => EC2Client,
    maxAgeMs = MAX_AGE_MS,
  ) {
    this.answers = new Coalescer(maxAgeMs);
  }

  /** DescribeInstances rounds started, for tests and metrics */
  get roundsTotal(): number {
    return this.answers.fetches;
  }

  /** Every Petrel instance of the region by id (terminated ones for as long as EC2 lists them). */
  instances(region: string): Promise<Map<string, Ec2Instance>> {
    return this.answers.get(region, () =>
      describe(this.clientFor(region), [{ Name: 'tag-key', Values: [TAG_CLUSTER] }], `aws ${region}`).then((list) => new Map(list.map((i) => [i.instanceId, i]))),
    );
  }

  /** Forgets the region's answer, also one in flight (after we changed its instances ourselves). */
  invalidate(region: string): void {
    this.answers.drop(region);
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
