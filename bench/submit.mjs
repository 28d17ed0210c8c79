#!/usr/bin/env node
// Submission throughput: `petrel jobs launch -d --count N 'sleep 600'` (default 1,000) from one
// CLI process, against the embedded server with its worker running (three local regions, so
// the worker provisions and starts the jobs while the batch is still being submitted), next to
// 20 separate `petrel jobs launch -d` invocations. Prints the submit time and rate of each.
// Afterwards the server and worker are stopped and every job process and node is removed;
// the bench checks that no process of its home is left.
//   npm run build && node bench/submit.mjs [jobs] [singles]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { benchEnv, median, repo } from './support.mjs';

const total = Number(process.argv[2] ?? 1000);
const singles = Number(process.argv[3] ?? 20);
const b = benchEnv('local:\n  regions: [region-a, region-b, region-c]\n');
process.env.PETREL_HOME = b.home;
const { LocalProvider } = await import('../dist/providers/local/index.js');

/** Runs the CLI, timing it from spawn to exit (what a user or a script waits). */
function timed(args) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [path.join(repo, 'bin', 'petrel.js'), ...args], { env: b.env, encoding: 'utf8', cwd: repo, maxBuffer: 64 << 20 });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`petrel ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { ms, stdout: r.stdout, stderr: r.stderr };
}

const s = (ms) => `${(ms / 1000).toFixed(2)} s`;
let stopping = false;
process.on('SIGINT', () => {
  if (!stopping) cleanup().finally(() => process.exit(130));
});

try {
  b.petrel('server', 'start');
  // The first submission of a home pays for the codec key and the server's first visibility query.
  b.petrel('jobs', 'launch', '-d', '-y', 'sleep 600');

  const each = [];
  for (let i = 0; i < singles; i++) each.push(timed(['jobs', 'launch', '-d', '-y', 'sleep 600']).ms);
  const singleMs = each.reduce((a, x) => a + x, 0);
  console.log(`${singles} × petrel jobs launch -d: ${s(singleMs)} (${(singles / (singleMs / 1000)).toFixed(1)} jobs/s; median ${s(median(each))} per invocation)`);

  const batch = timed(['jobs', 'launch', '-d', '-y', '--count', String(total), 'sleep 600']);
  const ids = batch.stdout.trim().split('\n').map(Number);
  if (ids.length !== total || new Set(ids).size !== total) throw new Error(`the batch printed ${ids.length} ids (${new Set(ids).size} distinct), not ${total}`);
  const summary = /in ([\d.]+) s \((\d+) jobs\/s\)/.exec(batch.stderr);
  console.log(
    `petrel jobs launch -d --count ${total}: ${s(batch.ms)} for the whole command (${(total / (batch.ms / 1000)).toFixed(0)} jobs/s)` +
      (summary ? `; submitting alone ${summary[1]} s (${summary[2]} jobs/s)` : ''),
  );
} finally {
  await cleanup();
}

async function cleanup() {
  stopping = true;
  // The worker and server go first, so nothing recovers or starts what is torn down below.
  spawnSync(process.execPath, [path.join(repo, 'bin', 'petrel.js'), 'server', 'stop'], { env: b.env, timeout: 120_000 });
  const provider = new LocalProvider({ home: b.home });
  const root = path.join(b.home, 'local', 'clusters');
  for (const clusterName of fs.existsSync(root) ? fs.readdirSync(root) : []) await provider.terminate({ provider: 'local', clusterName, nodes: [] });
  // A job the worker was starting as it was stopped may have no pid on disk yet: found by its home, killed here.
  for (let round = 0; round < 5; round++) {
    const left = processesOf(b.home);
    if (left.length === 0) break;
    for (const { pid, cmdline } of left) {
      console.error(`bench: pid ${pid} of ${b.home} outlived server stop and node teardown; killed: ${cmdline.slice(0, 200)}`);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  b.cleanup();
}

/** Live processes whose command line, working directory or environment names the home. */
function processesOf(home) {
  const pids = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (/\) Z /.test(fs.readFileSync(`/proc/${d}/stat`, 'utf8'))) continue;
      const marks = [fs.readFileSync(`/proc/${d}/cmdline`, 'utf8'), fs.readFileSync(`/proc/${d}/environ`, 'utf8')];
      try {
        marks.push(fs.readlinkSync(`/proc/${d}/cwd`));
      } catch {
        // no cwd to read
      }
      if (marks.some((m) => m.includes(home))) pids.push({ pid: Number(d), cmdline: marks[0].replaceAll('\0', ' ') });
    } catch {
      // exited meanwhile, or not ours to read
    }
  }
  return pids;
}
