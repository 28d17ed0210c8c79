// Command runner for one node of a Slurm allocation. Everything goes through the login host:
// commands as `srun --overlap` steps on the node, files and job state through the home the
// login host shares with the nodes (providers/slurm/steps.ts has the job contract).
import path from 'node:path';
import type { CommandRunner, DetachedJobSpec, DetachedJobState, LogChunk, RunResult } from '../types.js';
import { ProviderError } from '../types.js';
import { parseJobState, STATUS_SCRIPT } from '../ssh/jobs.js';
import { checkJobKey, exportLine, remoteJoin, shellQuote } from '../ssh/shell.js';
import { jobDirOf } from '../ssh/runner.js';
import { ALLOCATION_SCRIPT, isHolding, killedWithAllocation, parseSqueueLine } from './allocation.js';
import type { LoginShell } from './login.js';
import { JOBS_SUBDIR, LAUNCHER, NODE_WRAPPER, SIGNAL_STEP_SCRIPT, START_STEP_SCRIPT } from './steps.js';

export interface SlurmNodeRef {
  /** the allocation */
  jobId: string;
  /** Slurm's name of the node */
  node: string;
  /** absolute: the node's Petrel home on the shared filesystem */
  dir: string;
  clusterName: string;
}

/** $1 = allocation, $2 = node, $3 = the command for the node. */
const RUN_SCRIPT = 'exec srun --overlap --jobid="$1" --nodelist="$2" --nodes=1 --ntasks=1 --quiet bash -c "$3" </dev/null';

const OP_TIMEOUT_MS = 60_000;

/**
 * `sub` under the node's home (relative), or under the user's home (`~/…`: the real home, shared
 * by the user's clusters as on an SSH host), or absolute.
 */
export function nodePath(nodeDir: string, sub: string, userHome: string): string {
  return path.posix.resolve(userHome, remoteJoin(nodeDir, sub));
}

/** The user's home on the cluster: the node dir is <home>/.petrel/clusters/<cluster>/node-<rank>. */
export function userHomeOf(nodeDir: string): string {
  return path.posix.resolve(nodeDir, '../../../..');
}

export class SlurmRunner implements CommandRunner {
  constructor(
    private readonly login: LoginShell,
    private readonly ref: SlurmNodeRef,
  ) {}

  private jobDir(key: string): string {
    return jobDirOf(this.ref.dir, key);
  }

  private async script(what: string, script: string, args: string[], stdin?: Buffer): Promise<string> {
    const r = await this.login.exec(script, args, { timeoutMs: OP_TIMEOUT_MS, ...(stdin ? { stdin } : {}) });
    if (r.exitCode !== 0) {
      const why = r.stderr.trim() || `exit code ${r.exitCode}`;
      throw new ProviderError('transient', `${what} on node ${this.ref.node} (Slurm job ${this.ref.jobId}, via ${this.login.label}) failed: ${why}`);
    }
    return r.stdout;
  }

  async run(command: string, opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunResult> {
    const limit = opts.timeoutMs !== undefined && opts.timeoutMs > 0 ? Math.max(1, Math.ceil(opts.timeoutMs / 1000)) : undefined;
    const exec = limit !== undefined ? `exec timeout -k 5 ${limit} bash -c ${shellQuote(command)}` : `exec bash -c ${shellQuote(command)}`;
    const onNode = [`mkdir -p -- ${shellQuote(this.ref.dir)} && cd -- ${shellQuote(this.ref.dir)} || exit 1`, exportLine(opts.env), exec].filter(Boolean).join('\n');
    const r = await this.login.exec(RUN_SCRIPT, [this.ref.jobId, this.ref.node, onNode], {
      timeoutMs: limit !== undefined ? limit * 1000 + 30_000 : 24 * 3600_000,
    });
    return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
  }

  async upload(localDir: string, remoteDir: string): Promise<void> {
    await this.login.upload(localDir, nodePath(this.ref.dir, remoteDir, userHomeOf(this.ref.dir)));
  }

  async startDetached(spec: DetachedJobSpec): Promise<{ alreadyStarted: boolean }> {
    const key = checkJobKey(spec.key);
    const envText = Buffer.from(`${exportLine(spec.env)}\n`, 'utf8');
    const stdin = Buffer.concat([envText, Buffer.from(spec.script, 'utf8')]);
    const jobs = path.posix.join(this.ref.dir, JOBS_SUBDIR);
    const cwd = nodePath(this.ref.dir, spec.cwd ?? '.', userHomeOf(this.ref.dir));
    const stepName = `petrel-${this.ref.clusterName}-${key}`;
    const out = await this.script(`starting job ${key}`, START_STEP_SCRIPT, [jobs, key, String(envText.length), cwd, this.ref.jobId, this.ref.node, stepName, LAUNCHER, NODE_WRAPPER], stdin);
    if (out.includes('petrel:attached')) return { alreadyStarted: true };
    if (out.includes('petrel:started')) return { alreadyStarted: false };
    throw new ProviderError('transient', `starting job ${key} on node ${this.ref.node}: unexpected answer '${out.trim()}'`);
  }

  async status(key: string): Promise<DetachedJobState> {
    const state = parseJobState(await this.script(`reading the state of job ${key}`, STATUS_SCRIPT, [this.jobDir(key)]));
    if (state.state !== 'exited' || state.exitCode < 128) return state;
    // Killed by a signal: by Slurm ending the allocation (a loss), or by a cancel or the job itself.
    const r = await this.login.exec(ALLOCATION_SCRIPT, [this.ref.jobId], { timeoutMs: OP_TIMEOUT_MS, quick: true });
    if (r.exitCode !== 0) return /invalid job id/i.test(r.stderr) ? killedWithAllocation(state) : { state: 'unknown' };
    const alloc = parseSqueueLine(r.stdout.trim().split('\n')[0] ?? '');
    return alloc && isHolding(alloc) ? state : killedWithAllocation(state);
  }

  async readLog(key: string, offset: number, maxBytes?: number): Promise<LogChunk> {
    return this.login.readLog(this.ref.dir, checkJobKey(key), offset, maxBytes);
  }

  async signal(key: string, signal: 'SIGTERM' | 'SIGKILL' | 'SIGINT'): Promise<void> {
    await this.script(`signalling job ${key}`, SIGNAL_STEP_SCRIPT, [this.jobDir(key), signal.replace(/^SIG/, '')]);
  }
}
