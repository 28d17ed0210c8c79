// Drives the real `petrel` CLI in a private PETREL_HOME with its own Temporal dev server
// port, so test files never share state. Nothing here fakes Temporal: the CLI starts the
// real dev server and worker exactly as it does for users.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { isZombie, markUnder, procIds, readProc, type ProcInfo } from './leftovers.js';

const repo = path.resolve(import.meta.dirname, '..', '..');
const bin = path.join(repo, 'bin', 'petrel.js');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * A gRPC port whose UI (+1000) and codec (+2000) neighbours are free too, all below the
 * kernel's ephemeral range (32768+): a port found free there can be taken as the source port
 * of any outgoing connection before the server binds it, which once failed a CI run.
 */
async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 10000 + Math.floor(Math.random() * 20000);
    if ((await portFree(port)) && (await portFree(port + 1000)) && (await portFree(port + 2000))) return port;
  }
  throw new Error('no free port');
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

export class PetrelEnv {
  /** CLI commands of this env still running (a failed test may leave some behind) */
  private readonly running = new Set<ChildProcess>();
  /** set by destroy(): a command now (from a loop a failed test left going) could start a server in a removed home */
  private destroyed = false;

  private constructor(
    readonly home: string,
    readonly port: number,
  ) {}

  static async create(): Promise<PetrelEnv> {
    // os.tmpdir() is the test file's directory under the run's temp root (test/support/file-scope.ts),
    // so whatever this home starts can be traced to the run and the file (test/support/leftovers.ts).
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-test-'));
    return new PetrelEnv(home, await freePortPair());
  }

  get env(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PETREL_HOME: this.home,
      PETREL_SERVER_PORT: String(this.port),
      PETREL_TEMPORAL_BIN: inject('temporalBin'),
      PETREL_USER: 'tester',
    };
    delete env.TEMPORAL_ADDRESS;
    return env;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  run(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
    if (this.destroyed) return Promise.reject(new Error(`petrel ${args.join(' ')}: this PetrelEnv (${this.home}) is destroyed`));
    return this.exec(args, opts);
  }

  private exec(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [bin, ...args], {
        cwd: opts.cwd ?? repo,
        env: { ...this.env, ...opts.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      this.running.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`petrel ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
      }, opts.timeoutMs ?? 90_000);
      child.on('close', (code) => {
        this.running.delete(child);
        clearTimeout(timer);
        resolve({ code: code ?? -1, stdout, stderr });
      });
    });
  }

  /** Runs and insists on exit 0, showing all output when it is not. */
  async ok(args: string[], opts?: { cwd?: string; env?: NodeJS.ProcessEnv }): Promise<RunResult> {
    const r = await this.run(args, opts);
    if (r.code !== 0) throw new Error(`petrel ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r;
  }

  async json<T>(args: string[]): Promise<T> {
    return JSON.parse((await this.ok([...args, '--json'])).stdout) as T;
  }

  pidOf(name: 'worker' | 'temporal-server'): number | undefined {
    try {
      return Number.parseInt(fs.readFileSync(path.join(this.home, 'run', `${name}.pid`), 'utf8'), 10);
    } catch {
      return undefined;
    }
  }

  clusterDir(name: string): string {
    return path.join(this.home, 'local', 'clusters', name);
  }

  async destroy(): Promise<void> {
    this.destroyed = true;
    // Commands a failed test abandoned would keep working on (or restart) the server below.
    if (this.running.size > 0) {
      console.warn(`PetrelEnv.destroy: SIGKILL ${this.running.size} petrel command(s) the test left running in ${this.home}`);
      for (const child of this.running) child.kill('SIGKILL');
      await waitFor('abandoned commands to exit', () => this.running.size === 0 || undefined, 10_000, 50).catch(() => undefined);
    }
    // Only an env that started its embedded server can have clusters to tear down.
    if (fs.existsSync(path.join(this.home, 'run'))) await this.exec(['down', '-u', '-y'], { timeoutMs: 120_000 }).catch(() => undefined);
    const stop = spawnSync(process.execPath, [bin, 'server', 'stop'], { env: this.env, encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
    if (stop.status !== 0) console.warn(`PetrelEnv.destroy: 'petrel server stop' in ${this.home} ${stop.error ? `failed: ${stop.error.message}` : `exited ${stop.status ?? stop.signal}`}: ${stop.stderr?.trim() ?? ''}`);
    // `server stop` may have failed or timed out, or a server may have escaped its pid file:
    // whatever this home started dies here, before the home (and its pid files) is gone.
    await killWhatHomeStarted(this.home);
    fs.rmSync(this.home, { recursive: true, force: true });
  }
}

/**
 * SIGKILLs (with the process groups they lead) every live process this home started that is
 * still running: those its pid files under <home>/run name, and any other that names the
 * home in its command line, cwd or environment (a dev server whose pid file was overwritten,
 * a job `down -a` did not stop). A pid is only hit if it still names the home, so a reused
 * pid is safe. Each is reported on stderr: after `down -a` and `server stop` nothing should be.
 */
async function killWhatHomeStarted(home: string): Promise<void> {
  const recorded = new Map<number, string>();
  const runDir = path.join(home, 'run');
  for (const file of fs.existsSync(runDir) ? fs.readdirSync(runDir) : []) {
    if (!file.endsWith('.pid')) continue;
    try {
      recorded.set(Number.parseInt(fs.readFileSync(path.join(runDir, file), 'utf8'), 10), file);
    } catch {
      // removed meanwhile
    }
  }
  const targets = new Map<number, ProcInfo>();
  for (const pid of recorded.keys()) {
    const p = Number.isInteger(pid) && pid > 1 ? readProc(pid) : undefined;
    if (p && !isZombie(p) && markUnder(p, home)) targets.set(pid, p);
  }
  for (const pid of procIds()) {
    if (pid === process.pid || targets.has(pid)) continue;
    const p = readProc(pid);
    if (p && !isZombie(p) && markUnder(p, home)) targets.set(pid, p);
  }
  for (const [pid, p] of targets) {
    const what = recorded.has(pid) ? `recorded in run/${recorded.get(pid)}` : 'in no pid file';
    console.warn(`PetrelEnv.destroy: pid ${pid} (${what}) outlived 'down -a' and 'server stop' of ${home}; SIGKILL: ${p.cmdline.slice(0, 200)}`);
    try {
      if (p.pgid === pid) process.kill(-pid, 'SIGKILL');
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  if (targets.size > 0) await waitFor('killed processes to die', () => [...targets.keys()].every((pid) => !alive(pid)) || undefined, 10_000, 50).catch(() => undefined);
}

/** pids of processes on this machine whose command line contains `text` */
export function processesWith(text: string): number[] {
  const out = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout;
  return out
    .split('\n')
    .filter((l) => l.includes(text) && !l.includes('ps -eo'))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
