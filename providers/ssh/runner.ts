// Command runner for an SSH node: commands, workdir sync and detached jobs, all over one
// pooled connection per host. The runner is rooted at a "node home" on the remote machine
// (for a cluster, ~/.petrel/clusters/<cluster>); relative paths are relative to it, and it is
// itself relative to the remote home directory unless absolute ('' = ~ itself).
import type { SFTPWrapper } from 'ssh2';
import type { CommandRunner, DetachedJobSpec, DetachedJobState, LogChunk, RunResult } from '../types.js';
import { ProviderError } from '../types.js';
import { PATIENT, sharedPool, type Connection, type ConnectPolicy, type SshPool, type SshTarget } from './connection.js';
import { JOBS_SUBDIR, parseJobState, SIGNAL_SCRIPT, START_GRACE_S, START_SCRIPT, STATUS_SCRIPT, WRAPPER } from './jobs.js';
import { completeUtf8Length } from '../utf8.js';
import { checkJobKey, exportLine, remoteJoin, shellQuote } from './shell.js';
import { uploadDirectory, type UploadStats } from './upload.js';
import { uploadDirectoryOverExec } from './upload-exec.js';

export interface SshRunnerOptions {
  target: SshTarget;
  /** the node home: relative to the remote home directory, or absolute; '' means ~ */
  home?: string;
  /** $PETREL_HOME/known_hosts */
  knownHostsFile: string;
  pool?: SshPool;
  policy?: ConnectPolicy;
}

/** Deadline for the runner's own short operations (status, log reads, signals, job starts). */
const OP_TIMEOUT_MS = 30_000;
const DEFAULT_LOG_CHUNK = 1 << 20;

/** $1 = file, $2 = offset, $3 = most bytes: that range of the file. Exit 100: no such file. */
export const READ_RANGE_SCRIPT = [
  '[ -e "$1" ] || exit 100',
  '[ -r "$1" ] || { echo "cannot read $1" >&2; exit 3; }',
  'tail -c "+$(( $2 + 1 ))" -- "$1" | head -c "$3"',
].join('\n');

/** Where job `key` of the node rooted at `home` (as SshRunnerOptions.home) keeps its files. */
export function jobDirOf(home: string, key: string): string {
  return remoteJoin(home || '.', `${JOBS_SUBDIR}/${checkJobKey(key)}`);
}

/** `bash -c 'script' name args...` as one command line for the login shell. */
export function bashCommand(script: string, args: string[] = []): string {
  return ['bash', '-c', shellQuote(script), 'petrel', ...args.map(shellQuote)].join(' ');
}

export class SshRunner implements CommandRunner {
  readonly target: SshTarget;
  readonly home: string;
  readonly pool: SshPool;
  private readonly knownHostsFile: string;
  private readonly policy: ConnectPolicy;

  constructor(opts: SshRunnerOptions) {
    this.target = opts.target;
    this.home = opts.home ?? '';
    this.knownHostsFile = opts.knownHostsFile;
    this.pool = opts.pool ?? sharedPool;
    this.policy = opts.policy ?? PATIENT;
  }

  /** jobs this runner started, and when: a job without a pid yet is only starting */
  private readonly startedAt = new Map<string, number>();

  private root(): string {
    return this.home || '.';
  }

  private jobDir(key: string): string {
    return jobDirOf(this.home, key);
  }

  /** Runs `fn` on a leased connection (retrying once on a fresh one if the pooled one was dead). */
  withConnection<T>(fn: (c: Connection) => Promise<T>): Promise<T> {
    return this.pool.use(this.target, { knownHostsFile: this.knownHostsFile, policy: this.policy }, fn);
  }

  /** A provider script that must succeed; its stdout. */
  private async script(what: string, script: string, args: string[], stdin?: Buffer): Promise<string> {
    const r = await this.withConnection((c) =>
      c.exec(bashCommand(script, args), { timeoutMs: OP_TIMEOUT_MS, onTimeout: 'fail', ...(stdin ? { stdin } : {}) }),
    );
    if (r.exitCode !== 0) {
      const why = r.stderr.toString('utf8').trim() || `exit code ${r.exitCode}`;
      throw new ProviderError('transient', `${what} on ${this.target.host}:${this.target.port} failed: ${why}`);
    }
    return r.stdout.toString('utf8');
  }

