// What the CLI asks of workers through Temporal (it never reads a worker's files or a node
// itself): the operations a worker-operation workflow may run, their requests and answers, and
// the binary framing of log chunks. Pure: shared by the CLI, the workflows and the activities.
import type { ClusterHandle, WorkerRef } from './cluster-state.js';

/** The only activities a worker-operation workflow runs. */
export const WORKER_OPS = ['readLogs', 'checkInfra', 'listGpus', 'debugPreempt', 'debugUnreachable', 'readCheckpoint'] as const;
export type WorkerOp = (typeof WORKER_OPS)[number];

export function isWorkerOp(op: unknown): op is WorkerOp {
  return typeof op === 'string' && (WORKER_OPS as readonly string[]).includes(op);
}

/** The task queue only the workers of one host and PETREL_HOME poll. */
export function workerQueue(id: string): string {
  return `petrel-worker/${id}`;
}

/** "worker 3f2a… on host h (PETREL_HOME /x)" */
export function describeWorker(w: WorkerRef): string {
  return `worker ${w.queue.replace(/^petrel-worker\//, '')} on host ${w.host}, PETREL_HOME ${w.home}`;
}

/** What a worker-operation workflow is asked to run. */
export interface WorkerOperationRequest {
  op: WorkerOp;
  args: unknown[];
  /** the task queue of the worker that must run it (default: any worker, on 'petrel') */
  queue?: string;
  /** that worker, for the message when none serves its queue */
  worker?: WorkerRef;
  /** what it is for, for messages: "the logs of job 3 of cluster 'a'" */
  what: string;
}

/** One read of a log session (which runs on the queue of the worker that has the logs). */
export interface ReadLogsCall {
  request: ReadLogsRequest;
}

/** Failure type of an operation whose worker does not poll its queue. */
export const NO_WORKER_FAILURE = 'PetrelNoWorker';

/** A log session refuses a read with this while it continues as new: send the read again. */
export const SESSION_RENEWING = 'log session continuing as new, send the read again';

/** How long an operation waits for its worker to pick it up before saying that none serves it. */
export const WAIT_FOR_WORKER_MS = 15_000;

/** The message for an operation that no worker picked up. */
export function noWorkerMessage(queue: string, worker: WorkerRef | undefined, what: string): string {
  if (worker) return `no worker is serving ${what} (${describeWorker(worker)}, is not running: start it there with petrel server start, or petrel worker)`;
  return `no Petrel worker is polling task queue '${queue}' for ${what} (start one with petrel server start, or petrel worker)`;
}

/** At most this many bytes of log per read (all streams together): well under Temporal's 2 MB payload limit. */
export const LOG_READ_MAX_BYTES = 1 << 20;

export interface CheckResult {
  provider: string;
  enabled: boolean;
  detail: string;
}

export interface CheckInfraRequest {
  /** only these infra (all when empty) */
  only: string[];
}

export interface CheckInfraResult {
  /** who answered: the credentials and config checked are this worker's */
  worker: WorkerRef;
  results: CheckResult[];
}

/** Accelerators of one type in one place (a Kubernetes context, a Slurm partition), as its infra reports them. */
export interface GpuAvailability {
  infra: string;
  /** the context or Slurm cluster */
  region: string;
  /** the Slurm partition */
  zone?: string;
  /** as the infra names it: a node label value, a gres type */
  type: string;
  /** on nodes that take work now */
  free: number;
  total: number;
  nodes: number;
  /** the most one node has */
  perNode: number;
}

export interface ListGpusRequest {
  /** only these infra (all that can tell when empty) */
  only: string[];
}

export interface ListGpusResult {
  worker: WorkerRef;
  gpus: GpuAvailability[];
  /** places that could not be asked, with why */
  problems: string[];
}

/** `jobs checkpoints --download`: a snapshot's file list, or one piece of one of its files. */
export interface ReadCheckpointRequest {
  taskId: string;
  /** the task's own store (absent: the worker's) */
  store?: string;
  /** the snapshot (absent: the newest) */
  seq?: number;
  /** a piece of one file, by its content id; absent: the file list */
  piece?: { sha256: string; offset: number; maxBytes: number };
}

