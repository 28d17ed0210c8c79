// Short workflows through which the CLI gets what only a worker can give it (the CLI never
// reads a worker's files or a node, and holds no infra credentials):
// - workerOperationWorkflow (id op/<kind>/<uuid>, on 'petrel') runs one allow-listed activity
//   on a given worker's own task queue, or on 'petrel', and returns its answer;
// - logSessionWorkflow (id op/logs/<uuid>) serves one command's log reads as updates. It runs
//   on the task queue of the worker that has the logs (its own queue, petrel-worker/<id>), so
//   each read is a local activity there: one workflow task per read, no activity task round
//   trip (measured: about half the latency of an activity on that queue), and no workflow
//   start per poll.
// Histories stay small: each read records its bytes twice (local-activity marker and update
// result, ≤ 1 MiB each, deflated when that saves), and a run's whole history must fit one 4 MB
// gRPC message (a worker replaying it, the UI showing it), so once a run's history passes
// 1.5 MiB it refuses the next read (validators leave no history; the CLI sends it again, to
// the new run) and continues as new: a run holds at most ~3.5 MiB. A session ends when the
// CLI says so or goes quiet.
import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  TimeoutFailure,
  workflowInfo,
} from '@temporalio/workflow';
import type { WorkerActivities } from '../activities/worker-activities.js';
import type { createCheckpointReads } from '../activities/checkpoint-reads.js';
import { NON_RETRYABLE_FAILURE_TYPES } from '../core/failures.js';
import { TASK_QUEUE } from '../core/names.js';
import { isWorkerOp, NO_WORKER_FAILURE, noWorkerMessage, SESSION_RENEWING, WAIT_FOR_WORKER_MS, type WorkerOperationRequest } from '../core/worker-ops.js';
import { endLogSessionSignal, readLogsUpdate } from './worker-operation-messages.js';

/** A session ends after this long without a read (a CLI that was killed never says goodbye). */
const SESSION_IDLE_MS = 2 * 60_000;
/** Continue as new past this much history: with one more read (≤ 2 MiB) on top, still under 4 MB. */
const SESSION_HISTORY_BYTES = 1.5 * 1024 * 1024;
/** ... or after this long, so a run never meets the run timeout the CLI sets as a safety net. */
const SESSION_RUN_MS = 10 * 60_000;

const RETRY = { initialInterval: '200ms', maximumInterval: '2s', maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE_FAILURE_TYPES };

function pickedUpByNoOne(err: unknown): boolean {
  return err instanceof ActivityFailure && err.cause instanceof TimeoutFailure && err.cause.timeoutType === 'SCHEDULE_TO_START';
}

export async function workerOperationWorkflow(req: WorkerOperationRequest): Promise<unknown> {
  if (!isWorkerOp(req.op)) throw ApplicationFailure.nonRetryable(`'${String(req.op)}' is not an operation a worker runs for the CLI`);
  const taskQueue = req.queue ?? TASK_QUEUE;
  const acts = proxyActivities<WorkerActivities & ReturnType<typeof createCheckpointReads>>({
    taskQueue,
    summary: `${req.op}: ${req.what}`,
    scheduleToStartTimeout: WAIT_FOR_WORKER_MS,
    startToCloseTimeout: '1 minute',
    retry: RETRY,
  });
  try {
    return await (acts[req.op] as (...a: unknown[]) => Promise<unknown>)(...req.args);
  } catch (err) {
    if (pickedUpByNoOne(err)) throw ApplicationFailure.nonRetryable(noWorkerMessage(taskQueue, req.worker, req.what), NO_WORKER_FAILURE);
    throw err;
  }
}

export async function logSessionWorkflow(): Promise<void> {
  const { readLogs } = proxyLocalActivities<WorkerActivities>({ startToCloseTimeout: '1 minute', retry: RETRY });
  let ended = false;
  let lastRead = Date.now();
  const started = workflowInfo().runStartTime.getTime();
  // historySize is as of this workflow task's start: it counts every read answered before.
  const renew = () => workflowInfo().historySize > SESSION_HISTORY_BYTES || workflowInfo().continueAsNewSuggested || Date.now() - started > SESSION_RUN_MS;
  setHandler(
    readLogsUpdate,
    async (call) => {
      lastRead = Date.now();
      try {
        return await readLogs(call.request);
      } finally {
        lastRead = Date.now();
      }
    },
    {
      validator: (_call) => {
        // Refused, this read leaves no trace; the loop below continues as new in this same task.
        if (renew()) throw new Error(SESSION_RENEWING);
      },
    },
  );
  setHandler(endLogSessionSignal, () => {
    ended = true;
  });
  for (;;) {
    // One timer per idle period, not one per read: reads only move lastRead.
    await condition(() => ended || renew(), SESSION_IDLE_MS);
    if (ended) break;
    if (renew()) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof logSessionWorkflow>();
    }
    if (Date.now() - lastRead >= SESSION_IDLE_MS && allHandlersFinished()) break;
  }
  await condition(allHandlersFinished);
}
