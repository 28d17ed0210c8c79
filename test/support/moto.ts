// The EC2 double for the AWS tests: the pinned moto server with Petrel's hooks
// (test/support/moto/moto_petrel.py: faults, spot interruptions with their metadata notice,
// ClientToken idempotency, inventory, a call log) on a free loopback port, stopped by pid.
// The venv comes from the global setup (PETREL_MOTO_PYTHON), or install.sh when run alone.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface MotoFault {
  action: string;
  /** form fields of the call that must match (e.g. {InstanceType: 'p4d.24xlarge', 'InstanceMarketOptions.MarketType': 'spot'}) */
  match?: Record<string, string>;
  region?: string;
  status?: number;
  code: string;
  message?: string;
  times?: number;
  /** carry the call out, then fail its answer (a response lost after the instance was created) */
  after?: boolean;
}

export interface MotoInstance {
  instanceId: string;
  region: string;
  state: string;
  tags: Record<string, string>;
}

export interface Moto {
  url: string;
  port: number;
  pid: number;
  /** the metadata base URL for `<cloud>.instance_metadata_endpoint` (one server for every instance) */
  metadataUrl: string;
  reset(): Promise<void>;
  faults(rules: MotoFault[]): Promise<void>;
  interrupt(instanceId: string, region: string, delaySeconds: number): Promise<void>;
  /** instances not terminated, in every region */
  inventory(): Promise<MotoInstance[]>;
  /** every EC2 call so far (since the last reset) */
  calls(): Promise<Array<{ action: string; region: string }>>;
  stop(): Promise<void>;
}

/**
 * The ProxyCommand cloud tests reach "instances" with: `node tcp-relay.mjs HOST PORT %h %p`
 * joins to the loopback sshd, never to the address a double handed out.
 */
export const TCP_RELAY = path.resolve(import.meta.dirname, 'moto', 'tcp-relay.mjs');

/** moto's built-in image (moto validates no AMI and has no Ubuntu 22.04; real EC2 needs a real one per region) */
export const MOTO_AMI = 'ami-1e749f67';

/**
 * What every AWS test runs with: explicit credentials, no shared config files, no metadata
 * probe (nothing may leave loopback), and moto as the EC2 endpoint once it is known. A worker
 * the CLI starts inherits it from process.env.
 */
export function useAwsTestEnv(endpoint?: string): void {
  Object.assign(process.env, {
    AWS_EC2_METADATA_DISABLED: 'true',
    METADATA_SERVER_DETECTION: 'none',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: 'us-east-1',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/petrel-test/credentials',
    AWS_CONFIG_FILE: '/nonexistent/petrel-test/config',
    ...(endpoint ? { AWS_ENDPOINT_URL_EC2: endpoint } : {}),
  });
  delete process.env.AWS_PROFILE;
}

const HERE = import.meta.dirname;

function motoPython(): string {
  if (process.env.PETREL_MOTO_PYTHON) return process.env.PETREL_MOTO_PYTHON;
  const out = execFileSync('bash', [path.join(HERE, 'moto', 'install.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return out.trim().split('\n').pop()!;
}

export async function startMoto(): Promise<Moto> {
  const log = path.join(fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'petrel-moto-')), 'moto.log');
  const child: ChildProcess = spawn(motoPython(), [path.join(HERE, 'moto', 'moto_petrel.py'), '0'], {
    stdio: ['ignore', 'pipe', fs.openSync(log, 'a')],
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`moto did not start within 30 s; see ${log}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /ready (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`moto exited with ${code}: ${fs.readFileSync(log, 'utf8').split('\n').slice(-5).join(' | ')}`));
    });
  });
  const url = `http://127.0.0.1:${port}`;
  const call = async (p: string, body?: unknown): Promise<unknown> => {
    const r = await fetch(`${url}${p}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    if (!r.ok) throw new Error(`moto ${p}: HTTP ${r.status} ${await r.text()}`);
    return r.json();
  };
  return {
    url,
    port,
    pid: child.pid!,
    metadataUrl: `${url}/{instance_id}`,
    reset: async () => void (await call('/moto-api/reset', {})),
    faults: async (rules) => void (await call('/_petrel/faults', rules)),
    interrupt: async (instanceId, region, delaySeconds) => void (await call('/_petrel/interrupt', { instanceId, region, delaySeconds })),
    inventory: async () => (await call('/_petrel/inventory')) as MotoInstance[],
    calls: async () => (await call('/_petrel/calls')) as Array<{ action: string; region: string }>,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      process.kill(child.pid!, 'SIGTERM');
      const timer = setTimeout(() => child.exitCode === null && process.kill(child.pid!, 'SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
