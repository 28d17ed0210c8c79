// The team stack of docker-compose.yml run for real, without containers: Postgres, the
// Temporal server 1.32 and the standalone UI built from the Go module proxy, Petrel's codec
// endpoint, brought up and torn down by the project's own deploy/native/up.sh and down.sh, in a
// state directory under the test file's temp dir. Nothing is faked.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const repo = path.resolve(import.meta.dirname, '..', '..');
const native = path.join(repo, 'deploy', 'native');

/**
 * Builds (about 5 minutes the first time on a machine, then cached under
 * ~/.cache/petrel-temporal-native) the Temporal server, schema tool and UI server, so no test
 * hook waits for a cold Go build. Returns the bin directory.
 */
export function buildNativeTemporal(): string {
  const out = execFileSync('bash', [path.join(native, 'build.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const dir = out.trim().split('\n').pop() ?? '';
  if (!dir || !fs.existsSync(path.join(dir, 'temporal-server'))) throw new Error(`deploy/native/build.sh printed no bin directory: ${out}`);
  return dir;
}

export interface TeamStack {
  /** the state directory given to up.sh/down.sh */
  state: string;
  /** host:port of the Temporal frontend */
  address: string;
  namespace: string;
  /** the UI as the browser opens it (the origin the UI and codec endpoint accept) */
  uiUrl: string;
  codecUrl: string;
  /** what stack.env says, e.g. PETREL_NATIVE_POSTGRES */
  settings: Record<string, string>;
  /** the pid up.sh recorded for a service, if it runs */
  pid(service: string): number | undefined;
  /** up.sh again: starts what is not running (with these settings on top, e.g. PETREL_NATIVE_WORKERS) */
  up(env?: NodeJS.ProcessEnv): Promise<string>;
  /** down.sh for these services (all when none) */
  down(...services: string[]): Promise<string>;
  /** down.sh, then the state directory removed */
  destroy(): Promise<void>;
}

function script(name: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [path.join(native, name), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`deploy/native/${name} ${args.join(' ')} exited ${code}:\n${out}`));
    });
  });
}

/**
 * Brings the stack up with `workers` Petrel workers of its own (0: the test starts its own in
 * homes of their own) and the codec endpoint decoding with `codecKey` for the UI.
 */
export async function startTeamStack(opts: { temporalCli: string; codecKey: string; workers?: number; env?: NodeJS.ProcessEnv }): Promise<TeamStack> {
  // Postgres runs as the `postgres` user: it must be able to enter the state directory.
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-stack-'));
  fs.chmodSync(state, 0o755);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_CLI: opts.temporalCli,
    PETREL_CODEC_KEY: opts.codecKey,
    PETREL_NATIVE_WORKERS: String(opts.workers ?? 0),
    ...opts.env,
  };
  const up = (more: NodeJS.ProcessEnv = {}) => script('up.sh', [state], { ...env, ...more }, 600_000);
  const down = (...services: string[]) => script('down.sh', [state, ...services], env, 180_000);
  try {
    await up();
  } catch (err) {
    await down().catch(() => undefined);
    throw err;
  }
  const settings = Object.fromEntries(
    fs
      .readFileSync(path.join(state, 'stack.env'), 'utf8')
      .split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  return {
    state,
    address: settings.TEMPORAL_ADDRESS!,
    namespace: settings.TEMPORAL_NAMESPACE!,
    uiUrl: settings.PETREL_NATIVE_UI!,
    codecUrl: settings.PETREL_NATIVE_CODEC!,
    settings,
    pid(service) {
      try {
        const pid = Number(fs.readFileSync(path.join(state, 'pids', `${service}.pid`), 'utf8').split(' ')[0]);
        return Number.isInteger(pid) && pid > 0 ? pid : undefined;
      } catch {
        return undefined;
      }
    },
    up,
    down,
    async destroy() {
      await down();
      fs.rmSync(state, { recursive: true, force: true });
    },
  };
}
