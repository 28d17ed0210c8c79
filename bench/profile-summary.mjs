#!/usr/bin/env node
// Where a worker's CPU went: self time by function and by file in a V8 .cpuprofile (as
// `node --cpu-prof` writes, e.g. from SCALE_CPU_PROFILE=<dir> node bench/scale.mjs),
// optionally only between two CLOCK_MONOTONIC µs stamps (the idle window bench/scale prints).
//   node bench/profile-summary.mjs <file.cpuprofile> [fromUs toUs] [top]
import fs from 'node:fs';

const [file, fromArg, toArg, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/profile-summary.mjs <file.cpuprofile> [fromUs toUs] [top]');
  process.exit(2);
}
const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
const from = fromArg ? Number(fromArg) : -Infinity;
const to = toArg ? Number(toArg) : Infinity;
const top = Number(topArg ?? 40);

const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const selfUs = new Map();
let t = profile.startTime;
let windowUs = 0;
for (let i = 0; i < profile.samples.length; i++) {
  t += profile.timeDeltas[i];
  const dt = profile.timeDeltas[i + 1] ?? 0;
  if (t < from || t > to) continue;
  windowUs += dt;
  selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + dt);
}

const byFunction = new Map();
const byFile = new Map();
let busyUs = 0;
for (const [id, us] of selfUs) {
  const { callFrame } = nodes.get(id);
  const name = callFrame.functionName || '(anonymous)';
  const where = callFrame.url ? shortUrl(callFrame.url) : '';
  const idle = name === '(idle)' || name === '(program)';
  if (!idle) busyUs += us;
  add(byFunction, `${name} ${where}:${callFrame.lineNumber + 1}`, us);
  add(byFile, where || name, us);
}

const secs = windowUs / 1e6;
console.log(`${file}: ${secs.toFixed(1)} s of samples, busy ${((busyUs / windowUs) * 100).toFixed(1)}% of one core (idle and (program) excluded)`);
print('self time by function', byFunction);
print('self time by file', byFile);

function add(map, key, us) {
  map.set(key, (map.get(key) ?? 0) + us);
}

function print(title, map) {
  console.log(`\n${title} (% of one core over the window):`);
  for (const [key, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`  ${((us / windowUs) * 100).toFixed(2).padStart(6)}%  ${key}`);
  }
}

function shortUrl(url) {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const dist = url.indexOf('/dist/');
  return dist >= 0 ? url.slice(dist + 1) : url.replace(/^file:\/\//, '');
}
