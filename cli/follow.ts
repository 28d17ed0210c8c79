// Streams a cluster job's output (setup, then run) to the terminal while showing one progress
// line per phase, until the job ends; the exit code is the job's.
import type { WorkflowHandle } from '@temporalio/client';
import { isTerminalJobStatus, type ClusterHandle } from '../core/cluster-state.js';
import { archivedLogPath, readArchivedLog } from '../activities/log-archive.js';
import { getProvider } from '../providers/registry.js';
import type { ClusterView, JobView } from '../workflows/cluster-types.js';
import { clusterStatusQuery } from '../workflows/cluster-messages.js';
import type { CliContext } from './context.js';
import { UserError } from './errors.js';

const PHASE_LINES: Record<string, string> = {
  INIT: 'provisioning',
  SYNCING: 'syncing workdir',
  PENDING: 'waiting in the cluster queue',
  SETTING_UP: 'running setup',
  RUNNING: 'running',
};

interface Stream {
  key: string;
  rank: number;
  offset: number;
  partial: string;
}

export function jobExitCode(job: JobView): number {
  if (job.status === 'SUCCEEDED') return 0;
  if (typeof job.exitCode === 'number' && job.exitCode > 0) return job.exitCode;
  if (job.status === 'CANCELLED') return 130;
  return 1;
}

export class JobLogStreamer {
  private streams = new Map<string, Stream>();

  constructor(
    private readonly ctx: CliContext,
    private readonly numNodes: number,
  ) {}

  async pump(handle: ClusterHandle, job: JobView): Promise<void> {
    const provider = getProvider(handle.provider, { home: this.ctx.home });
    for (const key of [job.logKeys.setup, job.logKeys.run]) {
      if (!key) continue;
      for (const node of handle.nodes.slice(0, job.numNodes)) {
        const id = `${key}@${node.rank}`;
        let s = this.streams.get(id);
        if (!s) this.streams.set(id, (s = { key, rank: node.rank, offset: 0, partial: '' }));
        const archive = archivedLogPath(this.ctx.home, handle.clusterName, key, node.rank);
        for (;;) {
          // The archive is complete once written; before that, read the node itself.
          const chunk = readArchivedLog(archive, s.offset) ?? (await provider.runner(handle, node).readLog(key, s.offset));
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

export interface FollowOptions {
  /** print one line per phase change to stderr */
  progress: boolean;
  /** stop at the first view where this returns true even if the job still runs */
  until?: (view: ClusterView, job: JobView) => boolean;
}

/**
 * Follows one run of the cluster workflow (pinned by runId, so a cluster torn down by
 * `--down` can still be queried for its final state).
 */
export async function followJob(ctx: CliContext, handle: WorkflowHandle, jobId: number, opts: FollowOptions): Promise<JobView> {
  let lastPhase = '';
  let streamer: JobLogStreamer | undefined;
  let delay = 50;
  const clusterName = handle.workflowId.replace(/^cluster\//, '');
  for (;;) {
    const view = await handle.query(clusterStatusQuery);
    const job = view.jobs.find((j) => j.id === jobId);
    if (!job) throw new UserError(`cluster '${clusterName}' has no job ${jobId}`);
    const phase = view.status === 'INIT' ? 'INIT' : job.syncing ? 'SYNCING' : job.status;
    if (opts.progress && phase !== lastPhase && PHASE_LINES[phase]) ctx.note(`⚙︎ ${PHASE_LINES[phase]}...`);
    lastPhase = phase;
    if (view.handle) {
      streamer ??= new JobLogStreamer(ctx, job.numNodes);
      await streamer.pump(view.handle, job);
    }
    if (isTerminalJobStatus(job.status) || opts.until?.(view, job)) {
      streamer?.flush();
      return job;
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(500, delay + 25);
  }
}
