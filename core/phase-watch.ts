// What a watcher tells a job's workflow about one phase (setup or run) of the job, and how it
// turns batched status reports into those messages. Pure: the watcher activity keeps one
// tracker per watched phase in memory; everything a tracker forgets in a crash is re-derived
// from the next report (an exit code is a file, a lost node stays lost), so a restarted
// watcher only repeats messages, which the workflows ignore.
import type { ClusterHandle, NodeStatus } from './cluster-state.js';

/** One phase of one job, registered with the watcher of the scope its nodes are in. */
export interface WatchEntry {
  /** the workflow to tell (job/<id> or cluster/<name>) */
  workflowId: string;
  /** the detached-job key of the phase */
  key: string;
  handle: ClusterHandle;
  ranks: number[];
  /** a node that does not answer for longer than this counts as lost */
  graceSeconds: number;
}

export function watchEntryId(e: { workflowId: string; key: string }): string {
  return `${e.workflowId} ${e.key}`;
}

/** Where a cluster's watcher runs: one per provider and region (and worker, for local nodes). */
export interface WatchScope {
  provider: string;
  region: string;
  /** the task queue of the only worker that can reach the nodes; absent = any worker */
  queue?: string;
}

export function watcherWorkflowId(scope: WatchScope): string {
  return `watch/${scope.provider}/${scope.region}${scope.queue ? `/${scope.queue}` : ''}`;
}

export type PhaseEvent =
  /** the process on node `index` (position in the entry's ranks) ended; null: it vanished without an exit code */
  | { kind: 'ended'; index: number; exitCode: number | null }
  /** nodes are gone (preempted, terminated) or did not answer for longer than the grace */
  | { kind: 'nodeLost'; nodes: NodeStatus[]; message: string };

export interface PhaseUpdate {
  key: string;
  events: PhaseEvent[];
}

/** A batched status report for one entry, as providers give it (see Provider.batchStatus). */
export interface PhaseReport {
  nodes: NodeStatus[];
  jobs: ({ state: 'running' } | { state: 'exited'; exitCode: number } | { state: 'lost' } | { state: 'unknown' })[];
}

export class PhaseTracker {
  private readonly told: boolean[];
  private lossTold = false;
  private unreachableSince: number | undefined;

  constructor(readonly entry: WatchEntry) {
    this.told = entry.ranks.map(() => false);
  }

  /** when every node was last seen up (how long a loss took to notice, for metrics) */
  lastUpAt: number | undefined;

  /** Nothing more will ever be said about this phase. */
  get finished(): boolean {
    return this.lossTold || !this.told.includes(false);
  }

  /**
   * What changed since the last report: nodes whose process ended, and a lost node (gone at
   * once; unreachable only after the grace). A job that vanished from a node that is still up
   * ended without an exit code; on a gone node it is part of the loss, and so is one killed by a
   * signal there.
   */
  next(report: PhaseReport, now: number): readonly PhaseEvent[] {
    if (this.finished) return NOTHING;
    if (this.allRunning(report)) {
      this.lastUpAt = now;
      return NOTHING;
    }
    const events: PhaseEvent[] = [];
    const gone = report.nodes.filter((n) => n.state === 'gone' && n.reason !== 'unreachable');
    const silent = report.nodes.filter((n) => n.state === 'gone' && n.reason === 'unreachable');
    report.jobs.forEach((job, i) => {
      if (this.told[i]) return;
      const node = report.nodes[i];
      if (job.state === 'exited') {
        // Killed by a signal on a node that is going away (a spot interruption notice SIGTERMs
        // the job so it can checkpoint): the loss ended it, and the loss is what gets reported.
        if (job.exitCode >= 128 && node?.state === 'gone' && node.reason !== 'unreachable') return;
        this.told[i] = true;
        events.push({ kind: 'ended', index: i, exitCode: job.exitCode });
      } else if ((job.state === 'lost' || job.state === 'unknown') && node !== undefined && node.state !== 'gone') {
        this.told[i] = true;
        events.push({ kind: 'ended', index: i, exitCode: null });
      }
    });
    if (gone.length > 0) {
      this.lossTold = true;
      events.push({ kind: 'nodeLost', nodes: gone, message: `node ${ranks(gone)} is gone (${gone[0]!.reason ?? 'unknown reason'}${gone[0]!.detail ? `: ${gone[0]!.detail}` : ''})` });
      return events;
    }
    if (silent.length === 0) {
      this.unreachableSince = undefined;
      return events;
    }
    this.unreachableSince ??= now;
    const forMs = now - this.unreachableSince;
    if (forMs >= this.entry.graceSeconds * 1000) {
      this.lossTold = true;
      events.push({ kind: 'nodeLost', nodes: silent, message: `node ${ranks(silent)} unreachable for ${Math.round(forMs / 1000)} s` });
    }
    return events;
  }

  /** The common case, ten thousand times a second on a big worker: nothing changed, nothing allocated. */
  private allRunning(report: PhaseReport): boolean {
    for (const job of report.jobs) if (job.state !== 'running') return false;
    for (const node of report.nodes) if (node.state === 'gone') return false;
    this.unreachableSince = undefined;
    return true;
  }

  /** Ranks whose process vanished in `events`: what it left in its process group goes too. */
  static vanished(entry: WatchEntry, events: readonly PhaseEvent[]): number[] {
    return events.flatMap((e) => (e.kind === 'ended' && e.exitCode === null ? [entry.ranks[e.index]!] : []));
  }
}

const NOTHING: readonly PhaseEvent[] = Object.freeze([]);

function ranks(nodes: NodeStatus[]): string {
  return nodes.map((n) => n.rank).join(', ');
}
