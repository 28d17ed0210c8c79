// What the CLI asks of workers, through Temporal only: one-shot operations (check, debug) and
// log sessions (one workflow per command, one update per read). See workflows/worker-operation.ts.
import { randomUUID } from 'node:crypto';
import zlib from 'node:zlib';
import {
  WorkflowFailedError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  WorkflowUpdateStage,
  WithStartWorkflowOperation,
  type Client,
  type WorkflowHandle,
  type WorkflowUpdateHandle,
} from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { TASK_QUEUE } from '../core/names.js';
import type { WorkerRef } from '../core/cluster-state.js';
import {
  decodeLogChunks,
  noWorkerMessage,
  SESSION_RENEWING,
  splitLogBody,
  WAIT_FOR_WORKER_MS,
  type ReadLogsHeader,
  type ReadLogsRequest,
  type WorkerOperationRequest,
} from '../core/worker-ops.js';
import { endLogSessionSignal, readLogsUpdate } from '../workflows/worker-operation-messages.js';
import type { logSessionWorkflow, workerOperationWorkflow } from '../workflows/worker-operation.js';
import { SA } from '../workflows/search-attributes.js';
import { currentUser } from './cluster-requests.js';
import { UserError } from './errors.js';

/** Marks operation workflows (PetrelKind = 'op'), so listings and the UI can leave them out. */
function opAttributes() {
  return [
    { key: SA.kind, value: 'op' },
    { key: SA.user, value: currentUser() },
  ];
}

/** The failure a worker or the operation workflow reported, as a message for the user. */
function asUserError(err: unknown): unknown {
  if (err instanceof UserError) return err;
  if ((err instanceof WorkflowFailedError || err instanceof WorkflowUpdateFailedError) && err.cause) {
    let cause: Error = err.cause;
    while ((cause as { cause?: Error }).cause) cause = (cause as { cause: Error }).cause;
    return new UserError(cause.message);
  }
  return err;
}

/** Runs one allow-listed activity on a worker (its own queue, or any worker's) and returns its answer. */
export async function runWorkerOperation<T>(client: Client, kind: string, req: WorkerOperationRequest): Promise<T> {
  try {
    return (await client.workflow.execute<typeof workerOperationWorkflow>('workerOperationWorkflow', {
      taskQueue: TASK_QUEUE,
      workflowId: `op/${kind}/${randomUUID()}`,
      args: [req],
      typedSearchAttributes: opAttributes(),
      // Nothing lingers if no worker ever picks it up.
      workflowExecutionTimeout: '10 minutes',
    })) as T;
  } catch (err) {
    throw asUserError(err);
  }
}

/** The session is over (ended idle, finished, or timed out): start another and read again. */
function sessionGone(err: unknown): boolean {
  if (err instanceof WorkflowNotFoundError) return true;
  const msg = err instanceof Error ? err.message : String(err);
  return /already completed|not found|workflow.*(closed|complete|timed out)|continued as new/i.test(msg);
}

/**
 * One command's reads of job logs. Each worker that has some of them serves them through a
 * logSessionWorkflow on its own task queue (started on the first read, ended by close()), one
 * update per read. Reads are idempotent (by offset), so a read that meets a session that has
 * just ended is sent again to a new one.
 */
export class LogSession {
  private sessions = new Map<string, Promise<WorkflowHandle<typeof logSessionWorkflow>>>();

  constructor(private readonly client: () => Promise<Client>) {}

  /**
   * Reads from the worker serving `queue`; `worker` and `what` only make the message when no
   * worker does: its update is not even accepted within WAIT_FOR_WORKER_MS.
   */
  async read(queue: string, worker: WorkerRef | undefined, what: string, request: ReadLogsRequest): Promise<{ header: ReadLogsHeader; data: Uint8Array[] }> {
    const client = await this.client();
    let freshTried = false;
    for (let attempt = 1; ; attempt++) {
      let accepted: WorkflowUpdateHandle<Uint8Array>;
      try {
        accepted = await client.withDeadline(Date.now() + WAIT_FOR_WORKER_MS, async () => {
          const session = this.sessions.get(queue);
          if (session) return (await session).startUpdate(readLogsUpdate, { args: [{ request }], waitForStage: WorkflowUpdateStage.ACCEPTED });
          // The first read starts the session in the same round trip (update-with-start).
          const start = this.startOperation(queue);
          const handle = start.workflowHandle();
          handle.catch(() => undefined);
          this.sessions.set(queue, handle);
          return client.workflow.startUpdateWithStart(readLogsUpdate, { args: [{ request }], waitForStage: WorkflowUpdateStage.ACCEPTED, startWorkflowOperation: start });
        });
      } catch (err) {
        if (attempt < 10 && renewing(err)) continue;
        if (attempt < 10 && sessionGone(err)) {
          this.sessions.delete(queue);
          continue;
        }
        if (isDeadline(err)) {
          // Nobody picked up the session: it must not wait there for a worker that may come back.
          const handle = await this.sessions.get(queue)?.catch(() => undefined);
          this.sessions.delete(queue);
          await handle?.terminate('no worker serves its task queue').catch(() => undefined);
          // A session cached by a worker that died waits out that worker's sticky queue first;
          // a fresh one goes straight to whichever worker serves the queue now. Only when that
          // one is not taken up either does no worker serve it.
          if (!freshTried) {
            freshTried = true;
            continue;
          }
          throw new UserError(noWorkerMessage(queue, worker, what));
        }
        throw asUserError(err);
      }
      try {
        const { header, body } = decodeLogChunks(await accepted.result());
        return { header, data: splitLogBody(header, header.encoding === 'deflate' ? zlib.inflateRawSync(body) : body) };
      } catch (err) {
        if (attempt < 10 && renewing(err)) continue;
        if (attempt < 10 && sessionGone(err)) {
          this.sessions.delete(queue);
          continue;
        }
        throw asUserError(err);
      }
    }
  }

  private startOperation(queue: string): WithStartWorkflowOperation<typeof logSessionWorkflow> {
    return new WithStartWorkflowOperation<typeof logSessionWorkflow>('logSessionWorkflow', {
      taskQueue: queue,
      workflowId: `op/logs/${randomUUID()}`,
      workflowIdConflictPolicy: 'FAIL',
      args: [],
      typedSearchAttributes: opAttributes(),
      // A safety net only: a session continues as new well before (workflows/worker-operation.ts).
      workflowRunTimeout: '30 minutes',
    });
  }

  /** Tells each session it is done (each would end by itself after two idle minutes). */
  async close(): Promise<void> {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(
      sessions.map(async (s) => {
        const handle = await s.catch(() => undefined);
        await handle?.signal(endLogSessionSignal).catch(() => undefined);
      }),
    );
  }
}

/** The session refused the read while it continues as new: the same workflow id takes it again. */
function renewing(err: unknown): boolean {
  const messages: string[] = [];
  for (let e = err as { message?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) messages.push(e.message ?? '');
  return messages.some((m) => m.includes(SESSION_RENEWING));
}

function isDeadline(err: unknown): boolean {
  if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return true;
  const e = err as { code?: number; message?: string; cause?: { code?: number } };
  // gRPC DEADLINE_EXCEEDED is status 4
  return e?.code === 4 || e?.cause?.code === 4 || /deadline/i.test(e?.message ?? '');
}
