#!/usr/bin/env node
// Scale: N concurrent managed jobs (`sleep 3600`, default 1,000) on one worker and the
// embedded server on this machine, spread over several local regions, then 100 random
// preemptions. Prints: submit time and rate, time until all run, worker and Temporal server
// RSS and CPU while the jobs run idle, the watchers in use, and preemption detection and
// preempt→RUNNING latency (median / p99 / max) under that load. Cleans up every job process
// and node afterwards.
//   npm run build && node bench/scale.mjs [jobs] [regions]
//
// Each local job is three processes (the wrapper, the script's shell, its command): 10,000
// jobs need more than Linux's default pid_max of 32768. Run as root, the bench raises it for
// the run (and says so) and puts it back afterwards.
//
// SCALE_CPU_PROFILE=<dir> runs the worker under `node --cpu-prof` (written to <dir> when it
// stops) and prints the idle window's bounds for bench/profile-summary.mjs.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { benchClient, benchEnv, median, procStats, sleep } from './support.mjs';

const total = Number(process.argv[2] ?? 1000);
const regionCount = Number(process.argv[3] ?? 4);
const PREEMPTIONS = Math.min(100, total);
const profileDir = process.env.SCALE_CPU_PROFILE;
const regions = Array.from({ length: regionCount }, (_, i) => `region-${String.fromCharCode(97 + i)}`);
const b = benchEnv(`local:\n  regions: [${regions.join(', ')}]\n`);
process.env.PETREL_HOME = b.home;
process.env.PETREL_USER = 'bench';
const { LocalProvider } = await import('../dist/providers/local/index.js');
const { taskFromCommand } = await import('../dist/core/spec/index.js');
const { managedJobInput, submitManagedJobs } = await import('../dist/cli/managed-job-submit.js');
const { managedJobStatusQuery } = await import('../dist/workflows/managed-job-messages.js');

const s = (ms) => `${(ms / 1000).toFixed(1)} s`;
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];
const spread = (xs) => `median ${s(median(xs))}, p99 ${s(pct(xs, 99))}, max ${s(Math.max(...xs))}`;

const pidMax = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
const pidsNeeded = total * 3 + 10_000;
if (pidMax < pidsNeeded) {
  try {
    fs.writeFileSync('/proc/sys/kernel/pid_max', String(pidsNeeded));
    console.log(`pid_max raised from ${pidMax} to ${pidsNeeded} for this run (3 processes per job)`);
  } catch (err) {
    console.error(`pid_max is ${pidMax}; ${total} jobs need about ${pidsNeeded} pids, and raising it failed (${err.message}): run as root`);
    process.exit(2);
  }
}

