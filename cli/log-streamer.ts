// Prints the output of detached jobs as it grows, from the node while the job runs and from
// the archive once it has ended (so output survives the cluster's teardown). With several
// nodes each line is prefixed with its node. It also keeps account of what it could not
// show, so a command with nothing to print can say why instead of printing nothing.
import { archivedLogPath, readArchivedLog } from '../activities/log-archive.js';
import type { ClusterHandle } from '../core/cluster-state.js';
import { getProvider } from '../providers/registry.js';
import type { CliContext } from './context.js';

interface Stream {
  key: string;
  rank: number;
  offset: number;
  partial: string;
  firstSeen: number;
  /** bytes printed */
  printed: number;
  /** an archive of this log was found in this home */
  archived: boolean;
  /** nothing more will be read (the last read was asked for) */
  done: boolean;
  /** the job had ended when it was last read */
  ended: boolean;
  /** why the node could not be read, the last time it was tried */
  unreachable?: string;
}

/** What a streamer has shown, and what it could not. */
export interface LogReport {
  /** logs it was asked to show (node × phase) */
  streams: number;
  printed: number;
  /** ended phases whose output is neither in this home's archive nor on a node it can read */
  missing: Array<{ rank: number; key: string; why: string }>;
}

/**
 * A log is read from its node only after this long: a short job's output then comes from
 * the archive in one read, and the CLI never opens a connection (SSH: a handshake) for it.
 */
const LIVE_AFTER_MS = 1_000;

export class LogStreamer {
  private streams = new Map<string, Stream>();

  constructor(
    private readonly ctx: CliContext,
    private readonly numNodes: number,
  ) {}

  /**
   * Prints whatever is new in these detached jobs' logs on the cluster's first numNodes nodes.
   * `final`: this is the last read (read the node too if there is no archive); `ended`: the
   * job has ended, so output not found now will not come later.
   */
  async pump(handle: ClusterHandle, keys: (string | undefined)[], final = false, ended = final): Promise<void> {
    const provider = getProvider(handle.provider, { home: this.ctx.home });
    for (const key of keys) {
      if (!key) continue;
      for (const node of handle.nodes.slice(0, this.numNodes)) {
        const id = `${handle.clusterName}/${key}@${node.rank}`;
        let s = this.streams.get(id);
        if (!s) this.streams.set(id, (s = { key, rank: node.rank, offset: 0, partial: '', firstSeen: Date.now(), printed: 0, archived: false, done: false, ended: false }));
        if (s.done) continue;
        s.ended = ended;
        const archive = archivedLogPath(this.ctx.home, handle.clusterName, key, node.rank);
        for (;;) {
          // The archive is complete once written; before that, read the node itself.
          const archived = readArchivedLog(archive, s.offset);
          if (archived) s.archived = true;
          if (!archived && !final && Date.now() - s.firstSeen < LIVE_AFTER_MS) break;
          let chunk = archived;
          if (!chunk) {
            try {
              chunk = await provider.runner(handle, node).readLog(key, s.offset);
              s.unreachable = undefined;
            } catch (err) {
              // A node that cannot be read now may answer later; an ended one will not.
              s.unreachable = err instanceof Error ? err.message : String(err);
              if (final) s.done = true;
              break;
            }
          }
          if (chunk.nextOffset === s.offset) {
            if (final) s.done = true;
            break;
          }
          s.offset = chunk.nextOffset;
          this.write(s, chunk.data);
        }
      }
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
      missing: all
        .filter((s) => s.done && s.ended && !s.archived && (s.unreachable !== undefined || s.printed === 0))
        .map((s) => ({ rank: s.rank, key: s.key, why: s.unreachable ?? 'no archive of it in this PETREL_HOME, and its node no longer has it' })),
    };
  }

  private prefix(s: Stream): string {
    return this.numNodes > 1 ? `(node ${s.rank}) ` : '';
  }

  private write(s: Stream, data: string): void {
    s.printed += Buffer.byteLength(data);
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
