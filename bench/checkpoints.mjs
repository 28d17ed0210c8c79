#!/usr/bin/env node
// Built-in checkpoint figures (issue 14), through the real CLI, embedded Temporal dev server and
// worker, against real OpenSSH servers on loopback (test/support/sshd.ts: one throw-away unix
// user and home per host) and S3 on moto (test/support/moto.ts):
//  1. 1 GiB snapshot and restore throughput: a job writes four 256 MiB files (each with its own
//     random header) and marks them; the snapshot activity that copies them is timed from the
//     workflow history (scheduled -> completed); then its host dies and the restore activity of
//     the next attempt, on another host, is timed the same way. Once with the worker's own store
//     (the snapshot relayed host -> worker -> other host), once with an S3 bucket on moto. The
//     worker's peak RSS (VmHWM) is read after each, to see that 1 GiB is streamed, not held.
//  2. Steps a preempted job redoes vs the snapshot interval (1 s, 2 s, 5 s): a job counts at
//     about 10 steps/s, saving every 5 steps; it is preempted at a random time 6-11 s into each
//     attempt; redone = last step before the preemption - the step the next attempt starts from.
//     On the local provider (`debug preempt`: the attempt's last snapshot can still read the
//     node's directory) and on SSH hosts whose sshd and processes are killed (no last snapshot
//     is possible, so the last interval snapshot is what comes back). The three intervals run
//     concurrently, each preempted PREEMPTIONS times; also the time from the preemption to the
//     next attempt running.
//  3. The cost of a snapshot that finds nothing changed, for a 1 GiB directory of 1,000 files:
//     the durations of the interval snapshot activities after the first full one (from the
//     history), on a local node and on an SSH host.
// Everything started here is stopped at the end (and on failure/Ctrl-C): the Petrel server and
// worker, the sshd hosts and their users, moto.
//   npm run build && node bench/checkpoints.mjs [preemptions per interval, default 3]
//   (BENCH_CKPT_PARTS=1,2,3 picks parts)
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchClient, benchEnv, median, repo, sleep } from './support.mjs';

const PREEMPTIONS = Number(process.argv[2] ?? 3);
const parts = new Set((process.env.BENCH_CKPT_PARTS ?? '1,2,3').split(',').map((x) => x.trim()));
const GiB = 1024 ** 3;

// The test support is TypeScript: bundle what is needed for this plain-Node script (as bench/clouds.mjs does).
fs.mkdirSync(path.join(repo, 'node_modules', '.cache'), { recursive: true });
const scratch = fs.mkdtempSync(path.join(repo, 'node_modules', '.cache', 'petrel-bench-ckpt-'));
process.once('exit', () => fs.rmSync(scratch, { recursive: true, force: true }));
const supportDir = path.join(repo, 'test/support');
const { build } = await import('esbuild');
for (const name of ['moto', 'sshd']) {
  await build({
    entryPoints: [path.join(supportDir, `${name}.ts`)],
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    outfile: path.join(scratch, `${name}.mjs`),
    logLevel: 'error',
    define: { 'import.meta.dirname': JSON.stringify(supportDir) },
  });
}
const { startMoto, useAwsTestEnv } = await import(path.join(scratch, 'moto.mjs'));
const { startSshd } = await import(path.join(scratch, 'sshd.mjs'));
const { managedJobStatusQuery } = await import('../dist/workflows/managed-job-messages.js');
const { ensureTemporalBinary } = await import('../dist/cli/embedded/temporal-binary.js');
const { S3Client, CreateBucketCommand, ListObjectsV2Command, DeleteObjectsCommand, DeleteBucketCommand } = await import('@aws-sdk/client-s3');
process.env.PETREL_TEMPORAL_BIN ??= ensureTemporalBinary(path.join(repo, '.petrel-test', 'shared'), (l) => console.error(l));

