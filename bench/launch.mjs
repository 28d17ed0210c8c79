#!/usr/bin/env node
// Median wall time of `petrel launch examples/hello.yaml` (a fresh cluster each run, torn down
// after), and of the listings `petrel status`, `petrel queue`, `petrel jobs queue` (with a
// cluster and a managed job to list) next to a bare `node -e ''`, with a warm embedded server
// and worker.
//   npm run build && node bench/launch.mjs [launch runs, default 15] [listing runs, default 20]
// Uses a private PETREL_HOME and port; prints one line per figure.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const runs = Number(process.argv[2] ?? 15);
const listRuns = Number(process.argv[3] ?? 20);
const repo = path.resolve(import.meta.dirname, '..');
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-bench-'));
const env = { ...process.env, PETREL_HOME: home, PETREL_SERVER_PORT: String(29000 + Math.floor(Math.random() * 500)) };
delete env.TEMPORAL_ADDRESS;

function timed(argv, what) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, argv, { env, encoding: 'utf8', cwd: repo });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${what} exited ${r.status}: ${r.stderr}`);
  return ms;
}
const petrel = (args) => timed([path.join(repo, 'bin', 'petrel.js'), ...args], `petrel ${args.join(' ')}`);

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
  petrel(['jobs', 'launch', '-d', '-y', 'sleep 600']);
  // Interleaved, so that whatever else the machine does weighs on each alike.
  const listings = { "node -e ''": [], 'petrel status': [], 'petrel queue reused': [], 'petrel jobs queue': [] };
  for (let i = 0; i < listRuns; i++) {
    listings["node -e ''"].push(timed(['-e', ''], "node -e ''"));
    listings['petrel status'].push(petrel(['status']));
    listings['petrel queue reused'].push(petrel(['queue', 'reused']));
    listings['petrel jobs queue'].push(petrel(['jobs', 'queue']));
  }
  console.log(`petrel launch examples/hello.yaml (new cluster, --down): ${fmt(launch)} (target < 1.5 s)`);
  console.log(`petrel launch examples/hello.yaml (existing cluster):    ${fmt(reuse)}`);
  for (const [what, xs] of Object.entries(listings)) console.log(`${`${what}:`.padEnd(57)}${fmt(xs)}${what.startsWith('petrel') ? ' (target < 0.25 s)' : ''}`);
} finally {
  spawnSync(process.execPath, [path.join(repo, 'bin', 'petrel.js'), 'jobs', 'cancel', '-a', '-y'], { env });
  spawnSync(process.execPath, [path.join(repo, 'bin', 'petrel.js'), 'down', '-a', '-y'], { env });
  spawnSync(process.execPath, [path.join(repo, 'bin', 'petrel.js'), 'server', 'stop'], { env });
  fs.rmSync(home, { recursive: true, force: true });
}
