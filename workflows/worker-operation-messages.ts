// Messages of the log-session workflow (sandbox-safe: the CLI imports them too).
import { defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ReadLogsCall } from '../core/worker-ops.js';

/** One read: its answer is core/worker-ops.ts encodeLogChunks's binary framing. */
export const readLogsUpdate = defineUpdate<Uint8Array, [ReadLogsCall]>('readLogs');
/** The CLI is done: the session ends once the reads in flight are answered. */
export const endLogSessionSignal = defineSignal<[]>('end');
