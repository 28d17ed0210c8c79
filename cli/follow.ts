// Streams a cluster job's output (setup, then run) to the terminal while showing one progress
// line per phase, until the job ends; the exit code is the job's.
import type { WorkflowHandle } from '@temporalio/client';
import { isTerminalJobStatus } from '../core/cluster-state.js';
import type { ClusterView, JobView } from '../workflows/cluster-types.js';
import { clusterStatusQuery } from '../workflows/cluster-messages.js';
import type { CliContext } from './context.js';
import { UserError } from './errors.js';
import { LogStreamer, phaseLogs, type LogReport } from './log-streamer.js';
import { LogSession } from './worker-ops.js';

const PHASE_LINES: Record<string, string> = {
  INIT: 'provisioning',
  SYNCING: 'syncing workdir',
  PENDING: 'waiting in the cluster queue',
  SETTING_UP: 'running setup',
  RUNNING: 'running',
};

export function jobExitCode(job: JobView): number {
  if (job.status === 'SUCCEEDED') return 0;
  if (typeof job.exitCode === 'number' && job.exitCode > 0) return job.exitCode;
  if (job.status === 'CANCELLED') return 130;
  return 1;
}

export interface FollowOptions {
  /** print one line per phase change to stderr */
  progress: boolean;
  /** stop at the first view where this returns true even if the job still runs */
  until?: (view: ClusterView, job: JobView) => boolean;
}

export interface FollowedJob {
  job: JobView;
  /** what the log streams showed and what they could not */
  report: LogReport;
}

/**
 * Follows one run of the cluster workflow (pinned by runId, so a cluster torn down by
 * `--down` can still be queried for its final state).
 */
export async function followJob(ctx: CliContext, handle: WorkflowHandle, jobId: number, opts: FollowOptions): Promise<FollowedJob> {
  let lastPhase = '';
  let streamer: LogStreamer | undefined;
  let delay = 50;
  const clusterName = handle.workflowId.replace(/^cluster\//, '');
  const session = new LogSession(() => ctx.client());
  try {
    for (;;) {
      const view = await handle.query(clusterStatusQuery);
      const job = view.jobs.find((j) => j.id === jobId);
      if (!job) throw new UserError(`cluster '${clusterName}' has no job ${jobId}`);
      const phase = view.status === 'INIT' ? 'INIT' : job.syncing ? 'SYNCING' : job.status;
      if (opts.progress && phase !== lastPhase && PHASE_LINES[phase]) ctx.note(`⚙︎ ${PHASE_LINES[phase]}...`);
      lastPhase = phase;
      const stop = isTerminalJobStatus(job.status) || !!opts.until?.(view, job);
      if (view.handle) {
        streamer ??= new LogStreamer(ctx, session, job.numNodes, `the logs of job ${jobId} of cluster '${clusterName}'`);
        // Once the job has ended, its logs are read to their end: no line is lost.
        await streamer.pump(view.handle, phaseLogs(job.logKeys, job.logWorkers, isTerminalJobStatus(job.status)), stop);
      }
      if (stop) {
        streamer?.flush();
        return { job, report: streamer?.report() ?? { streams: 0, printed: 0, missing: [] } };
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(500, delay + 25);
    }
  } finally {
    await session.close();
  }
}
