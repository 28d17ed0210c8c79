#!/usr/bin/env node
// Median wall time of `petrel launch examples/hello.yaml` (a fresh cluster each run, torn down
// after) and of `petrel status`, with a warm embedded server and worker.
//   npm run build && node bench/launch.mjs [runs]
// Uses a private PETREL_HOME and port; prints one line per figure.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const runs = Number(process.argv[2] ?? 15);
const repo = path.resolve(import.meta.dirname, '..');
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-bench-'));
const env = { ...process.env, PETREL_HOME: home, PETREL_SERVER_PORT: String(29000 + Math.floor(Math.random() * 500)) };
delete env.TEMPORAL_ADDRESS;

function petrel(args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [path.join(repo, 'bin', 'petrel.js'), ...args], { env, encoding: 'utf8', cwd: repo });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`petrel ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (xs) => `median ${(median(xs) / 1000).toFixed(3)} s, min ${(Math.min(...xs) / 1000).toFixed(3)} s, max ${(Math.max(...xs) / 1000).toFixed(3)} s over ${xs.length} runs`;

try {
  petrel(['server', 'start']);
  petrel(['launch', 'examples/hello.yaml', '-c', 'warmup', '-y', '--down']); // worker caches, JIT
  const launch = [];
  for (let i = 0; i < runs; i++) launch.push(petrel(['launch', 'examples/hello.yaml', '-c', `bench-${i}`, '-y', '--down']));
  petrel(['launch', 'examples/hello.yaml', '-c', 'reused', '-y']);
  const reuse = [];
  for (let i = 0; i < runs; i++) reuse.push(petrel(['launch', 'examples/hello.yaml', '-c', 'reused', '-y']));
  const status = [];
  for (let i = 0; i < runs; i++) status.push(petrel(['status']));
  console.log(`petrel launch examples/hello.yaml (new cluster, --down): ${fmt(launch)} (target < 1.5 s)`);
  console.log(`petrel launch examples/hello.yaml (existing cluster):    ${fmt(reuse)}`);
  console.log(`petrel status:                                            ${fmt(status)} (target < 0.5 s)`);
} finally {
  spawnSync(process.execPath, [path.join(repo, 'bin', 'petrel.js'), 'down', '-a', '-y'], { env });
  spawnSync(process.execPath, [path.join(repo, 'bin', 'petrel.js'), 'server', 'stop'], { env });
  fs.rmSync(home, { recursive: true, force: true });
}
