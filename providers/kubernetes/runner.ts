// Command runner for one pod: commands, uploads and detached jobs, all through exec (no SSH in
// the image). The node's home is ~/.petrel/clusters/<cluster>/node-<rank> inside the container.
import fs from 'node:fs';
import { Readable } from 'node:stream';
import type { CommandRunner, DetachedJobSpec, DetachedJobState, LogChunk, RunResult } from '../types.js';
import { ProviderError } from '../types.js';
import { JOBS_SUBDIR, parseJobState, SIGNAL_SCRIPT, STATUS_SCRIPT, WRAPPER } from '../ssh/jobs.js';
import { jobDirOf, READ_RANGE_SCRIPT } from '../ssh/runner.js';
import { checkJobKey, exportLine, remoteJoin } from '../ssh/shell.js';
import { completeUtf8Length } from '../utf8.js';
import { podExec, podExecBytes, type ExecTarget } from './exec.js';
import { podScript, RUN_SCRIPT, START_SCRIPT, UNTAR_SCRIPT } from './node-scripts.js';
import { tarStream } from './tar-stream.js';

const OP_TIMEOUT_MS = 30_000;
const DEFAULT_LOG_CHUNK = 1 << 20;
/** An upload is abandoned when it takes longer than this (a stalled stream never ends otherwise). */
const UPLOAD_TIMEOUT_MS = 30 * 60_000;

export class KubernetesRunner implements CommandRunner {
  constructor(
    private readonly target: ExecTarget,
    /** the node home, relative to $HOME in the container */
    private readonly home: string,
  ) {}

  private bash(script: string, args: string[], opts: { stdin?: Buffer | Readable; timeoutMs?: number } = {}): Promise<RunResult> {
    return podExec(this.target, ['bash', '-c', script, 'petrel', ...args], opts);
  }

  private async script(what: string, script: string, args: string[], stdin?: Buffer): Promise<string> {
    const r = await this.bash(script, args, { timeoutMs: OP_TIMEOUT_MS, ...(stdin ? { stdin } : {}) });
    if (r.exitCode !== 0) {
      throw new ProviderError('transient', `${what} in pod ${this.target.pod} (${this.target.where}) failed: ${r.stderr.trim() || `exit code ${r.exitCode}`}`);
    }
    return r.stdout;
  }

  async run(command: string, opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunResult> {
    const env = Buffer.from(exportLine(opts.env), 'utf8');
    const limit = opts.timeoutMs !== undefined && opts.timeoutMs > 0 ? Math.max(1, Math.ceil(opts.timeoutMs / 1000)) : undefined;
    return this.bash(RUN_SCRIPT, [String(env.length), this.home, command, limit !== undefined ? String(limit) : ''], {
      ...(env.length ? { stdin: env } : {}),
      // `timeout` in the pod reports first; this only ends a stream that stopped answering.
      timeoutMs: limit !== undefined ? limit * 1000 + 15_000 : 24 * 3600_000,
    });
  }

  async upload(localDir: string, remoteDir: string): Promise<void> {
    if (!fs.existsSync(localDir)) throw new ProviderError('config', `cannot upload ${localDir}: no such directory`);
    const dest = remoteJoin(this.home, remoteDir);
    const tar = tarStream(localDir);
    const r = await this.bash(UNTAR_SCRIPT, [String(tar.bytes), dest], { stdin: tar.stream(), timeoutMs: UPLOAD_TIMEOUT_MS });
    if (r.exitCode !== 0) {
      throw new ProviderError('transient', `uploading ${localDir} to ${dest} in pod ${this.target.pod} failed: ${r.stderr.trim() || `exit code ${r.exitCode}`}`);
    }
  }

  async startDetached(spec: DetachedJobSpec): Promise<{ alreadyStarted: boolean }> {
    const key = checkJobKey(spec.key);
    const env = Buffer.from(`${exportLine(spec.env)}\n`, 'utf8');
    const stdin = Buffer.concat([env, Buffer.from(spec.script, 'utf8')]);
    const jobs = remoteJoin(this.home, JOBS_SUBDIR);
    const cwd = remoteJoin(this.home, spec.cwd ?? '.');
    const out = await this.script(`starting job ${key}`, START_SCRIPT, [String(stdin.length), jobs, key, String(env.length), cwd, WRAPPER], stdin);
    if (out.includes('petrel:attached')) return { alreadyStarted: true };
    if (out.includes('petrel:started')) return { alreadyStarted: false };
    throw new ProviderError('transient', `starting job ${key} in pod ${this.target.pod}: unexpected answer '${out.trim()}'`);
  }

  async status(key: string): Promise<DetachedJobState> {
    return parseJobState(await this.script(`reading the state of job ${key}`, podScript(STATUS_SCRIPT), [jobDirOf(this.home, key)]));
  }

  async readLog(key: string, offset: number, maxBytes = DEFAULT_LOG_CHUNK): Promise<LogChunk> {
    const file = `${jobDirOf(this.home, key)}/output.log`;
    const r = await podExecBytes(this.target, ['bash', '-c', podScript(READ_RANGE_SCRIPT), 'petrel', file, String(offset), String(maxBytes)], { timeoutMs: OP_TIMEOUT_MS });
    if (r.exitCode === 100) return { data: '', nextOffset: offset };
    if (r.exitCode !== 0) throw new ProviderError('transient', `reading the log of job ${key} in pod ${this.target.pod} failed: ${r.stderr.toString('utf8').trim() || `exit code ${r.exitCode}`}`);
    const buf = r.stdout;
    const end = completeUtf8Length(buf, buf.length);
    return { data: buf.subarray(0, end).toString('utf8'), nextOffset: offset + end };
  }

  async signal(key: string, signal: 'SIGTERM' | 'SIGKILL' | 'SIGINT'): Promise<void> {
    await this.script(`signalling job ${key}`, podScript(SIGNAL_SCRIPT), [jobDirOf(this.home, key), signal.replace(/^SIG/, '')]);
  }
}