const say = (line) => console.log(line);
const note = (line) => console.error(`[bench] ${line}`);
const sec = (ms) => `${(ms / 1000).toFixed(2)} s`;
const mibs = (bytes, ms) => `${(bytes / (1024 * 1024) / (ms / 1000)).toFixed(1)} MiB/s`;

// ---------------------------------------------------------------------------------------------
const moto = await startMoto();
useAwsTestEnv();
process.env.AWS_ENDPOINT_URL_S3 = moto.url;
const sshd = await startSshd(6);
const shared = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-bench-ckpt-shared-'));
fs.chmodSync(shared, 0o777);
const b = benchEnv(
  [
    'ssh_node_pools:',
    '  bench:',
    '    user: nobody-by-default',
    `    identity_file: ${sshd.clientKey}`,
    '    hosts:',
    ...sshd.hosts.map((h) => `      - {ip: ${h.ip}, port: ${h.port}, user: ${h.user}}`),
    'local:',
    '  regions: [region-a, region-b, region-c]',
    'jobs:',
    '  unreachable_grace_seconds: 4',
    '',
  ].join('\n'),
);
const s3 = new S3Client({ endpoint: moto.url, region: 'us-east-1', forcePathStyle: true });
let client;
let stopping = false;
async function stopAll() {
  if (stopping) return;
  stopping = true;
  await client?.connection.close().catch(() => undefined);
  s3.destroy();
  b.cleanup();
  await sshd.stop().catch((e) => note(`sshd stop: ${e.message}`));
  await moto.stop().catch(() => undefined);
  fs.rmSync(shared, { recursive: true, force: true });
}
process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));

