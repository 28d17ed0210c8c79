// Watching a job that runs on several nodes at once: which nodes have ended and how (gang
// semantics: the first failure decides the job's exit code and stops the rest), and whether
// the nodes themselves still exist (a node that vanished is a preemption; one that stops
// answering gets a grace period, so a network blip is not mistaken for one).
import type { NodeStatus } from '../core/cluster-state.js';
import type { ClusterHandle } from '../core/cluster-state.js';
import { Gang } from '../core/gang.js';
import type { DetachedJobState, Provider } from '../providers/types.js';

/** The legacy run activity's view of a gang: the states its polls saw, node by node. */
export class GangWatch extends Gang {
  /** nodes whose wrapper vanished without an exit code during the last record() */
  lostNow: number[] = [];

  record(states: DetachedJobState[]): void {
    this.lostNow = [];
    states.forEach((s, i) => {
      if (this.isDone(i)) return;
      if (s.state === 'exited') this.ended(i, s.exitCode);
      else if (s.state === 'lost' || s.state === 'unknown') {
        this.ended(i, null);
        this.lostNow.push(i);
      }
    });
  }
}

export interface NodeLoss {
  nodes: NodeStatus[];
  message: string;
}

export class NodeHealth {
  private unreachableSince: number | undefined;
  /** The nodes were just provisioned (or found by a re-attach): the first check can wait. */
  private lastCheck = Date.now();

  constructor(
    private readonly provider: Provider,
    private readonly handle: ClusterHandle,
    private readonly graceMs: number,
    private readonly everyMs = 2_000,
  ) {}

  /** A verdict when a node is lost; checks at most every `everyMs` unless `now` is forced. */
  async check(force: boolean, now = Date.now()): Promise<NodeLoss | undefined> {
    if (!force && now - this.lastCheck < this.everyMs) return undefined;
    this.lastCheck = now;
    const nodes = await this.provider
      .query(this.handle)
      .catch(() => this.handle.nodes.map((n): NodeStatus => ({ rank: n.rank, state: 'gone', reason: 'unreachable' })));
    const gone = nodes.filter((n) => n.state === 'gone' && n.reason !== 'unreachable');
    if (gone.length > 0) return { nodes: gone, message: `node ${ranks(gone)} is gone (${gone[0]!.reason ?? 'unknown reason'})` };
    const silent = nodes.filter((n) => n.state === 'gone');
    if (silent.length === 0) {
      this.unreachableSince = undefined;
      return undefined;
    }
    this.unreachableSince ??= now;
    const forMs = now - this.unreachableSince;
    return forMs < this.graceMs ? undefined : { nodes: silent, message: `node ${ranks(silent)} unreachable for ${Math.round(forMs / 1000)} s` };
  }
}

function ranks(nodes: NodeStatus[]): string {
  return nodes.map((n) => n.rank).join(', ');
}
