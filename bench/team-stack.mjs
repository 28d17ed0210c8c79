#!/usr/bin/env node
// The team stack next to the embedded default, in one run: N live managed jobs (`sleep 3600`,
// default 1,000) over 4 local regions on one Petrel worker, first against docker-compose.yml's
// services run natively by deploy/native/up.sh (Postgres, Temporal server 1.32, UI), then
// against the embedded dev server (`petrel server start`: SQLite). For each it prints the submit
// rate (one client, what `jobs launch -d --count N` does), the time until all run, the RSS of
// the worker, the Temporal server and (native) Postgres with all N live, and the
// preempt→RUNNING latency of P random preemptions (default 50) under that load.
//   npm run build && node bench/team-stack.mjs [N] [P]
// Root (Postgres runs as `postgres`; 3 processes per local job may need a higher pid_max, raised
// for the run and put back). The Go binaries come from deploy/native/build.sh (cached).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchClient, benchEnv, median, procStats, repo, sleep } from './support.mjs';

const total = Number(process.argv[2] ?? 1000);
const preemptions = Math.min(Number(process.argv[3] ?? 50), total);
const regions = ['region-a', 'region-b', 'region-c', 'region-d'];
const config = `local:\n  regions: [${regions.join(', ')}]\n`;

const { LocalProvider } = await import('../dist/providers/local/index.js');
const { taskFromCommand } = await import('../dist/core/spec/index.js');
const { managedJobInput, submitManagedJobs } = await import('../dist/cli/managed-job-submit.js');
const { managedJobStatusQuery } = await import('../dist/workflows/managed-job-messages.js');
const { ensureTemporalBinary } = await import('../dist/cli/embedded/temporal-binary.js');

// One Temporal CLI for both (health checks and init for the native stack, the dev server for the
// embedded one), found or installed the way Petrel does for its users.
const temporalCli = process.env.PETREL_TEMPORAL_BIN ?? ensureTemporalBinary(path.join(os.homedir(), '.petrel'), (l) => console.log(l));
process.env.PETREL_TEMPORAL_BIN = temporalCli;

const s = (ms) => `${(ms / 1000).toFixed(1)} s`;
const mib = (n) => `${n.toFixed(0)} MiB`;
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];
const spread = (xs) => `median ${s(median(xs))}, p99 ${s(pct(xs, 99))}, max ${s(Math.max(...xs))}`;

const pidMax = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
const pidsNeeded = total * 3 + 10_000;
if (pidMax < pidsNeeded) {
  fs.writeFileSync('/proc/sys/kernel/pid_max', String(pidsNeeded));
  console.log(`pid_max raised from ${pidMax} to ${pidsNeeded} for this run (3 processes per job)`);
}

/** Proportional set size of a process (MiB): shared pages split among the processes sharing them. */
function pssMiB(pid) {
  try {
    return Number(/^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))[1]) / 1024;
  } catch {
    return 0;
  }
}

