// Where Petrel runs Slurm's own commands (sbatch, squeue, srun, scancel, sinfo) and reads the
// files its jobs write: on this machine when the worker runs on a login node (`login: local`),
// or on the cluster's login node over SSH (a Host of ~/.slurm/config). Either way it is a
// shell in the login user's home, and that home is the one the compute nodes see (Slurm sites
// share it over NFS; provision checks it).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LogChunk, RunResult } from '../types.js';
import { ProviderError } from '../types.js';
import { readJobLog } from '../local/detached-jobs.js';
import { label, PATIENT, QUICK, sharedPool, type SshPool, type SshTarget } from '../ssh/connection.js';
import { JOBS_SUBDIR } from '../ssh/jobs.js';
import { bashCommand, SshRunner } from '../ssh/runner.js';
import { parseProxyJump } from '../ssh/config.js';
import { slurmSshConfigPath, type SlurmLogin } from './config.js';

export interface LoginShell {
  /** for messages: `this machine` or `user@host:port` */
  readonly label: string;
  /** `bash -c script petrel args…` in the login user's home. Never throws for a non-zero exit. */
  exec(script: string, args?: string[], opts?: { stdin?: string | Buffer; timeoutMs?: number; quick?: boolean }): Promise<RunResult>;
  /** copies a local directory to `dir` (absolute) on the login host's filesystem */
  upload(localDir: string, dir: string): Promise<void>;
  /** a job's output from `<nodeDir>/.petrel/jobs/<key>/output.log` (absolute `nodeDir`), as CommandRunner.readLog */
  readLog(nodeDir: string, key: string, offset: number, maxBytes?: number): Promise<LogChunk>;
}

const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * What the Slurm commands see of the worker's environment: not its Temporal or Petrel settings
 * (which may carry credentials), and not a SLURM_* job context of its own (a worker started
 * inside an allocation would otherwise make every srun a step of that allocation). SLURM_CONF
 * stays: it is how a site without a default config names its cluster.
 */
export function loginEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    if (/^(PETREL_|TEMPORAL_|SKYPILOT_|AWS_|GOOGLE_|OTEL_)/.test(k)) continue;
    if (k.startsWith('SLURM_') && k !== 'SLURM_CONF') continue;
    out[k] = v;
  }
  return out;
}

/** The worker's own machine: a login node. */
export class LocalLogin implements LoginShell {
  readonly label = 'this machine';

  exec(script: string, args: string[] = [], opts: { stdin?: string | Buffer; timeoutMs?: number } = {}): Promise<RunResult> {
    return new Promise((resolve) => {
      const child = spawn('bash', ['-c', script, 'petrel', ...args], {
        cwd: os.homedir(),
        env: loginEnvironment(),
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      child.stdin.on('error', () => undefined); // a script that does not read its stdin
      child.stdin.end(opts.stdin ?? '');
      const finish = (exitCode: number, extra = '') => {
        clearTimeout(timer);
        resolve({ exitCode, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') + extra });
      };
      child.on('error', (e) => finish(127, e.message));
      child.on('close', (code, signal) => finish(code ?? 128 + (signal ? os.constants.signals[signal] : 9), signal === 'SIGKILL' ? '\n(timed out)' : ''));
    });
  }

  async upload(localDir: string, dir: string): Promise<void> {
    await fs.promises.mkdir(dir, { recursive: true });
    await fs.promises.cp(localDir, dir, {
      recursive: true,
      force: true,
      filter: (src) => src === localDir || !SKIPPED_NAMES.has(path.basename(src)),
    });
  }

  async readLog(nodeDir: string, key: string, offset: number, maxBytes?: number): Promise<LogChunk> {
    return readJobLog(path.join(nodeDir, JOBS_SUBDIR), key, offset, maxBytes);
  }
}

/** Never worth copying to a node (the local provider skips the same). */
const SKIPPED_NAMES = new Set(['.git', 'node_modules', '__pycache__', '.petrel']);

/** The cluster's login node over SSH, on the worker's shared connection pool. */
export class SshLogin implements LoginShell {
  readonly label: string;
  private readonly target: SshTarget;

  constructor(
    login: Extract<SlurmLogin, { kind: 'ssh' }>,
    private readonly knownHostsFile: string,
    private readonly pool: SshPool = sharedPool,
  ) {
    this.target = { host: login.host, port: login.port, user: login.user, identityFile: login.identityFile, settingsAt: `Host ${login.alias} of ${slurmSshConfigPath()}` };
    if (login.proxyCommand) this.target.proxyCommand = login.proxyCommand;
    if (login.proxyJump) {
      const j = parseProxyJump(login.proxyJump);
      if (!j.ok) throw new ProviderError('config', `ProxyJump '${login.proxyJump}': ${j.problems[0]?.message ?? 'invalid'}`);
      this.target.proxyJump = { host: j.value.host, port: j.value.port, user: j.value.user ?? login.user, identityFile: login.identityFile, settingsAt: this.target.settingsAt };
    }
    this.label = `${login.user}@${label(this.target)}`;
  }

  async exec(script: string, args: string[] = [], opts: { stdin?: string | Buffer; timeoutMs?: number; quick?: boolean } = {}): Promise<RunResult> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const r = await this.pool.use(this.target, { knownHostsFile: this.knownHostsFile, policy: opts.quick ? QUICK : PATIENT }, (c) =>
      c.exec(bashCommand(script, args), { timeoutMs, onTimeout: 'fail', ...(opts.stdin !== undefined ? { stdin: opts.stdin } : {}) }),
    );
    return { exitCode: r.exitCode, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
  }

  private runnerAt(home: string): SshRunner {
    return new SshRunner({ target: this.target, home, knownHostsFile: this.knownHostsFile, pool: this.pool });
  }

  async upload(localDir: string, dir: string): Promise<void> {
    await this.runnerAt('').upload(localDir, dir);
  }

  async readLog(nodeDir: string, key: string, offset: number, maxBytes?: number): Promise<LogChunk> {
    // The same layout as an SSH node's: <node dir>/.petrel/jobs/<key>/output.log.
    return this.runnerAt(nodeDir).readLog(key, offset, maxBytes);
  }
}