let client;
try {
  b.petrel('server', 'start');
  client = await benchClient(b);
  let worker = Number(fs.readFileSync(path.join(b.home, 'run', 'worker.pid'), 'utf8'));
  if (profileDir) worker = await profiledWorker(worker);
  const server = Number(fs.readFileSync(path.join(b.home, 'run', 'temporal-server.pid'), 'utf8'));
  const base = managedJobInput(b.home, taskFromCommand('sleep 3600'), 'bench', {});
  // Round-robin over the regions (as --infra local/<region> pins), so every region is a scope with its watchers.
  const pinned = regions.map((region) => ({ ...base, candidates: base.candidates.map((c) => ({ ...c, cloud: 'local', region })) }));

  // One client process, what `jobs launch -d --count N` does.
  const t0 = performance.now();
  const { ids: submitted } = await submitManagedJobs(client, total, (i) => pinned[i % regionCount]);
  const ids = submitted.filter((id) => id !== undefined);
  const submitMs = performance.now() - t0;
  console.log(`submitted ${ids.length} managed jobs in ${s(submitMs)} (${(ids.length / (submitMs / 1000)).toFixed(0)} jobs/s)`);

  const count = async (query) => (await client.workflow.count(query)).count;
  for (let last = 0; ; ) {
    const n = await count(`PetrelKind = 'job' AND PetrelStatus = 'RUNNING'`);
    if (n >= total) break;
    if (performance.now() - last > 60_000) {
      console.log(`  ${n} of ${total} running after ${s(performance.now() - t0)}`);
      last = performance.now();
    }
    if (performance.now() - t0 > 90 * 60_000) throw new Error(`only ${n} of ${total} running after 90 min`);
    await sleep(2000);
  }
  console.log(`all ${total} running ${s(performance.now() - t0)} after the first submission`);

  await sleep(30_000); // let start-up work (history writes, cache churn) drain
  const [wa, sa, ta] = [procStats(worker), procStats(server), threadTicks(worker)];
  const w0 = performance.now();
  await sleep(60_000);
  const [wz, sz, tz] = [procStats(worker), procStats(server), threadTicks(worker)];
  if (profileDir) console.log(`profile idle window: ${monotonicUs(w0)} ${monotonicUs(performance.now())} (monotonic µs)`);
  const secs = (performance.now() - w0) / 1000;
  const cpu = (a, z) => (((z.cpuSeconds - a.cpuSeconds) / secs) * 100).toFixed(1);
  console.log(`idle, ${total} jobs running: worker RSS ${wz.rssMiB.toFixed(0)} MiB, CPU ${cpu(wa, wz)}% of one core (targets < 2048 MiB, < 10%)`);
  console.log(`  worker threads: ${threadShares(ta, tz, secs)}`);
  console.log(`idle, ${total} jobs running: Temporal server RSS ${sz.rssMiB.toFixed(0)} MiB, CPU ${cpu(sa, sz)}% of one core`);
  const watchers = await count(`WorkflowType = 'jobWatcherWorkflow' AND ExecutionStatus = 'Running'`);
  console.log(`watchers: ${watchers} workflows (one long activity each) for ${total} jobs in ${regionCount} regions`);

  // Random preemptions, ten at a time a second apart, as spot reclaims arrive.
  const provider = new LocalProvider({ home: b.home });
  const victims = [...ids].sort(() => Math.random() - 0.5).slice(0, PREEMPTIONS);
  const hit = new Map();
  for (let i = 0; i < victims.length; i += 10) {
    for (const id of victims.slice(i, i + 10)) {
      const clusterName = `job-${id}-1`;
      hit.set(id, Date.now());
      await provider.preempt({ provider: 'local', clusterName, nodes: [{ rank: 0, id: `${clusterName}-0`, ip: '127.0.0.1', data: {} }] });
    }
    await sleep(1000);
  }
  // Visibility says when they all run again (asking each job every second would be load of
  // its own); then each job's own record says when its attempt ended and the next one ran.
  const waitStart = performance.now();
  for (;;) {
    const n = await count(`PetrelKind = 'job' AND PetrelStatus = 'RUNNING' AND PetrelRecoveries = 1`);
    if (n >= PREEMPTIONS) break;
    if (performance.now() - waitStart > 20 * 60_000) throw new Error(`${PREEMPTIONS - n} preempted jobs not RUNNING again after 20 min`);
    // Each count scans the visibility rows on the server being measured: not too often.
    await sleep(3000);
  }
  const detect = [];
  const recover = [];
  for (const id of victims) {
    const v = await client.workflow.getHandle(`job/${id}`).query(managedJobStatusQuery);
    // The first attempt ends (endedAt) when the job's workflow acts on its watcher's news.
    detect.push(Date.parse(v.attempts[0].endedAt) - hit.get(id));
    recover.push(Date.parse(v.attempts[1].runningAt) - hit.get(id));
  }
  console.log(`${PREEMPTIONS} preemptions under load: detected in ${spread(detect)} (target p99 < 5 s)`);
  console.log(`${PREEMPTIONS} preemptions under load: RUNNING again in ${spread(recover)}`);
  const slowest = victims[detect.indexOf(Math.max(...detect))];
  console.log(`  the slowest detection, job ${slowest}'s history from its preemption on:`);
  for (const line of await timeline(`job/${slowest}`, hit.get(slowest))) console.log(`    ${line}`);
} finally {
  // Cleanup: stop the worker and server first, so nothing recovers what we tear down.
  await client?.connection.close();
  if (profileDir) await stopProfiledWorker();
  await cleanup();
  if (pidMax < pidsNeeded) fs.writeFileSync('/proc/sys/kernel/pid_max', String(pidMax));
}