const bin = path.join(repo, 'bin', 'petrel.js');
/** The CLI, without blocking this process (jobs are watched concurrently). */
const petrel = (...args) =>
  new Promise((resolve, reject) =>
    execFile(process.execPath, [bin, ...args], { env: b.env, cwd: repo, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      err ? reject(new Error(`petrel ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout),
    ),
  );

const view = (id) => client.workflow.getHandle(`job/${id}`).query(managedJobStatusQuery);
async function until(what, fn, timeoutMs = 300_000, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}
const runningAttempt = (id, n) => until(`job ${id} attempt ${n} running`, async () => {
  const v = await view(id);
  return v.status === 'RUNNING' && v.attempts.length === n && v.attempts.at(-1).runKey ? v : undefined;
});
const finished = (id, status = 'SUCCEEDED') => until(`job ${id} ${status}`, async () => {
  const v = await view(id);
  if (['FAILED', 'FAILED_SETUP', 'FAILED_PRECHECKS', 'FAILED_NO_RESOURCE', 'FAILED_CONTROLLER', 'CANCELLED'].includes(v.status) && v.status !== status) throw new Error(`job ${id} ended ${v.status}: ${v.message ?? ''}`);
  return v.status === status ? v : undefined;
}, 600_000, 200);

async function launch(doc) {
  const file = path.join(b.home, `task-${crypto.randomUUID()}.yaml`);
  fs.writeFileSync(file, JSON.stringify(doc));
  return Number((await petrel('jobs', 'launch', '-d', '-y', file)).trim());
}

function sharedDir(name) {
  const dir = fs.mkdtempSync(path.join(shared, `${name}-`));
  fs.chmodSync(dir, 0o777);
  return dir;
}
const lines = (file) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []);

const tsMs = (t) => {
  if (!t) return undefined;
  const s = typeof t.seconds === 'object' && t.seconds !== null ? t.seconds.toNumber() : Number(t.seconds ?? 0);
  return s * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
};
/** The job workflow's activities in order: type, scheduled, started (last try), closed, result. */
async function activities(id) {
  const history = await client.workflow.getHandle(`job/${id}`).fetchHistory();
  const byId = new Map();
  const order = [];
  for (const e of history.events ?? []) {
    const at = tsMs(e.eventTime);
    if (e.activityTaskScheduledEventAttributes) {
      byId.set(String(e.eventId), { type: e.activityTaskScheduledEventAttributes.activityType?.name, scheduled: at, result: 'open' });
      order.push(String(e.eventId));
    }
    if (e.activityTaskStartedEventAttributes) {
      const a = byId.get(String(e.activityTaskStartedEventAttributes.scheduledEventId));
      if (a) Object.assign(a, { started: at, attempt: e.activityTaskStartedEventAttributes.attempt });
    }
    const closed = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes ?? e.activityTaskCanceledEventAttributes;
    if (closed) {
      const a = byId.get(String(closed.scheduledEventId));
      if (a) Object.assign(a, { closed: at, result: e.activityTaskCompletedEventAttributes ? 'completed' : 'failed' });
    }
  }
  return order.map((k) => ({ ...byId.get(k), ms: byId.get(k).closed - byId.get(k).scheduled }));
}

const workerPid = () => Number(fs.readFileSync(path.join(b.home, 'run', 'worker.pid'), 'utf8'));
const peakRssMiB = () => Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${workerPid()}/status`, 'utf8'))[1]) / 1024;
const hostIndex = (v) => sshd.hosts.findIndex((h) => h.ip === v.attempts.at(-1).handle.nodes[0].ip);

// ---------------------------------------------------------------------------------------------
/** Part 1: one 1 GiB snapshot off a host and its restore onto another, timed from the history. */
async function gibRelay(label, store) {
  const dir = sharedDir('gib');
  const run = [
    'umask 000',
    'cd "$PETREL_CHECKPOINT_DIR"',
    'if [ -f .petrel-complete ]; then',
    `  if sha256sum --quiet -c sums; then echo whole >> ${dir}/restores; else echo CHANGED >> ${dir}/restores; exit 3; fi`,
    '  exit 0',
    'fi',
    'head -c 4096 /dev/urandom > header',
    'for i in 1 2 3 4; do { head -c 512 /dev/urandom; head -c 256M /dev/zero; } > part$i; done',
    'sha256sum header part* > sums',
    'echo v1 > "$PETREL_CHECKPOINT_MARKER"',
    `echo saved >> ${dir}/saved`,
    'while true; do sleep 1; done',
  ].join('\n');
  const id = await launch({ name: `gib-${label}`, resources: { infra: 'ssh/bench' }, checkpoint: { path: 'big', interval: '3s', keep: 1, ...(store ? { store } : {}) }, run });
  const v1 = await runningAttempt(id, 1);
  await until('1 GiB written', async () => lines(path.join(dir, 'saved')).length > 0, 300_000, 200);
  const snap = await until('the 1 GiB snapshot', async () => (await view(id)).checkpoint.snapshots.find((s) => s.marker === 'v1'), 600_000, 200);
  const rssAfterSnapshot = peakRssMiB();
  const host = hostIndex(v1);
  const killedAt = Date.now();
  await sshd.kill(host);
  fs.rmSync(v1.attempts[0].checkpointPaths[0], { recursive: true, force: true });
  const v2 = await runningAttempt(id, 2);
  const recoveredAfter = Date.parse(v2.attempts[1].runningAt) - killedAt;
  const done = await finished(id);
  const rssAfterRestore = peakRssMiB();
  await sshd.restart(host);
  const acts = await activities(id);
  const snapAct = acts.filter((a) => a.type === 'snapshotCheckpoint' && a.result === 'completed').sort((x, y) => y.ms - x.ms)[0];
  const restoreAct = acts.filter((a) => a.type === 'restoreCheckpoint' && a.result === 'completed').at(-1);
  const ok = lines(path.join(dir, 'restores')).join(',') === 'whole';
  say(
    `1 GiB checkpoint, ${label}: snapshot ${sec(snapAct.ms)} (${mibs(snap.bytes, snapAct.ms)}; ${snap.files} files, ${(snap.copiedBytes / GiB).toFixed(2)} GiB copied off the node), ` +
      `restore onto another host ${sec(restoreAct.ms)} (${mibs(snap.bytes, restoreAct.ms)}); content ${ok ? 'verified by sha256 on the new host' : 'NOT the same'}; ` +
      `host killed -> next attempt running ${sec(recoveredAfter)}; worker peak RSS ${rssAfterSnapshot.toFixed(0)} MiB after the snapshot, ${rssAfterRestore.toFixed(0)} MiB after the restore`,
  );
  fs.rmSync(done.attempts[1].checkpointPaths[0], { recursive: true, force: true });
  const storeDir = path.join(b.home, 'checkpoints', 'store');
  if (fs.existsSync(storeDir)) for (const d of fs.readdirSync(storeDir)) if (d.endsWith(`_gib-${label}_${id}-0`)) fs.rmSync(path.join(storeDir, d), { recursive: true, force: true });
}

async function emptyBucket(bucket) {
  for (;;) {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    const keys = (r.Contents ?? []).map((o) => ({ Key: o.Key }));
    if (keys.length === 0) break;
    await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
  }
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
}

// ---------------------------------------------------------------------------------------------
/** Part 2: one job at `interval`, preempted PREEMPTIONS times by `preempt`; steps redone each time. */
async function lossRun(infra, interval, preempt) {
  const dir = sharedDir(`loss-${infra}-${interval}`);
  const log = path.join(dir, 'log');
  const run = [
    'umask 000',
    'step=0',
    '[ -f "$PETREL_CHECKPOINT_DIR/step" ] && step=$(cat "$PETREL_CHECKPOINT_DIR/step")',
    `echo "start $step $(date +%s.%N)" >> ${log}`,
    'while true; do',
    '  step=$((step+1))',
    `  echo "s $step" >> ${log}`,
    '  sleep 0.1',
    '  if [ $((step % 5)) -eq 0 ]; then',
    '    echo $step > "$PETREL_CHECKPOINT_DIR/step.tmp" && mv "$PETREL_CHECKPOINT_DIR/step.tmp" "$PETREL_CHECKPOINT_DIR/step"',
    '    echo $step > "$PETREL_CHECKPOINT_MARKER"',
    '  fi',
    'done',
  ].join('\n');
  const id = await launch({ name: `loss-${interval}s`, resources: { infra: infra === 'ssh' ? 'ssh/bench' : 'local' }, checkpoint: { path: 'ckpt', interval: `${interval}s`, keep: 2 }, run });
  const recoveries = [];
  for (let n = 1; n <= PREEMPTIONS; n++) {
    const v = await runningAttempt(id, n);
    const starts = () => lines(log).filter((l) => l.startsWith('start '));
    await until('the attempt to start counting', async () => starts().length >= n, 60_000, 50);
    const startedAt = Number(starts()[n - 1].split(' ')[2]) * 1000;
    await sleep(Math.max(0, startedAt + 6000 + Math.random() * 5000 - Date.now()));
    const t0 = Date.now();
    await preempt(id, v);
    const next = await runningAttempt(id, n + 1);
    recoveries.push(Date.parse(next.attempts[n].runningAt) - t0);
    if (infra === 'ssh') await sshd.restart(hostIndex(v));
  }
  await runningAttempt(id, PREEMPTIONS + 1);
  await until('the last attempt to start counting', async () => lines(log).filter((l) => l.startsWith('start ')).length > PREEMPTIONS, 60_000, 50);
  await petrel('jobs', 'cancel', '-y', String(id));
  // For each start after the first: the steps between where it began and where the attempt before stopped.
  const redone = [];
  let last;
  for (const l of lines(log)) {
    const [kind, value] = l.split(' ');
    if (kind === 'start' && last !== undefined) redone.push(last - Number(value));
    if (kind === 's') last = Number(value);
  }
  return { infra, interval, redone, recoveries, id };
}

async function lossPart(infra, preempt) {
  const results = await Promise.all([1, 2, 5].map((i) => lossRun(infra, i, preempt)));
  for (const r of results) {
    const mean = r.redone.reduce((a, x) => a + x, 0) / r.redone.length;
    say(
      `steps redone per preemption, ${infra === 'ssh' ? 'SSH host killed (no last snapshot possible)' : 'local `debug preempt` (last snapshot still reads the node)'}, interval ${r.interval} s (~10 steps/s, saving every 5): ` +
        `mean ${mean.toFixed(1)}, max ${Math.max(...r.redone)} [${r.redone.join(', ')}]; preemption -> next attempt running median ${sec(median(r.recoveries))} [${r.recoveries.map((x) => (x / 1000).toFixed(1)).join(', ')}]`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
/** Part 3: snapshots of an unchanged 1 GiB, 1,000-file directory. */
async function unchanged(infra) {
  const dir = sharedDir(`same-${infra}`);
  const run = [
    'umask 000',
    'cd "$PETREL_CHECKPOINT_DIR"',
    'for i in $(seq 1 1000); do { echo "file $i $RANDOM"; head -c 1048560 /dev/zero; } > f$i; done',
    'echo v1 > "$PETREL_CHECKPOINT_MARKER"',
    `echo saved >> ${dir}/saved`,
    'while true; do sleep 1; done',
  ].join('\n');
  const id = await launch({ name: `same-${infra}`, resources: { infra: infra === 'ssh' ? 'ssh/bench' : 'local' }, checkpoint: { path: 'many', interval: '2s', keep: 1 }, run });
  const v1 = await runningAttempt(id, 1);
  const snap = await until('the full snapshot', async () => (await view(id)).checkpoint.snapshots.find((s) => s.marker === 'v1'), 600_000, 200);
  await sleep(30_000);
  await petrel('jobs', 'cancel', '-y', String(id));
  const acts = (await activities(id)).filter((a) => a.type === 'snapshotCheckpoint' && a.result === 'completed');
  const full = acts.reduce((m, a) => (a.ms > m.ms ? a : m));
  const after = acts.filter((a) => a.scheduled > full.scheduled && a !== acts.at(-1)).map((a) => a.ms);
  say(
    `1 GiB in 1,000 files, ${infra === 'ssh' ? 'SSH host' : 'local node'}: first (full) snapshot ${sec(full.ms)} (${mibs(snap.bytes, full.ms)}); a snapshot that finds nothing changed: ` +
      `median ${sec(median(after))} (min ${sec(Math.min(...after))}, max ${sec(Math.max(...after))}) over ${after.length}`,
  );
  fs.rmSync(v1.attempts[0].checkpointPaths[0], { recursive: true, force: true });
  const storeDir = path.join(b.home, 'checkpoints', 'store');
  if (fs.existsSync(storeDir)) for (const d of fs.readdirSync(storeDir)) if (d.endsWith(`_same-${infra}_${id}-0`)) fs.rmSync(path.join(storeDir, d), { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
try {
  await petrel('server', 'start');
  client = await benchClient(b);
  say(`checkpoint bench: ${os.cpus().length} cpus, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} at the start`);
  if (parts.has('1')) {
    await gibRelay('relay', undefined);
    const bucket = `petrel-bench-ckpt-${Date.now()}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    try {
      await gibRelay('s3', `s3://${bucket}/bench`);
    } finally {
      await emptyBucket(bucket).catch((e) => note(`emptying ${bucket}: ${e.message}`));
    }
  }
  if (parts.has('3')) {
    await unchanged('local');
    await unchanged('ssh');
  }
  if (parts.has('2')) {
    await lossPart('local', (id) => petrel('debug', 'preempt', '--job', String(id)));
    await lossPart('ssh', (id, v) => sshd.kill(hostIndex(v)));
  }
  say(`load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} at the end`);
} finally {
  await stopAll();
}