  async stream(command: string, onData: (chunk: Buffer) => void | Promise<void>, opts: { timeoutMs?: number } = {}): Promise<{ exitCode: number; stderr: string }> {
    const root = this.root();
    const script = [`mkdir -p -- ${shellQuote(root)} && cd -- ${shellQuote(root)} || exit 1`, `exec bash -c ${shellQuote(command)}`].join('\n');
    // Not retried on a fresh connection: onData may have had part of the output already.
    const r = await this.withConnection((c) => c.exec(bashCommand(script), { onStdout: onData, timeoutMs: opts.timeoutMs ?? 3600_000, onTimeout: 'fail', idleTimeoutMs: 120_000 }));
    return { exitCode: r.exitCode, stderr: r.stderr.toString('utf8') };
  }

  async run(command: string, opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunResult> {
    const root = this.root();
    const exports = exportLine(opts.env);
    const limit = opts.timeoutMs !== undefined && opts.timeoutMs > 0 ? Math.max(1, Math.ceil(opts.timeoutMs / 1000)) : undefined;
    // `timeout` puts the command in its own process group and kills all of it on expiry (124).
    const exec = limit !== undefined ? `exec timeout -k 5 ${limit} bash -c ${shellQuote(command)}` : `exec bash -c ${shellQuote(command)}`;
    const script = [`mkdir -p -- ${shellQuote(root)} && cd -- ${shellQuote(root)} || exit 1`, exports, exec].filter(Boolean).join('\n');
    const r = await this.withConnection((c) =>
      // Backstop in case the node stops answering: give `timeout` a few seconds to report first.
      c.exec(bashCommand(script), limit !== undefined ? { timeoutMs: limit * 1000 + 10_000, onTimeout: 'resolve' } : {}),
    );
    return { exitCode: r.exitCode, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
  }

  async upload(localDir: string, remoteDir: string): Promise<void> {
    await this.sync(localDir, remoteDir);
  }

  /**
   * `upload`, telling what was transferred and what was already up to date. Over SFTP, or over
   * exec channels (one listing, one tar stream) on a node whose sshd has no SFTP subsystem.
   */
  async sync(localDir: string, remoteDir: string): Promise<UploadStats> {
    const dest = remoteJoin(this.root(), remoteDir);
    try {
      return await this.withConnection(async (c) =>
        (await c.sftpIfAvailable()) ? uploadDirectory(c, localDir, dest) : uploadDirectoryOverExec(c, localDir, dest),
      );
    } catch (err) {
      if (err instanceof ProviderError) throw err;
      throw new ProviderError('transient', `uploading ${localDir} to ${this.target.host}:${dest} failed: ${(err as Error).message}`);
    }
  }

  async startDetached(spec: DetachedJobSpec): Promise<{ alreadyStarted: boolean }> {
    const key = checkJobKey(spec.key);
    const envText = Buffer.from(`${exportLine(spec.env)}\n`, 'utf8');
    const stdin = Buffer.concat([envText, Buffer.from(spec.script, 'utf8')]);
    const jobs = remoteJoin(this.root(), JOBS_SUBDIR);
    const cwd = remoteJoin(this.root(), spec.cwd ?? '.');
    const out = await this.script(`starting job ${key}`, START_SCRIPT, [jobs, key, String(envText.length), cwd, WRAPPER], stdin);
    if (out.includes('petrel:attached')) return { alreadyStarted: true };
    if (out.includes('petrel:started')) {
      this.startedAt.set(key, Date.now());
      return { alreadyStarted: false };
    }
    throw new ProviderError('transient', `starting job ${key} on ${this.target.host}: unexpected answer '${out.trim()}'`);
  }

  /**
   * The common answers (exited / running / lost) come from a few SFTP reads on the open
   * session — milliseconds — instead of an exec channel, which costs sshd a fork and a
   * shell (about 0.2 s here). Anything else (a job still starting, no /proc, a node without
   * SFTP) asks the script.
   */
  async status(key: string): Promise<DetachedJobState> {
    const quick = await this.withConnection(async (c) => {
      const sftp = await c.sftpIfAvailable();
      if (!sftp) return undefined;
      const read = async (file: string) => (await deadline(c, OP_TIMEOUT_MS, `reading ${file}`, readRange(sftp, file, 0, 4096)))?.toString('utf8').trim();
      const exit = await read(`${this.jobDir(key)}/exit_code`);
      if (exit !== undefined) {
        const code = Number.parseInt(exit, 10);
        return Number.isFinite(code) ? ({ state: 'exited', exitCode: code } as const) : undefined;
      }
      const pid = Number.parseInt((await read(`${this.jobDir(key)}/pid`)) ?? '', 10);
      if (!Number.isInteger(pid) || pid <= 1) {
        // Just started by this runner: the wrapper has not written its pid yet.
        const started = this.startedAt.get(key);
        return started !== undefined && Date.now() - started < START_GRACE_S * 1000 ? ({ state: 'running' } as const) : undefined;
      }
      const stat = await read(`/proc/${pid}/stat`);
      if (stat === undefined) {
        // No such process — or no /proc on this host: only the exit code decides then.
        return (await read('/proc/self/stat')) === undefined ? undefined : (await read(`${this.jobDir(key)}/exit_code`)) === undefined ? ({ state: 'lost' } as const) : undefined;
      }
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state !== 'Z' && state !== 'X' && Number(pgrp) === pid) return { state: 'running' } as const;
      return (await read(`${this.jobDir(key)}/exit_code`)) === undefined ? ({ state: 'lost' } as const) : undefined;
    });
    if (quick) return quick;
    return parseJobState(await this.script(`reading the state of job ${key}`, STATUS_SCRIPT, [this.jobDir(key)]));
  }

  async readLog(key: string, offset: number, maxBytes = DEFAULT_LOG_CHUNK): Promise<LogChunk> {
    const file = `${this.jobDir(key)}/output.log`;
    const buf = await this.withConnection(async (c) => {
      const sftp = await c.sftpIfAvailable();
      if (sftp) return deadline(c, OP_TIMEOUT_MS, `reading the log of job ${key}`, readRange(sftp, file, offset, maxBytes));
      return this.readRangeOverExec(c, file, offset, maxBytes, `reading the log of job ${key}`);
    });
    if (!buf) return { data: '', nextOffset: offset };
    const end = completeUtf8Length(buf, buf.length);
    return { data: buf.subarray(0, end).toString('utf8'), nextOffset: offset + end };
  }

  /** `readRange` for a node without SFTP: one exec. */
  private async readRangeOverExec(c: Connection, file: string, offset: number, max: number, what: string): Promise<Buffer | undefined> {
    const r = await c.exec(bashCommand(READ_RANGE_SCRIPT, [file, String(offset), String(max)]), { timeoutMs: OP_TIMEOUT_MS, onTimeout: 'fail' });
    if (r.exitCode === 100) return undefined;
    if (r.exitCode !== 0) {
      const why = r.stderr.toString('utf8').trim() || `exit code ${r.exitCode}`;
      throw new ProviderError('transient', `${what} on ${this.target.host}:${this.target.port} failed: ${why}`);
    }
    return r.stdout;
  }

  async signal(key: string, signal: 'SIGTERM' | 'SIGKILL' | 'SIGINT'): Promise<void> {
    await this.script(`signalling job ${key}`, SIGNAL_SCRIPT, [this.jobDir(key), signal.replace(/^SIG/, '')]);
  }
}

/** Fails (and drops the connection, which is evidently not answering) if `p` takes too long. */
function deadline<T>(c: Connection, ms: number, what: string, p: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      c.destroy();
      reject(new ProviderError('transient', `${what}: ${c.target.host}:${c.target.port} did not answer within ${ms / 1000}s`));
    }, ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

const NO_SUCH_FILE = 2;

/** Up to `max` bytes of `file` from `offset`; undefined when the file does not exist. */
async function readRange(sftp: SFTPWrapper, file: string, offset: number, max: number): Promise<Buffer | undefined> {
  const handle = await new Promise<Buffer | undefined>((resolve, reject) =>
    sftp.open(file, 'r', (err, h) => {
      if (err) {
        if ((err as { code?: number }).code === NO_SUCH_FILE) resolve(undefined);
        else reject(new ProviderError('transient', `cannot open ${file}: ${err.message}`));
      } else resolve(h);
    }),
  );
  if (!handle) return undefined;
  try {
    const buf = Buffer.alloc(max);
    let n = 0;
    while (n < max) {
      const got = await new Promise<number>((resolve, reject) =>
        sftp.read(handle, buf, n, max - n, offset + n, (err, bytesRead) => (err ? reject(err) : resolve(bytesRead))),
      );
      if (got <= 0) break;
      n += got;
    }
    return buf.subarray(0, n);
  } finally {
    sftp.close(handle, () => undefined);
  }
}
