// Talking to managed-job workflows, with errors a user understands.
import type { Client, WorkflowHandle } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { isTerminalManagedJobStatus } from '../core/managed-job-state.js';
import { managedJobStatusQuery } from '../workflows/managed-job-messages.js';
import type { ManagedJobView } from '../workflows/managed-job-types.js';
import type { CliContext } from './context.js';
import { UserError } from './errors.js';
import { LogStreamer, mergeReports, phaseLogs, type LogReport } from './log-streamer.js';
import { LogSession } from './worker-ops.js';

export function managedJobWorkflowId(id: number): string {
  return `job/${id}`;
}

export function parseJobId(arg: string): number {
  const id = Number(arg);
  if (!Number.isInteger(id) || id < 1) throw new UserError(`'${arg}' is not a job id (a positive whole number)`);
  return id;
}

/** A job by its id, or a pipeline's step by its workflow id (`job/<id>/<index>`). */
export function jobHandle(client: Client, id: number | string): WorkflowHandle {
  return client.workflow.getHandle(typeof id === 'number' ? managedJobWorkflowId(id) : id);
}

const label = (id: number | string) => (typeof id === 'number' ? `managed job ${id}` : `step ${id}`);

/** The workflow's description (no worker needed); a UserError if there is no such job. */
export async function describeJob(client: Client, id: number) {
  try {
    return await jobHandle(client, id).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new UserError(`managed job ${id} does not exist; see petrel jobs queue`);
    throw err;
  }
}

export async function managedJobView(client: Client, id: number | string): Promise<ManagedJobView> {
  try {
    return await jobHandle(client, id).query(managedJobStatusQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new UserError(`${label(id)} does not exist; see petrel jobs queue`);
    throw err;
  }
}

export function managedJobExitCode(view: ManagedJobView): number {
  if (view.status === 'SUCCEEDED') return 0;
  const code = view.attempts.at(-1)?.exitCode;
  if (typeof code === 'number' && code > 0) return code;
  return view.status === 'CANCELLED' ? 130 : 1;
}

const STATUS_LINES: Record<string, string> = {
  PENDING: 'pending',
  STARTING: 'starting',
  RUNNING: 'running',
  RECOVERING: 'recovering',
  CANCELLING: 'cancelling',
};

/**
 * Streams a managed job's output attempt by attempt, saying where each attempt runs and why
 * the previous one ended, until the job ends (or at once, without `follow`).
 */
export async function followManagedJob(
  ctx: CliContext,
  client: Client,
  id: number | string,
  opts: { follow: boolean; progress: boolean },
): Promise<{ view: ManagedJobView; report: LogReport }> {
  const streamers = new Map<number, LogStreamer>();
  let lastStatus = '';
  let delay = 100;
  const session = new LogSession(async () => client);
  try {
    for (;;) {
      const view = await managedJobView(client, id);
      if (opts.progress && view.status !== lastStatus && STATUS_LINES[view.status]) ctx.note(`⚙︎ ${STATUS_LINES[view.status]}...`);
      lastStatus = view.status;
      const stop = isTerminalManagedJobStatus(view.status) || !opts.follow;
      for (const attempt of view.attempts) {
        if (!attempt.handle || !(attempt.setupKey || attempt.runKey)) continue;
        let streamer = streamers.get(attempt.attempt);
        if (!streamer) {
          const previous = view.attempts.filter((a) => a.attempt < attempt.attempt && a.handle).at(-1);
          if (previous) ctx.note(`⚙︎ attempt ${attempt.attempt} on ${attempt.cloud}${attempt.region ? '/' + attempt.region : ''} (attempt ${previous.attempt} ended: ${previous.outcome}${previous.reason ? `, ${previous.reason}` : ''})`);
          const what = `the logs of ${label(id)} (attempt ${attempt.attempt})`;
          streamers.set(attempt.attempt, (streamer = new LogStreamer(ctx, session, attempt.handle.nodes.length, what)));
        }
        // An ended attempt (and every attempt once the job has ended) is read to its end.
        const over = !!attempt.endedAt || isTerminalManagedJobStatus(view.status);
        await streamer.pump(attempt.handle, phaseLogs({ setup: attempt.setupKey, run: attempt.runKey }, attempt.logWorkers, over), stop);
      }
      if (stop) {
        for (const s of streamers.values()) s.flush();
        return { view, report: mergeReports([...streamers.values()].map((s) => s.report())) };
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(500, delay + 50);
    }
  } finally {
    await session.close();
  }
}
