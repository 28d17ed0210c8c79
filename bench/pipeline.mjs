#!/usr/bin/env node
// The time between one pipeline step's run ending and the next step's run starting, on the
// local provider with a warm embedded server and worker: each step's process writes its start
// and end time (date +%s.%N) to a file, so the gap is what the work itself sees: the previous
// step's teardown, the next step's child workflow, its provisioning and its run's start.
//   npm run build && node bench/pipeline.mjs [pipelines, default 6] [steps each, default 5]
// Uses a private PETREL_HOME and port; prints the figures.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const pipelines = Number(process.argv[2] ?? 6);
const stepsEach = Number(process.argv[3] ?? 5);
const repo = path.resolve(import.meta.dirname, '..');
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-bench-pipeline-'));
const env = { ...process.env, PETREL_HOME: home, PETREL_SERVER_PORT: String(29500 + Math.floor(Math.random() * 400)) };
delete env.TEMPORAL_ADDRESS;

function petrel(args) {
  const r = spawnSync(process.execPath, [path.join(repo, 'bin', 'petrel.js'), ...args], { env, encoding: 'utf8', cwd: repo });
  if (r.status !== 0) throw new Error(`petrel ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r;
}

function pipelineYaml(dir, n) {
  const docs = [`name: bench-${n}`];
  for (let i = 0; i < stepsEach; i++) {
    docs.push([`name: s${i}`, `run: |`, `  echo "start ${i} $(date +%s.%N)" >> ${dir}/times`, `  echo "end ${i} $(date +%s.%N)" >> ${dir}/times`].join('\n'));
  }
  const file = path.join(dir, 'pipeline.yaml');
  fs.writeFileSync(file, docs.join('\n---\n') + '\n');
  return file;
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

try {
  petrel(['server', 'start']);
  petrel(['jobs', 'launch', '-y', 'true']); // warm the worker
  const gaps = [];
  const totals = [];
  for (let n = 0; n < pipelines; n++) {
    const dir = fs.mkdtempSync(path.join(home, 'p-'));
    const t0 = performance.now();
    petrel(['jobs', 'launch', '-y', pipelineYaml(dir, n)]);
    totals.push(performance.now() - t0);
    const at = {};
    for (const line of fs.readFileSync(path.join(dir, 'times'), 'utf8').trim().split('\n')) {
      const [what, i, t] = line.split(' ');
      at[`${what}${i}`] = Number(t);
    }
    for (let i = 1; i < stepsEach; i++) gaps.push((at[`start${i}`] - at[`end${i - 1}`]) * 1000);
  }
  const ms = (x) => `${x.toFixed(0)} ms`;
  console.log(`step N ended -> step N+1 running (local): median ${ms(quantile(gaps, 0.5))}, p90 ${ms(quantile(gaps, 0.9))}, min ${ms(Math.min(...gaps))}, max ${ms(Math.max(...gaps))} over ${gaps.length} step boundaries (target < 1 s)`);
  console.log(`whole ${stepsEach}-step pipeline, jobs launch to exit: median ${(quantile(totals, 0.5) / 1000).toFixed(2)} s over ${totals.length} pipelines`);
} finally {
  spawnSync(process.execPath, [path.join(repo, 'bin', 'petrel.js'), 'jobs', 'cancel', '-a', '-y'], { env });
  spawnSync(process.execPath, [path.join(repo, 'bin', 'petrel.js'), 'server', 'stop'], { env });
  fs.rmSync(home, { recursive: true, force: true });
}