/** CPU ticks per thread name (Node's main thread, V8 and libuv workers, the SDK's Rust runtime). */
function threadTicks(pid) {
  const out = new Map();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(tid, { name, ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

function threadShares(before, after, secs) {
  const byName = new Map();
  for (const [tid, { name, ticks }] of after) byName.set(name, (byName.get(name) ?? 0) + ticks - (before.get(tid)?.ticks ?? 0));
  return [...byName]
    .filter(([, ticks]) => ticks > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([name, ticks]) => `${name} ${((ticks / 100 / secs) * 100).toFixed(1)}%`)
    .join(', ');
}

/** A workflow's events from `fromMs` on, as offsets: where the time between a preemption and its detection went. */
async function timeline(workflowId, fromMs) {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const { EventType } = (await import('@temporalio/proto')).default.temporal.api.enums.v1;
  return history.events
    .map((e) => ({ at: Number(e.eventTime.seconds) * 1000 + Math.round(e.eventTime.nanos / 1e6) - fromMs, type: EventType[e.eventType] }))
    .filter((e) => e.at >= -1000)
    .slice(0, 30)
    .map((e) => `${(e.at / 1000).toFixed(2).padStart(7)} s  ${String(e.type).replace('EVENT_TYPE_', '')}`);
}

/** The worker `server start` started, replaced by one under the V8 sampling profiler. */
async function profiledWorker(started) {
  process.kill(started, 'SIGTERM');
  while (alive(started)) await sleep(100);
  fs.mkdirSync(profileDir, { recursive: true });
  const out = fs.openSync(path.join(b.home, 'logs', 'worker.log'), 'a');
  const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--cpu-prof-interval=2000', path.join(import.meta.dirname, '..', 'dist', 'workers', 'main.js')], {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...b.env, TEMPORAL_ADDRESS: '', PETREL_SERVER_PORT: String(b.port) },
  });
  child.unref();
  fs.writeFileSync(path.join(b.home, 'run', 'worker.pid'), String(child.pid));
  console.log(`worker ${child.pid} runs under the CPU profiler (${profileDir})`);
  return child.pid;
}

/** SIGTERM, then as long as it takes to write the profile. */
async function stopProfiledWorker() {
  const pid = Number(fs.readFileSync(path.join(b.home, 'run', 'worker.pid'), 'utf8'));
  if (!alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 1200 && alive(pid); i++) await sleep(100);
}

/** Running, not a zombie: the worker `server start` left behind is PID 1's child, which may never reap it. */
function alive(pid) {
  try {
    return !/^\S+ \(.*\) [ZX]/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** performance.now() in this process as CLOCK_MONOTONIC µs, the clock V8's profiles are stamped with. */
function monotonicUs(perfNow) {
  return Math.round(Number(process.hrtime.bigint() / 1000n) - (performance.now() - perfNow) * 1000);
}

async function cleanup() {
  const provider = new LocalProvider({ home: b.home });
  b.petrel('server', 'stop');
  const root = path.join(b.home, 'local', 'clusters');
  const names = fs.existsSync(root) ? fs.readdirSync(root) : [];
  for (let i = 0; i < names.length; i += 200) {
    await Promise.all(names.slice(i, i + 200).map((clusterName) => provider.terminate({ provider: 'local', clusterName, nodes: [] })));
  }
  b.cleanup();
}