export interface ReadCheckpointResult {
  manifest?: { seq: number; attempt: number; takenAt: string; marker: string; files: Array<{ path: string; size: number; mode: number; sha256: string }> };
  /** base64: bytes nested in a result would not survive the JSON payload converter */
  data?: string;
  /** the store has no such snapshot (pruned, expired, or never taken) */
  missing?: string;
}

/** At most this many bytes of a checkpoint file per read: under Temporal's 2 MB payload limit. */
export const CHECKPOINT_READ_MAX_BYTES = 1 << 20;

export interface DebugPreemptRequest {
  handle: ClusterHandle;
  /** only these nodes (all when absent) */
  ranks?: number[];
}

export interface DebugUnreachableRequest {
  handle: ClusterHandle;
  ranks?: number[];
  seconds: number;
}

/** One log to read: a detached job (`key`) on one node of a cluster, from a byte offset. */
export interface LogStreamRequest {
  key: string;
  rank: number;
  offset: number;
  /** the phase has ended: its archive (if any) is complete, and nothing more will be written */
  ended: boolean;
}

export interface ReadLogsRequest {
  handle: ClusterHandle;
  streams: LogStreamRequest[];
  /** budget for all streams together (default and ceiling: LOG_READ_MAX_BYTES) */
  maxBytes?: number;
}

export interface LogStreamResult {
  key: string;
  rank: number;
  /** where the bytes of this stream in the answer start (the request's offset) */
  offset: number;
  /** the offset after them */
  nextOffset: number;
  /**
   * How many bytes of the answer are this stream's: nextOffset - offset, except where a node's
   * runner replaced bytes that were not UTF-8 (the offsets count the log's own bytes).
   */
  bytes: number;
  /** where they came from */
  source: 'archive' | 'node' | 'none';
  /** the read stopped at the budget: there is more right now */
  more: boolean;
  /** the phase has ended and everything it wrote has been read */
  eof: boolean;
  /**
   * The log cannot be read and will not be readable later: no archive of the ended phase and
   * its node no longer has it ('gone') or does not answer ('unreachable'). `why` says which.
   */
  lost?: { kind: 'gone' | 'unreachable'; why: string };
  /** a live node that did not answer this time (it may answer later) */
  unreachable?: string;
}

export interface ReadLogsHeader {
  /** the worker that read them */
  worker: WorkerRef;
  streams: LogStreamResult[];
  /**
   * How the body (every stream's bytes, in header order) is stored: 'deflate' (raw deflate,
   * when it saves space: logs are text, and every byte crosses Temporal and its history twice).
   */
  encoding: 'identity' | 'deflate';
}

/**
 * A readLogs answer as one binary payload (so the bytes cross Temporal as they are, not as a
 * JSON string): a 4-byte big-endian header length, the header as UTF-8 JSON, then the body.
 * Compression is the caller's (core has no zlib): see header.encoding.
 */
export function encodeLogChunks(header: ReadLogsHeader, body: Uint8Array): Uint8Array {
  const head = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(4 + head.length + body.length);
  new DataView(out.buffer).setUint32(0, head.length);
  out.set(head, 4);
  out.set(body, 4 + head.length);
  return out;
}

export function decodeLogChunks(bytes: Uint8Array): { header: ReadLogsHeader; body: Uint8Array } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headLength = view.getUint32(0);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + headLength))) as ReadLogsHeader;
  return { header, body: bytes.subarray(4 + headLength) };
}

/** The (uncompressed) body cut into each stream's bytes, in header order. */
export function splitLogBody(header: ReadLogsHeader, body: Uint8Array): Uint8Array[] {
  let at = 0;
  return header.streams.map((s) => {
    const d = body.subarray(at, at + s.bytes);
    at += d.length;
    return d;
  });
}