/** The postmaster and its children: their PSS summed (RSS would count shared_buffers once per backend). */
function postgresMemory(postmaster) {
  const children = spawnSync('pgrep', ['-P', String(postmaster)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
  const pids = [postmaster, ...children];
  return { processes: pids.length, pssMiB: pids.reduce((sum, pid) => sum + pssMiB(pid), 0), rssMiB: pids.reduce((sum, pid) => sum + procStatsOr0(pid), 0) };
}

function procStatsOr0(pid) {
  try {
    return procStats(pid).rssMiB;
  } catch {
    return 0;
  }
}

/** Submits, waits for all to run, measures memory, preempts, measures recovery; returns the figures. */
async function measure(label, { home, address, workerPid, serverPid, postmasterPid }) {
  const client = await benchClient({ home, address });
  const figures = { label };
  try {
    const base = managedJobInput(home, taskFromCommand('sleep 3600'), 'bench', {});
    const pinned = regions.map((region) => ({ ...base, candidates: base.candidates.map((c) => ({ ...c, cloud: 'local', region })) }));
    const t0 = performance.now();
    const { ids: submitted } = await submitManagedJobs(client, total, (i) => pinned[i % regions.length]);
    const ids = submitted.filter((id) => id !== undefined);
    figures.submitMs = performance.now() - t0;
    figures.submitted = ids.length;
    console.log(`[${label}] submitted ${ids.length} managed jobs in ${s(figures.submitMs)} (${(ids.length / (figures.submitMs / 1000)).toFixed(0)} jobs/s)`);

    const count = async (query) => (await client.workflow.count(query)).count;
    for (let last = performance.now(); ; ) {
      const n = await count(`PetrelKind = 'job' AND PetrelStatus = 'RUNNING'`);
      if (n >= total) break;
      if (performance.now() - last > 30_000) {
        console.log(`[${label}]   ${n} of ${total} running after ${s(performance.now() - t0)}`);
        last = performance.now();
      }
      if (performance.now() - t0 > 60 * 60_000) throw new Error(`only ${n} of ${total} running after 60 min`);
      await sleep(2000);
    }
    figures.allRunningMs = performance.now() - t0;
    console.log(`[${label}] all ${total} running ${s(figures.allRunningMs)} after the first submission`);

    await sleep(20_000); // let start-up work (history writes, cache churn) drain
    figures.workerRss = procStats(workerPid).rssMiB;
    figures.serverRss = procStats(serverPid).rssMiB;
    if (postmasterPid) figures.postgres = postgresMemory(postmasterPid);
    console.log(
      `[${label}] ${total} live jobs: worker RSS ${mib(figures.workerRss)}, Temporal server RSS ${mib(figures.serverRss)}` +
        (figures.postgres ? `, Postgres ${figures.postgres.processes} processes PSS ${mib(figures.postgres.pssMiB)} (RSS sum ${mib(figures.postgres.rssMiB)})` : ' (SQLite, inside the server)'),
    );

    // Random preemptions, ten at a time a second apart, as spot reclaims arrive.
    const provider = new LocalProvider({ home });
    const victims = [...ids].sort(() => Math.random() - 0.5).slice(0, preemptions);
    const hit = new Map();
    for (let i = 0; i < victims.length; i += 10) {
      for (const id of victims.slice(i, i + 10)) {
        const clusterName = `job-${id}-1`;
        hit.set(id, Date.now());
        await provider.preempt({ provider: 'local', clusterName, nodes: [{ rank: 0, id: `${clusterName}-0`, ip: '127.0.0.1', data: {} }] });
      }
      await sleep(1000);
    }
    const waitStart = performance.now();
    for (;;) {
      const n = await count(`PetrelKind = 'job' AND PetrelStatus = 'RUNNING' AND PetrelRecoveries = 1`);
      if (n >= preemptions) break;
      if (performance.now() - waitStart > 20 * 60_000) throw new Error(`${preemptions - n} preempted jobs not RUNNING again after 20 min`);
      await sleep(3000);
    }
    figures.recover = [];
    for (const id of victims) {
      const v = await client.workflow.getHandle(`job/${id}`).query(managedJobStatusQuery);
      figures.recover.push(Date.parse(v.attempts[1].runningAt) - hit.get(id));
    }
    console.log(`[${label}] ${preemptions} preemptions under load: RUNNING again in ${spread(figures.recover)}`);
  } finally {
    await client.connection.close();
  }
  return figures;
}

/** Kills every local job and node a bench home holds (after its worker stopped, so nothing recovers them). */
async function terminateLocalClusters(home) {
  const provider = new LocalProvider({ home });
  const root = path.join(home, 'local', 'clusters');
  const names = fs.existsSync(root) ? fs.readdirSync(root) : [];
  for (let i = 0; i < names.length; i += 200) {
    await Promise.all(names.slice(i, i + 200).map((clusterName) => provider.terminate({ provider: 'local', clusterName, nodes: [] })));
  }
}

function alive(pid) {
  try {
    return !/^\S+ \(.*\) [ZX]/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function stopPid(pid) {
  if (!alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 900 && alive(pid); i++) await sleep(100);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

/** The native stack (deploy/native/up.sh, no workers of its own) and one worker in a bench home. */
async function nativeRun() {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-bench-stack-'));
  fs.chmodSync(state, 0o755);
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-bench-native-'));
  fs.writeFileSync(path.join(home, 'config.yaml'), config);
  const env = { ...process.env, TEMPORAL_CLI: temporalCli, PETREL_NATIVE_WORKERS: '0', PETREL_NATIVE_CODEC: '0' };
  let worker;
  try {
    const t0 = performance.now();
    const up = spawnSync('bash', [path.join(repo, 'deploy', 'native', 'up.sh'), state], { env, encoding: 'utf8' });
    if (up.status !== 0) throw new Error(`deploy/native/up.sh failed:\n${up.stderr}`);
    console.log(`[native] deploy/native/up.sh: stack up in ${s(performance.now() - t0)} (${up.stderr.split('\n').filter((l) => /^\S+\s+[\d.]+ s$/.test(l)).map((l) => l.replace(/\s+/g, ' ')).join(', ')})`);
    const settings = Object.fromEntries(fs.readFileSync(path.join(state, 'stack.env'), 'utf8').split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    const pidOf = (service) => Number(fs.readFileSync(path.join(state, 'pids', `${service}.pid`), 'utf8').split(' ')[0]);
    const log = fs.openSync(path.join(home, 'worker.log'), 'a');
    worker = spawn(process.execPath, [path.join(repo, 'dist', 'workers', 'main.js')], {
      env: { ...process.env, PETREL_HOME: home, TEMPORAL_ADDRESS: settings.TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE: settings.TEMPORAL_NAMESPACE, PETREL_USER: 'bench' },
      stdio: ['ignore', log, log],
    });
    while (!fs.readFileSync(path.join(home, 'worker.log'), 'utf8').includes("polling task queue 'petrel'")) {
      if (worker.exitCode !== null) throw new Error(`the worker exited: ${fs.readFileSync(path.join(home, 'worker.log'), 'utf8')}`);
      await sleep(100);
    }
    return await measure('native: Postgres + temporal-server 1.32', { home, address: settings.TEMPORAL_ADDRESS, workerPid: worker.pid, serverPid: pidOf('temporal'), postmasterPid: pidOf('postgres') });
  } finally {
    if (worker) await stopPid(worker.pid);
    await terminateLocalClusters(home);
    const down = spawnSync('bash', [path.join(repo, 'deploy', 'native', 'down.sh'), state], { env, encoding: 'utf8' });
    if (down.status !== 0) console.error(`deploy/native/down.sh: ${down.stderr}`);
    fs.rmSync(state, { recursive: true, force: true });
    fs.rmSync(home, { recursive: true, force: true });
  }
}

/** The embedded default: `petrel server start` (dev server on SQLite and a worker). */
async function embeddedRun() {
  const b = benchEnv(config);
  try {
    b.petrel('server', 'start');
    const pidOf = (name) => Number(fs.readFileSync(path.join(b.home, 'run', `${name}.pid`), 'utf8'));
    return await measure('embedded: temporal server start-dev (SQLite)', { home: b.home, address: b.address, workerPid: pidOf('worker'), serverPid: pidOf('temporal-server') });
  } finally {
    spawnSync(process.execPath, [path.join(repo, 'bin', 'petrel.js'), 'server', 'stop'], { env: b.env });
    await terminateLocalClusters(b.home);
    b.cleanup();
  }
}

const results = [];
try {
  results.push(await nativeRun());
  results.push(await embeddedRun());
} finally {
  if (pidMax < pidsNeeded) fs.writeFileSync('/proc/sys/kernel/pid_max', String(pidMax));
}

console.log(`\n${total} live managed jobs, ${preemptions} preemptions, one worker, ${regions.length} local regions:`);
const rows = [
  ['', ...results.map((r) => r.label)],
  ['submit', ...results.map((r) => `${s(r.submitMs)} (${(r.submitted / (r.submitMs / 1000)).toFixed(0)} jobs/s)`)],
  ['all running after', ...results.map((r) => s(r.allRunningMs))],
  ['worker RSS', ...results.map((r) => mib(r.workerRss))],
  ['Temporal server RSS', ...results.map((r) => mib(r.serverRss))],
  ['Postgres PSS (processes)', ...results.map((r) => (r.postgres ? `${mib(r.postgres.pssMiB)} (${r.postgres.processes})` : '-'))],
  ['preempt→RUNNING', ...results.map((r) => spread(r.recover))],
];
const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
for (const row of rows) console.log(row.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd());
