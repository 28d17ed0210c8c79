// Prints the output of detached jobs as it grows, from the node while the job runs and from
// the archive once it has ended (so output survives the cluster's teardown). With several
// nodes each line is prefixed with its node.
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
   * `final`: the job has ended; read the node too if there is no archive.
   */
  async pump(handle: ClusterHandle, keys: (string | undefined)[], final = false): Promise<void> {
    const provider = getProvider(handle.provider, { home: this.ctx.home });
    for (const key of keys) {
      if (!key) continue;
      for (const node of handle.nodes.slice(0, this.numNodes)) {
        const id = `${handle.clusterName}/${key}@${node.rank}`;
        let s = this.streams.get(id);
        if (!s) this.streams.set(id, (s = { key, rank: node.rank, offset: 0, partial: '', firstSeen: Date.now() }));
        const archive = archivedLogPath(this.ctx.home, handle.clusterName, key, node.rank);
        for (;;) {
          // The archive is complete once written; before that, read the node itself.
          const archived = readArchivedLog(archive, s.offset);
          if (!archived && !final && Date.now() - s.firstSeen < LIVE_AFTER_MS) break;
          const chunk = archived ?? (await provider.runner(handle, node).readLog(key, s.offset));
          if (chunk.nextOffset === s.offset) break;
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

  private prefix(s: Stream): string {
    return this.numNodes > 1 ? `(node ${s.rank}) ` : '';
  }

  private write(s: Stream, data: string): void {
    if (this.numNodes <= 1) {
      this.ctx.io.out(data);
      return;
    }
    const lines = (s.partial + data).split('\n');
    s.partial = lines.pop() ?? '';
    for (const l of lines) this.ctx.io.out(`${this.prefix(s)}${l}\n`);
  }
}
