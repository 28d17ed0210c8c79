// Command runner for a local node: commands run in the node's home directory.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { CommandRunner, DetachedJobSpec, RunResult } from '../types.js';
import { detachedJobState, readJobLog, signalDetachedJob, startDetachedJob } from './detached-jobs.js';
import { JOBS_DIR, NODE_HOME } from './paths.js';

/** Workdir sync skips what is never worth copying to a node. */
const SKIPPED_NAMES = new Set(['.git', 'node_modules', '__pycache__', '.petrel']);

export class LocalRunner implements CommandRunner {
  private readonly home: string;
  private readonly jobs: string;

  constructor(nodeDir: string) {
    this.home = path.join(nodeDir, NODE_HOME);
    this.jobs = path.join(nodeDir, JOBS_DIR);
  }

  run(command: string, opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunResult> {
    fs.mkdirSync(this.home, { recursive: true });
    return new Promise((resolve) => {
      execFile(
        'bash',
        ['-c', command],
        // HOME is the node's own, as for its jobs: `~` on a local node is inside the node.
        { cwd: this.home, env: { ...process.env, HOME: this.home, ...opts.env }, timeout: opts.timeoutMs, maxBuffer: 64 << 20 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
          resolve({ exitCode: code, stdout, stderr });
        },
      );
    });
  }

  stream(command: string, onData: (chunk: Buffer) => void | Promise<void>, opts: { timeoutMs?: number } = {}): Promise<{ exitCode: number; stderr: string }> {
    fs.mkdirSync(this.home, { recursive: true });
    return new Promise((resolve, reject) => {
      const child = spawn('bash', ['-c', command], { cwd: this.home, env: { ...process.env, HOME: this.home }, stdio: ['ignore', 'pipe', 'pipe'], timeout: opts.timeoutMs, killSignal: 'SIGKILL' });
      const stderr: Buffer[] = [];
      child.stdout.on('data', (chunk: Buffer) => {
        const wait = onData(chunk);
        if (wait) {
          child.stdout.pause();
          wait.then(
            () => child.stdout.resume(),
            () => child.stdout.resume(),
          );
        }
      });
      child.stderr.on('data', (d: Buffer) => stderr.length < 256 && stderr.push(d));
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ exitCode: code ?? 128 + (signal === 'SIGKILL' ? 9 : 15), stderr: Buffer.concat(stderr).toString('utf8') }));
    });
  }

  /** `~/x` and `/x` both land inside the node's home: a local node must not write over the host. */
  async upload(localDir: string, remoteDir: string): Promise<void> {
    const dest = path.join(this.home, remoteDir.replace(/^~(?=\/|$)/, ''));
    await fs.promises.mkdir(dest, { recursive: true });
    await fs.promises.cp(localDir, dest, {
      recursive: true,
      force: true,
      filter: (src) => !SKIPPED_NAMES.has(path.basename(src)) || src === localDir,
    });
  }

  async startDetached(spec: DetachedJobSpec) {
    return startDetachedJob(this.jobs, this.home, spec);
  }

  async status(key: string) {
    return detachedJobState(this.jobs, key);
  }

  async readLog(key: string, offset: number, maxBytes?: number) {
    return readJobLog(this.jobs, key, offset, maxBytes);
  }

  async signal(key: string, signal: 'SIGTERM' | 'SIGKILL' | 'SIGINT') {
    signalDetachedJob(this.jobs, key, signal);
  }
}
