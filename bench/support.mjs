// Shared by the benchmarks: a private PETREL_HOME and port, the real CLI, a Temporal client.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const repo = path.resolve(import.meta.dirname, '..');

export function benchEnv(config) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-bench-'));
  const port = 29000 + Math.floor(Math.random() * 500);
  const env = { ...process.env, PETREL_HOME: home, PETREL_SERVER_PORT: String(port), PETREL_USER: 'bench' };
  delete env.TEMPORAL_ADDRESS;
  if (config) fs.writeFileSync(path.join(home, 'config.yaml'), config);
  const petrel = (...args) => {
    const r = spawnSync(process.execPath, [path.join(repo, 'bin', 'petrel.js'), ...args], { env, encoding: 'utf8', cwd: repo });
    if (r.status !== 0) throw new Error(`petrel ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
    return r.stdout;
  };
  const cleanup = () => {
    spawnSync(process.execPath, [path.join(repo, 'bin', 'petrel.js'), 'server', 'stop'], { env });
    fs.rmSync(home, { recursive: true, force: true });
  };
  return { home, port, env, address: `127.0.0.1:${port}`, petrel, cleanup };
}

/** A client with the bench home's codec key, as that home's CLI has it. */
export async function benchClient(b) {
  const { Client, Connection } = await import('@temporalio/client');
  const { petrelDataConverter } = await import('../dist/codec/data-converter.js');
  const { loadKeyring } = await import('../dist/codec/keys.js');
  return new Client({ connection: await Connection.connect({ address: b.address }), dataConverter: petrelDataConverter(loadKeyring(b.home)) });
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** RSS (MiB) and cumulative CPU seconds of a process, from /proc. */
export function procStats(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]);
  return { rssMiB: rssKb / 1024, cpuSeconds: ticks / 100 };
}
