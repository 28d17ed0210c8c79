// Prints the output of detached jobs as it grows. The CLI reads nothing itself: each read is a
// readLogs activity on the worker that has the bytes (core/worker-ops.ts), through the
// command's log session (cli/worker-ops.ts) — the node while a phase runs (through the worker
// that provisioned the cluster), the archive of the worker that ran the phase once it ended.
// With several nodes each line is prefixed with its node. It also keeps account of what it
// could not show, so a command with nothing to print can say why instead of printing nothing.
import type { ClusterHandle, WorkerRef } from '../core/cluster-state.js';
import { TASK_QUEUE } from '../core/names.js';
import type { LogStreamResult } from '../core/worker-ops.js';
import type { CliContext } from './context.js';
import type { LogSession } from './worker-ops.js';

interface Stream {
  key: string;
  rank: number;
  offset: number;
  partial: string;
  firstSeen: number;
  /** bytes printed */
  printed: number;
  /** nothing more will be read: everything was read, or the log is lost */
  done: boolean;
  /** why the log cannot be read, ever */
  lost?: LogStreamResult['lost'];
}

/** What a streamer has shown, and what it could not. */
export interface LogReport {
  /** logs it was asked to show (node × phase) */
  streams: number;
  printed: number;
  /** ended phases whose output no worker has any more (gone) or can reach (unreachable) */
  missing: Array<{ rank: number; key: string; kind: 'gone' | 'unreachable'; why: string }>;
}

/** One phase of a job: its detached-job key and what the job's view says about it. */
export interface PhaseLog {
  key?: string;
  /** the phase has ended: its archive is complete and nothing more will be written */
  ended: boolean;
  /** the worker that archived it, once ended (absent in views recorded before workers had queues) */
  worker?: WorkerRef;
}

/**
 * The setup and run phases of one job (a cluster job, or one attempt of a managed job) as the
 * streamer reads them: setup has ended once the run phase has a key or its archiver is known;
 * everything has ended once the job (or attempt) is `over`.
 */
export function phaseLogs(keys: { setup?: string; run?: string }, logWorkers: { setup?: WorkerRef; run?: WorkerRef } | undefined, over: boolean): PhaseLog[] {
  return [
    { key: keys.setup, ended: over || !!logWorkers?.setup || !!keys.run, worker: logWorkers?.setup },
    { key: keys.run, ended: over || !!logWorkers?.run, worker: logWorkers?.run },
  ];
}

/**
 * A log is read from its node only after this long: a short job's output then comes from
 * the archive in one read, and its worker never opens a connection (SSH: a handshake) for it.
 */
const LIVE_AFTER_MS = 1_000;

/** Reads (≤ 1 MiB each) of running logs in one pump before the caller looks at the job again. */
const LIVE_READS_PER_PUMP = 32;

export class LogStreamer {
  private streams = new Map<string, Stream>();

  constructor(
    private readonly ctx: CliContext,
    private readonly session: LogSession,
    private readonly numNodes: number,
    /** "the logs of job 2 of cluster 'a'", for messages */
    private readonly what: string,
  ) {}

  /**
   * Prints whatever is new in these phases' logs on the cluster's first numNodes nodes.
   * `final`: this is the last read (read running phases from their node at once, and stop when
   * nothing more is there now). Ended phases are read until the worker reports their end of
   * file, so no line written before the job ended is lost.
   */
  async pump(handle: ClusterHandle, phases: PhaseLog[], final = false): Promise<void> {
    // Which worker has the bytes: the archiving one for an ended phase, the provisioning one
    // (whose files hold local nodes) for a running one; any worker for handles from before.
    const groups = new Map<string, { worker?: WorkerRef; streams: Array<{ s: Stream; ended: boolean }> }>();
    for (const phase of phases) {
      if (!phase.key) continue;
      const worker = phase.ended ? (phase.worker ?? handle.worker) : handle.worker;
      const queue = worker?.queue ?? TASK_QUEUE;
      for (const node of handle.nodes.slice(0, this.numNodes)) {
        const id = `${handle.clusterName}/${phase.key}@${node.rank}`;
        let s = this.streams.get(id);
        if (!s) this.streams.set(id, (s = { key: phase.key, rank: node.rank, offset: 0, partial: '', firstSeen: Date.now(), printed: 0, done: false }));
        if (s.done) continue;
        if (!phase.ended && !final && Date.now() - s.firstSeen < LIVE_AFTER_MS) continue;
        let group = groups.get(queue);
        if (!group) groups.set(queue, (group = { worker, streams: [] }));
        group.streams.push({ s, ended: phase.ended });
      }
    }
    for (const [queue, group] of groups) await this.drain(handle, queue, group.worker, group.streams);
  }

  /** Reads from one worker until it has nothing more right now (and ended logs to their end). */
  private async drain(handle: ClusterHandle, queue: string, worker: WorkerRef | undefined, wanted: Array<{ s: Stream; ended: boolean }>): Promise<void> {
    for (let reads = 0; ; reads++) {
      const open = wanted.filter((w) => !w.s.done);
      if (open.length === 0) return;
      // A running job may print faster than it is read: come back to the job's status now and
      // then (an ended log is always read to its end).
      if (reads >= LIVE_READS_PER_PUMP && open.every((w) => !w.ended)) return;
      const { header, data } = await this.session.read(queue, worker, this.what, {
        handle,
        streams: open.map(({ s, ended }) => ({ key: s.key, rank: s.rank, offset: s.offset, ended })),
      });
      let more = false;
      header.streams.forEach((r, i) => {
        const s = open[i]?.s;
        if (!s || s.key !== r.key || s.rank !== r.rank || s.offset !== r.offset) return;
        if (r.bytes > 0) this.write(s, data[i]!);
        // A live node that does not answer (r.unreachable) is simply asked again next time.
        s.offset = r.nextOffset;
        if (r.lost) s.lost = r.lost;
        if (r.eof || r.lost) s.done = true;
        if (r.more) more = true;
      });
      if (!more) return;
    }
  }

  flush(): void {
    for (const s of this.streams.values()) {
      if (s.partial) this.ctx.io.out(this.prefix(s) + s.partial + '\n');
      s.partial = '';
    }
  }

  report(): LogReport {
    const all = [...this.streams.values()];
    return {
      streams: all.length,
      printed: all.reduce((n, s) => n + s.printed, 0),
      missing: all.flatMap((s) => (s.lost ? [{ rank: s.rank, key: s.key, kind: s.lost.kind, why: s.lost.why }] : [])),
    };
  }

  private prefix(s: Stream): string {
    return this.numNodes > 1 ? `(node ${s.rank}) ` : '';
  }

  private write(s: Stream, bytes: Uint8Array): void {
    s.printed += bytes.length;
    // Every chunk ends on a UTF-8 character boundary (the worker cuts it so).
    const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    if (this.numNodes <= 1) {
      this.ctx.io.out(data);
      return;
    }
    const lines = (s.partial + data).split('\n');
    s.partial = lines.pop() ?? '';
    for (const l of lines) this.ctx.io.out(`${this.prefix(s)}${l}\n`);
  }
}

/** Adds up the reports of several streamers (one per attempt of a managed job). */
export function mergeReports(reports: LogReport[]): LogReport {
  return {
    streams: reports.reduce((n, r) => n + r.streams, 0),
    printed: reports.reduce((n, r) => n + r.printed, 0),
    missing: reports.flatMap((r) => r.missing),
  };
}
