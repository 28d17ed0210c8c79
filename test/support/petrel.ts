// Drives the real `petrel` CLI in a private PETREL_HOME with its own Temporal dev server
// port, so test files never share state. Nothing here fakes Temporal: the CLI starts the
// real dev server and worker exactly as it does for users.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';

const repo = path.resolve(import.meta.dirname, '..', '..');
const bin = path.join(repo, 'bin', 'petrel.js');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20000 + Math.floor(Math.random() * 20000);
    if ((await portFree(port)) && (await portFree(port + 1000))) return port;
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
  private constructor(
    readonly home: string,
    readonly port: number,
  ) {}

  static async create(): Promise<PetrelEnv> {
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
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [bin, ...args], {
        cwd: opts.cwd ?? repo,
        env: { ...this.env, ...opts.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`petrel ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
      }, opts.timeoutMs ?? 90_000);
      child.on('close', (code) => {
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
    // Only an env that started its embedded server can have clusters to tear down.
    if (fs.existsSync(path.join(this.home, 'run'))) await this.run(['down', '-a', '-y']).catch(() => undefined);
    spawnSync(process.execPath, [bin, 'server', 'stop'], { env: this.env, stdio: 'ignore' });
    fs.rmSync(this.home, { recursive: true, force: true });
  }
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
