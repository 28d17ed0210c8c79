// Running a command in a pod through the API server's exec subresource (what `kubectl exec`
// does): no SSH, no agent in the image. Two things about exec decide how every caller talks to
// a pod:
//  - The exit code is not a field: a real kubelet reports a non-zero exit as a Failure status
//    with an `ExitCode` cause; some kubelets (kwok, and older runtimes) only put it in the
//    message ("... exit status 3"). Both are read; a stream that closes without any status is a
//    lost connection, never "exit 0".
//  - End of stdin is not always delivered to the process (kwok never closes the pipe), so
//    callers never rely on it: whatever is sent on stdin is read with an exact byte count.
import { Writable, Readable } from 'node:stream';
import { Exec, type KubeConfig, type V1Status } from '@kubernetes/client-node';
import type { RunResult } from '../types.js';
import { ProviderError } from '../types.js';

export interface ExecTarget {
  kc: KubeConfig;
  namespace: string;
  pod: string;
  container: string;
  /** for messages: `k8s/<context>` */
  where: string;
}

export interface ExecOptions {
  /** sent on stdin; the command must read an exact byte count, told in its arguments (no EOF is promised) */
  stdin?: Buffer | Readable;
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 60_000;

/** The exit code in an exec's final status, or undefined when the status does not say. */
export function exitCodeOf(status: V1Status | undefined): number | undefined {
  if (!status) return undefined;
  if (status.status === 'Success') return 0;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode')?.message;
  if (cause !== undefined && /^\d+$/.test(cause)) return Number(cause);
  const m = /exit (?:status|code) (\d+)/.exec(status.message ?? '');
  return m ? Number(m[1]) : undefined;
}

/**
 * `command` in the pod's container. Resolves with its exit code and output; rejects (typed) when
 * the API server refuses the exec, the pod is gone, or the stream ends without an exit status.
 */
export async function podExec(t: ExecTarget, command: string[], opts: ExecOptions = {}): Promise<RunResult> {
  const r = await podExecBytes(t, command, opts);
  return { exitCode: r.exitCode, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}

/** podExec with the output as bytes (logs are read by byte offset). */
export async function podExecBytes(t: ExecTarget, command: string[], opts: ExecOptions = {}): Promise<{ exitCode: number; stdout: Buffer; stderr: Buffer }> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const sink = (into: Buffer[]) =>
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        into.push(Buffer.from(chunk));
        cb();
      },
    });
  let status: V1Status | undefined;
  const stdin = opts.stdin === undefined ? null : Buffer.isBuffer(opts.stdin) ? Readable.from([opts.stdin]) : opts.stdin;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  // One deadline over connecting and running: an API server that accepts the connection but
  // cannot reach the kubelet (its node is gone) must not hang the caller.
  let timer: NodeJS.Timeout | undefined;
  let ws: Awaited<ReturnType<Exec['exec']>> | undefined;
  const deadline = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  const finished = (async () => {
    try {
      ws = await new Exec(t.kc).exec(t.namespace, t.pod, t.container, command, sink(out), sink(err), stdin, false, (s) => (status = s));
    } catch (e) {
      return execRefused(t, e);
    }
    const socket = ws;
    await new Promise<void>((resolve) => {
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
    });
    return 'closed' as const;
  })();
  const outcome = await Promise.race([finished, deadline]);
  clearTimeout(timer);
  if (outcome instanceof ProviderError) throw outcome;
  if (outcome === 'timeout') {
    ws?.close();
    // a connection that arrives late is closed then
    void finished.then(() => ws?.close());
    throw new ProviderError('transient', `${t.where}: a command in pod ${t.pod} did not finish within ${Math.round(timeoutMs / 1000)} s`);
  }
  const exitCode = exitCodeOf(status);
  if (exitCode === undefined) {
    const why = status?.message ? `: ${status.message}` : ' without an exit status';
    throw new ProviderError('transient', `${t.where}: the exec stream of pod ${t.pod} ended${why}`);
  }
  return { exitCode, stdout: Buffer.concat(out), stderr: Buffer.concat(err) };
}

/** The exec's pod no longer exists (404): authoritative, where a watch may not have told yet. */
export class PodGoneError extends ProviderError {
  constructor(message: string) {
    super('transient', message);
  }
}

/** Why the API server would not run an exec, as a typed error. */
function execRefused(t: ExecTarget, e: unknown): ProviderError {
  const text = e instanceof Error ? e.message : typeof e === 'object' && e !== null && 'message' in e ? String((e as { message: unknown }).message) : String(e);
  const code = /\b(40[1349]|5\d\d)\b/.exec(text)?.[1];
  if (code === '401') return new ProviderError('config', `${t.where}: the API server refused the credentials (401) for exec into pod ${t.pod}`);
  if (code === '403') return new ProviderError('config', `${t.where}: not allowed to exec into pod ${t.pod} (403; Petrel needs create on pods/exec): ${text}`);
  if (code === '404') return new PodGoneError(`${t.where}: pod ${t.pod} is gone (exec: 404)`);
  return new ProviderError('transient', `${t.where}: exec into pod ${t.pod} failed: ${text}`);
}
