#!/usr/bin/env node
// Optimizer time: planCandidates over the built-in catalogs for N candidate plans (default
// 1,000) of a realistic mix — single GPUs, sets and lists of accelerators, spot, pins, CPU-only
// sizes, memory-based requests, infeasible typos — with free placements on some. Prints median
// and p95 per plan, the slowest, and the total.
//   npm run build && node bench/optimizer.mjs [plans]
import { performance } from 'node:perf_hooks';
import { median } from './support.mjs';

const { planCandidates, formatPlanTable } = await import('../dist/core/optimizer.js');
const { parseTaskYaml } = await import('../dist/core/spec/index.js');

const total = Number(process.argv[2] ?? 1000);
const YAMLS = [
  'resources:\n  accelerators: A100:8\n',
  'resources:\n  accelerators: A100:8\n  use_spot: true\n',
  'resources:\n  accelerators: {A100:8, H100:8, A100-80GB:8}\n  use_spot: true\n',
  'resources:\n  accelerators: [H100:8, A100-80GB:8, A100:8]\n',
  'resources:\n  any_of:\n    - infra: aws\n      accelerators: H100:8\n    - infra: gcp\n      accelerators: H100:8\n    - accelerators: H200:8\n',
  'resources:\n  accelerators: T4:1\n',
  'resources:\n  accelerators: L4:1\n  use_spot: true\n',
  'resources:\n  accelerators: V100:4\n  cpus: 16+\n',
  'resources:\n  cpus: 4+\n  memory: 16+\n',
  'num_nodes: 4\nresources:\n  cpus: 32+\n  use_spot: true\n',
  'run: echo default size\n',
  'resources:\n  infra: aws/us-west-2\n  accelerators: A10G:1\n',
  'resources:\n  infra: gcp/us-central1\n  instance_type: a2-ultragpu-8g\n',
  'resources:\n  accelerators: 80GB+:8\n  use_spot: true\n',
  'resources:\n  accelerators: A1OO:8\n',
  'resources:\n  accelerators: H100:3\n',
];
const requests = YAMLS.map((y) => parseTaskYaml(y, 'bench.yaml').tasks[0]);
const inputs = Array.from({ length: total }, (_, i) => {
  const t = requests[i % requests.length];
  const free = i % 3 === 0 ? t.resources.candidates.map((_, candidate) => ({ candidate, cloud: 'kubernetes', region: 'ctx' })) : [];
  return { candidates: t.resources.candidates, ordered: t.resources.ordered, numNodes: t.numNodes, enabledClouds: ['aws', 'gcp'], freePlacements: free };
});

// Warm up the JIT on a few plans, as a long-lived worker would be.
for (const input of inputs.slice(0, 50)) planCandidates(input);

const times = [];
let entries = 0;
let infeasible = 0;
const start = performance.now();
for (const input of inputs) {
  const t0 = performance.now();
  const plan = planCandidates(input);
  times.push(performance.now() - t0);
  entries += plan.entries.length;
  infeasible += plan.infeasible.length;
}
const totalMs = performance.now() - start;
const sorted = [...times].sort((a, b) => a - b);
const p95 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))];
const t0 = performance.now();
for (const input of inputs.slice(0, 100)) formatPlanTable(planCandidates(input), input.numNodes);
const tableMs = (performance.now() - t0) / 100;

console.log(`optimizer: ${total} plans (${YAMLS.length} request shapes, ${entries} placements, ${infeasible} infeasible candidates)`);
console.log(`  per plan: median ${median(times).toFixed(3)} ms, p95 ${p95.toFixed(3)} ms, max ${sorted.at(-1).toFixed(3)} ms`);
const byShape = YAMLS.map((y, k) => ({ shape: y.replace(/\n\s*/g, ' ').trim(), ms: median(times.filter((_, i) => i % YAMLS.length === k)) }));
const slowest = byShape.sort((a, b) => b.ms - a.ms)[0];
console.log(`  slowest shape: "${slowest.shape}" median ${slowest.ms.toFixed(3)} ms`);
console.log(`  total: ${totalMs.toFixed(1)} ms (${(total / (totalMs / 1000)).toFixed(0)} plans/s); plan + --dryrun table: ${tableMs.toFixed(3)} ms`);
