#!/usr/bin/env node
// AWS and GCP figures against the cloud doubles (issue #12's benchmark): EC2 is moto's server
// with Petrel's hooks (test/support/moto.ts + moto/moto_petrel.py), Compute Engine the stand-in
// of test/support/gce-standin.ts (no GCE emulator can run here), every instance of parts 1 and 2
// a real OpenSSH server on loopback (test/support/sshd.ts) reached through
// `<cloud>.ssh_proxy_command` (test/support/moto/tcp-relay.mjs); the addresses the doubles hand
// out are never connected to. Explicit credentials and endpoints, no metadata probes.
//  1. provision -> RUNNING: `petrel jobs launch -d -y --infra aws --gpus T4:1 --use-spot
//     --image-id ami-… 'sleep 600'` through the real CLI, embedded Temporal dev server and worker;
//     from the command's start until the job's view (a Temporal query every 50 ms) is RUNNING
//     with its run started; the workflow's own attempt timestamps (startedAt, runningAt) give the
//     same without polling granularity. N runs after one untimed warm-up (which pays the region's
//     bootstrap: key pair, security group), then the same pinned to gcp.
//  2. interruption notice -> RUNNING elsewhere: a running spot job on aws; moto's interrupt hook
//     serves the instance's IMDS notice at once and terminates it DELAY s later; time from the
//     hook's call until attempt 2 has its run started (and until attempt 1 is counted preempted).
//  3. cloud API calls per minute with 1,000 running cloud jobs, at the provider level (no
//     Temporal): 1,000 one-node clusters spread over the 4 catalog regions (every zone of
//     them) created directly in the double (EC2: RunInstances with the provider's own input and
//     tags; GCE: instances.insert with its labels; provisioning 1,000 through the provider would
//     need 1,000 SSH targets). The SSH half of each round (ONE exec per running instance per
//     round, by design) fails at once and is not counted: every node's SSH address is a closed
//     loopback port (BENCH_CLOUDS_SSH=false instead sets `ssh_proxy_command: 'false'`, one
//     `/bin/sh -c false` per instance per round: 1,000 spawns a round starve this process for
//     seconds). Then provider.batchStatus of every watched job as the watcher does it (the next
//     round 1 s after the last began, at least 200 ms after it ended): four
//     concurrent watchers, one per region with its own provider object as the worker makes them;
//     one caller with all 1,000; and four watchers of 10 jobs each (flatness). Calls are counted
//     by the double itself (moto's call log, the stand-in's request log), after a quiet baseline.
// Everything started here is stopped at the end, on failure and on Ctrl-C: the Petrel server and
// worker, sshd and its throw-away user, moto, the stand-in.
//   npm run build && node bench/clouds.mjs [runs=5] [interrupt runs=5] [instances=1000] [watch seconds=60]
//   (BENCH_CLOUDS_PARTS=1,2 or =3 runs only those parts; BENCH_CLOUDS_NOTICE_DELAY=30; BENCH_CLOUDS_SSH=refused|false)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { benchClient, median, repo, sleep } from './support.mjs';

const runs = Number(process.argv[2] ?? 5);
const interruptRuns = Number(process.argv[3] ?? 5);
const scaleInstances = Number(process.argv[4] ?? 1000);
const watchSeconds = Number(process.argv[5] ?? 60);
const parts = new Set((process.env.BENCH_CLOUDS_PARTS ?? '1,2,3').split(',').map((x) => x.trim()));
const NOTICE_DELAY_S = Number(process.env.BENCH_CLOUDS_NOTICE_DELAY ?? 30);
/** how part 3's SSH half fails: 'refused' (a closed loopback port) or 'false' (ssh_proxy_command: false) */
const SSH_MODE = process.env.BENCH_CLOUDS_SSH ?? 'refused';
if (!['refused', 'false'].includes(SSH_MODE)) throw new Error(`BENCH_CLOUDS_SSH: 'refused' or 'false', not '${SSH_MODE}'`);
const TOKEN = 'ya29.bench-token-for-the-stand-in';
const AMI = 'ami-1e749f67';
const PROJECT = 'petrel-bench';
const CREATE_CONCURRENCY = 16;
const WATCH_POLL_MS = 1_000; // activities/phase-watch-activities.ts
const MIN_PAUSE_MS = 200;

// ---------------------------------------------------------------------------------------------
// The test support is TypeScript: bundle it for this plain-Node script, below the repo's
// node_modules so that the bundles' packages resolve.
fs.mkdirSync(path.join(repo, 'node_modules', '.cache'), { recursive: true });
const scratch = fs.mkdtempSync(path.join(repo, 'node_modules', '.cache', 'petrel-bench-clouds-'));
process.once('exit', () => fs.rmSync(scratch, { recursive: true, force: true }));
const supportDir = path.join(repo, 'test/support');
const { build } = await import('esbuild');
// petrel.ts asks vitest for the Temporal binary the global setup found: here it is in the env.
const vitestShim = {
  name: 'vitest-shim',
  setup(b) {
    b.onResolve({ filter: /^vitest$/ }, () => ({ path: 'vitest', namespace: 'shim' }));
    b.onLoad({ filter: /.*/, namespace: 'shim' }, () => ({ contents: 'export const inject = (key) => ({ temporalBin: process.env.PETREL_TEMPORAL_BIN })[key];', loader: 'js' }));
  },
};
for (const name of ['moto', 'gce-standin', 'sshd', 'petrel']) {
  await build({
    entryPoints: [path.join(supportDir, `${name}.ts`)],
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    outfile: path.join(scratch, `${name}.mjs`),
    logLevel: 'error',
    // The test support finds the repo, install.sh and moto_petrel.py from its own directory.
    define: { 'import.meta.dirname': JSON.stringify(supportDir) },
    plugins: [vitestShim],
  });
}
const { startMoto } = await import(path.join(scratch, 'moto.mjs'));
const { startGceStandin } = await import(path.join(scratch, 'gce-standin.mjs'));
const { startSshd } = await import(path.join(scratch, 'sshd.mjs'));
const { PetrelEnv } = await import(path.join(scratch, 'petrel.mjs'));
const { managedJobStatusQuery } = await import('../dist/workflows/managed-job-messages.js');
const { ensureTemporalBinary } = await import('../dist/cli/embedded/temporal-binary.js');
const { ensureCloudKey } = await import('../dist/providers/vm/ssh-key.js');
const { vmNodeHandle } = await import('../dist/providers/vm/nodes.js');
const { AwsProvider, closeAwsClients } = await import('../dist/providers/aws/index.js');
const { runInstancesInput } = await import('../dist/providers/aws/instances.js');
const { MAX_AGE_MS } = await import('../dist/providers/aws/batch-status.js');
const { GcpProvider } = await import('../dist/providers/gcp/index.js');
const { REUSE_MS } = await import('../dist/providers/gcp/status.js');
const { instanceLabels, instanceName, requestIdOf } = await import('../dist/providers/gcp/names.js');
const { catalogRegions, catalogZones } = await import('../dist/core/catalog/index.js');
const { EC2Client, RunInstancesCommand, DescribeInstancesCommand } = await import('@aws-sdk/client-ec2');

process.env.PETREL_TEMPORAL_BIN ??= ensureTemporalBinary(path.join(repo, '.petrel-test', 'shared'), (l) => console.error(l));

// ---------------------------------------------------------------------------------------------
const s = (ms) => `${(ms / 1000).toFixed(3)} s`;
const stats = (xs) => (xs.length ? `median ${s(median(xs))} (min ${s(Math.min(...xs))}, max ${s(Math.max(...xs))}; ${xs.map((x) => (x / 1000).toFixed(2)).join(', ')})` : 'no runs');
const say = (line) => console.log(line);
const note = (line) => console.error(`[bench] ${line}`);
const summary = [];
const sum = (line) => summary.push(line);
const commit = () => {
  try {
    return execFileSync('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim() + (execFileSync('git', ['-C', repo, 'status', '--porcelain'], { encoding: 'utf8' }).trim() ? ' (+ uncommitted changes)' : '');
  } catch {
    return '?';
  }
};
const machine = () => `load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}, ${os.cpus().length} cpus`;

/** Runs `items` through `fn`, `limit` at a time; results in order; the first error rejects once all settled. */
async function pool(items, limit, fn) {
  const results = new Array(items.length);
  const errors = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        try {
          results[i] = await fn(items[i], i);
        } catch (err) {
          errors.push(err);
        }
      }
    }),
  );
  if (errors.length) throw new AggregateError(errors, `${errors.length} of ${items.length} failed; first: ${errors[0]?.message}`);
  return results;
}

// The worker the CLI starts inherits these: explicit credentials and endpoints, no metadata probes.
Object.assign(process.env, {
  AWS_EC2_METADATA_DISABLED: 'true',
  METADATA_SERVER_DETECTION: 'none',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  AWS_REGION: 'us-east-1',
  AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/petrel-bench/credentials',
  AWS_CONFIG_FILE: '/nonexistent/petrel-bench/config',
  GOOGLE_OAUTH_ACCESS_TOKEN: TOKEN,
});
delete process.env.AWS_PROFILE;
delete process.env.GOOGLE_APPLICATION_CREDENTIALS;

let moto;
let gce;
let sshd;
let p;
let temporal;
const ownDirs = [];
let cleaning;
function cleanup() {
  cleaning ??= (async () => {
    const step = async (what, fn) => {
      try {
        await fn();
      } catch (err) {
        note(`cleanup: ${what}: ${err.message}`);
      }
    };
    await step('temporal client', () => temporal?.connection.close());
    await step('petrel server', () => p?.destroy());
    await step('sshd', () => sshd?.stop());
    await step('gce stand-in', () => gce?.close());
    await step('moto', () => moto?.stop());
    closeAwsClients();
    for (const d of ownDirs) fs.rmSync(d, { recursive: true, force: true });
  })();
  return cleaning;
}
// providers/ssh/proxy-command.ts destroys a ProxyCommand stream it never handed out (its banner
// timeout fired first) with an error nobody listens to: an uncaught exception that would end this
// process (and a worker). Counted and reported here, so the figures survive it.
let proxyStreamErrors = 0;
process.on('uncaughtException', (err) => {
  if (err?.code === 'EPROXYCOMMAND') {
    if (proxyStreamErrors++ === 0) note(`uncaught (providers/ssh/proxy-command.ts, counted from now on): ${err.message}`);
    return;
  }
  console.error(err);
  process.exitCode = 1;
  void cleanup().finally(() => process.exit(1));
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    note(`${sig}: stopping everything`);
    void cleanup().finally(() => process.exit(130));
  });
}

const t0Bench = performance.now();
try {
  say(`machine: ${machine()}; node ${process.version}`);
  // startMoto keeps its log in a fresh dir under TMPDIR: under our scratch, removed with it.
  const tmpdir = process.env.TMPDIR;
  process.env.TMPDIR = scratch;
  try {
    moto = await startMoto();
  } finally {
    if (tmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmpdir;
  }
  process.env.AWS_ENDPOINT_URL_EC2 = moto.url;
  gce = await startGceStandin({ authorization: `Bearer ${TOKEN}` });
  note(`moto on ${moto.url} (pid ${moto.pid}), GCE stand-in on ${gce.endpoint} (in this process)`);

  if (parts.has('1') || parts.has('2')) {
    sshd = await startSshd(1);
    const h = sshd.hosts[0];
    p = await PetrelEnv.create();
    // Petrel's cloud key is what the "instances" accept: the loopback sshd.
    const key = await ensureCloudKey(p.home);
    fs.appendFileSync(sshd.authorizedKeys, `${key.publicKey}\n`);
    const proxy = `${process.execPath} ${path.join(supportDir, 'moto/tcp-relay.mjs')} ${h.ip} ${h.port} %h %p`;
    fs.writeFileSync(
      path.join(p.home, 'config.yaml'),
      [
        'aws:',
        `  ssh_user: ${h.user}`,
        `  ssh_proxy_command: ${proxy}`,
        `  instance_metadata_endpoint: ${moto.metadataUrl}`,
        'gcp:',
        `  project_id: ${PROJECT}`,
        `  api_endpoint: ${gce.endpoint}`,
        `  instance_metadata_endpoint: ${gce.metadataEndpoint}`,
        `  ssh_user: ${h.user}`,
        `  ssh_proxy_command: ${proxy}`,
        '',
      ].join('\n'),
    );
    await p.ok(['server', 'start']);
    temporal = await benchClient({ address: p.address, home: p.home });

    const view = (id) => temporal.workflow.getHandle(`job/${id}`).query(managedJobStatusQuery);
    /** Polls the job's view every 50 ms until `ok`; calls `each(view, now)` on every view. */
    const watch = async (id, ok, what, timeoutMs = 180_000, each = () => undefined) => {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const v = await view(id).catch(() => undefined);
        const now = performance.now();
        if (v) {
          each(v, now);
          if (ok(v)) return { v, now };
          if (/^FAILED|^CANCELLED/.test(v.status)) throw new Error(`job ${id} ended ${v.status} while waiting for ${what}: ${v.message ?? ''}`);
        }
        if (now > deadline) throw new Error(`job ${id}: no ${what} within ${timeoutMs / 1000} s (last: ${v?.status}, ${v?.attempts.length} attempts)`);
        await sleep(50);
      }
    };
    const running = (v) => v.status === 'RUNNING' && !!v.attempts.at(-1)?.runningAt;
    const cancel = async (id) => {
      await p.ok(['jobs', 'cancel', String(id), '-y']);
      await watch(id, (v) => v.status === 'CANCELLED' || v.status === 'SUCCEEDED', 'the end after cancel', 180_000).catch((err) => {
        if (!/ended CANCELLED/.test(err.message)) throw err;
      });
    };
    const pinned = {
      aws: ['--infra', 'aws', '--gpus', 'T4:1', '--use-spot', '--image-id', AMI],
      gcp: ['--infra', 'gcp', '--gpus', 'T4:1', '--use-spot'],
    };

    /** One timed launch to RUNNING; returns its figures (ms from the command's start) and the job's view. */
    async function launchToRunning(cloud) {
      const wall0 = Date.now();
      const t0 = performance.now();
      const r = await p.ok(['jobs', 'launch', '-d', '-y', ...pinned[cloud], 'sleep 600']);
      const cliMs = performance.now() - t0;
      const id = Number(r.stdout.trim());
      if (!Number.isInteger(id)) throw new Error(`jobs launch printed ${r.stdout}`);
      const { v, now } = await watch(id, running, 'RUNNING');
      const a = v.attempts.at(-1);
      return {
        id,
        v,
        cliMs,
        startedMs: Date.parse(a.startedAt) - wall0,
        runningAtMs: Date.parse(a.runningAt) - wall0,
        seenMs: now - t0,
        where: `${a.cloud}/${a.region}/${a.zone ?? '-'} ${a.instanceType ?? ''}${a.useSpot ? ' spot' : ''}`,
        attempts: v.attempts.length,
      };
    }

    if (parts.has('1')) {
      for (const cloud of ['aws', 'gcp']) {
        say('');
        say(`machine: ${machine()}`);
        say(`== 1. provision -> RUNNING, petrel jobs launch -d -y ${pinned[cloud].join(' ')} 'sleep 600' (${runs} runs after a warm-up) ==`);
        const warm = await launchToRunning(cloud);
        say(`warm-up (not counted; the region's first launch): RUNNING seen at ${s(warm.seenMs)} on ${warm.where}, runningAt ${s(warm.runningAtMs)}`);
        await cancel(warm.id);
        const rs = [];
        for (let i = 0; i < runs; i++) {
          const r = await launchToRunning(cloud);
          rs.push(r);
          note(`${cloud} run ${i + 1}: job ${r.id} on ${r.where} (${r.attempts} attempt(s)): runningAt ${s(r.runningAtMs)}, seen ${s(r.seenMs)}`);
          await cancel(r.id); // not timed
        }
        const col = (k) => rs.map((r) => r[k]).filter(Number.isFinite);
        say(`placed on: ${[...new Set(rs.map((r) => r.where))].join('; ')}; attempts per job: ${[...new Set(rs.map((r) => r.attempts))].join(', ')}`);
        say(`  submit command returned (job id printed)       ${stats(col('cliMs'))}`);
        say(`  attempt startedAt (workflow's clock)           ${stats(col('startedMs'))}`);
        say(`  run started: attempt runningAt (workflow)      ${stats(col('runningAtMs'))}`);
        say(`  RUNNING with runningAt seen by a 50 ms query   ${stats(col('seenMs'))}`);
        sum(`1. provision->RUNNING ${cloud} (spot T4:1, pinned): runningAt ${stats(col('runningAtMs'))}; seen by a 50 ms query ${s(median(col('seenMs')))} median; the submit command itself ${s(median(col('cliMs')))} median`);
      }
    }

    if (parts.has('2')) {
      say('');
      say(`machine: ${machine()}`);
      say(`== 2. interruption notice -> RUNNING elsewhere: aws spot job, moto interrupt (notice now, terminated after ${NOTICE_DELAY_S} s), ${interruptRuns} runs ==`);
      const rs = [];
      for (let i = 0; i < interruptRuns; i++) {
        const first = await launchToRunning('aws');
        const a1 = first.v.attempts.at(-1);
        const instanceId = a1.handle.nodes[0].data.instance_id;
        const wall0 = Date.now();
        const t0 = performance.now();
        await moto.interrupt(instanceId, a1.region, NOTICE_DELAY_S);
        let preemptedSeen;
        let attempt2Seen;
        const { v, now } = await watch(
          first.id,
          (x) => x.attempts.length >= 2 && running(x),
          'attempt 2 RUNNING',
          180_000,
          (x, at) => {
            if (preemptedSeen === undefined && x.attempts[0]?.outcome === 'preempted') preemptedSeen = at - t0;
            if (attempt2Seen === undefined && x.attempts.length >= 2) attempt2Seen = at - t0;
          },
        );
        const old = v.attempts[0];
        const a2 = v.attempts.at(-1);
        const r = {
          preemptedSeenMs: preemptedSeen ?? NaN,
          endedMs: old.endedAt ? Date.parse(old.endedAt) - wall0 : NaN,
          attempt2StartedMs: Date.parse(a2.startedAt) - wall0,
          runningAtMs: Date.parse(a2.runningAt) - wall0,
          seenMs: now - t0,
          from: `${old.region}/${old.zone}`,
          to: `${a2.cloud}/${a2.region}/${a2.zone}`,
          reason: old.reason ?? '',
          outcome: old.outcome,
        };
        rs.push(r);
        note(`interrupt run ${i + 1}: job ${first.id} ${r.from} -> ${r.to} (attempt 1 ${r.outcome}: ${r.reason.slice(0, 80)}); attempt 2 runningAt ${s(r.runningAtMs)}`);
        await cancel(first.id);
      }
      const col = (k) => rs.map((r) => r[k]).filter(Number.isFinite);
      say(`moves: ${[...new Set(rs.map((r) => `${r.from} -> ${r.to}`))].join('; ')}; attempt 1 outcomes: ${[...new Set(rs.map((r) => r.outcome))].join(', ')}; reason e.g. "${rs[0]?.reason}"`);
      say(`  attempt 1 counted preempted (seen, 50 ms polls)  ${stats(col('preemptedSeenMs'))}`);
      say(`  attempt 1 endedAt (workflow)                     ${stats(col('endedMs'))}`);
      say(`  attempt 2 startedAt (workflow)                   ${stats(col('attempt2StartedMs'))}`);
      say(`  attempt 2 runningAt (workflow): notice->RUNNING  ${stats(col('runningAtMs'))}`);
      say(`  attempt 2 RUNNING seen by a 50 ms query          ${stats(col('seenMs'))}`);
      say(`  (detection waits on two polls: the instance's watcher asks the metadata service every 2 s, providers/vm/interruption.ts; the job watcher's batched status runs every ${WATCH_POLL_MS / 1000} s)`);
      sum(`2. interruption notice->RUNNING elsewhere (aws spot, instance terminated ${NOTICE_DELAY_S} s after the notice): attempt 2 runningAt ${stats(col('runningAtMs'))}; attempt 1 counted preempted at ${s(median(col('preemptedSeenMs')))} median`);
    }

    await temporal.connection.close();
    temporal = undefined;
    note('stopping the Petrel server, worker and sshd');
    await p.destroy();
    p = undefined;
    await sshd.stop();
    sshd = undefined;
  }

  if (parts.has('3')) {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-bench-clouds-home-'));
    ownDirs.push(home);
    // 'false' quoted: bare, YAML reads it as a boolean.
    const proxy = SSH_MODE === 'false' ? ["  ssh_proxy_command: 'false'"] : [];
    fs.writeFileSync(path.join(home, 'config.yaml'), ['aws:', ...proxy, 'gcp:', `  project_id: ${PROJECT}`, `  api_endpoint: ${gce.endpoint}`, ...proxy, ''].join('\n'));
    const key = await ensureCloudKey(home);
    const access = { sshUser: 'ubuntu', identityFile: key.privateKeyFile, useInternalIps: false, ...(SSH_MODE === 'false' ? { proxyCommand: 'false' } : {}) };
    // 'refused': every node's SSH address is a loopback port nobody listens on (never the
    // doubles' made-up addresses), so its exec fails at once without a process per instance.
    const closedPort = await new Promise((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const port = srv.address().port;
        srv.close(() => resolve(port));
      });
    });
    const sshVia = (node) => {
      if (SSH_MODE === 'refused') Object.assign(node.data, { host: '127.0.0.1', port: String(closedPort) });
      return node;
    };
    const sshNote =
      SSH_MODE === 'false'
        ? 'ssh_proxy_command is `false`: each running instance costs one short-lived `/bin/sh -c false` per round'
        : `each node's SSH address is 127.0.0.1:${closedPort} where nothing listens: each running instance costs two refused connects per round (QUICK: 2 attempts, 250 ms apart), no process`;
    say('');
    say(`part 3's SSH half fails fast and is excluded from the counts: ${sshNote}. In the real system it is ONE exec over a pooled connection per running instance per round, by design.`);
    const RUN_KEY = '1-run';

    /**
     * The watcher's loop for `seconds`: `callers` run concurrently, each polling its own jobs
     * with its own provider; returns round times and the node/job states reported.
     */
    async function watchWindow(callers, seconds) {
      const rounds = [];
      const tally = {};
      const w0 = performance.now();
      await Promise.all(
        callers.map(async ({ provider, watched, name }) => {
          while (performance.now() - w0 < seconds * 1000) {
            const r0 = performance.now();
            let reports;
            try {
              reports = await provider.batchStatus(watched);
            } catch (err) {
              note(`${name}: batchStatus failed: ${err.message}`);
              reports = [];
            }
            const r1 = performance.now();
            for (const rep of reports) {
              const k = `${rep.nodes[0].state}${rep.nodes[0].reason ? `(${rep.nodes[0].reason})` : ''}/${rep.jobs[0].state}`;
              tally[k] = (tally[k] ?? 0) + 1;
            }
            rounds.push({ caller: name, start: r0 - w0, ms: r1 - r0, jobs: watched.length });
            await sleep(Math.max(MIN_PAUSE_MS, WATCH_POLL_MS - (performance.now() - r0)));
          }
        }),
      );
      return { rounds, tally, ms: performance.now() - w0 };
    }
    const roundStats = (rs) => `median ${s(median(rs.map((r) => r.ms)))}, max ${s(Math.max(...rs.map((r) => r.ms)))}, ${rs.length} rounds`;
    const perMin = (n, ms) => (n / (ms / 60_000)).toFixed(1);
    const tallyText = (t) => Object.entries(t).map(([k, v]) => `${k} ${v}`).join(', ');

    /** The windows every cloud gets: quiet, 4 per-region watchers, one caller with all, 4 x 10 jobs. */
    async function scaleWindows(cloud, count, handlesByRegion, newProvider, explain) {
      const all = [...handlesByRegion.values()].flat().map((h) => ({ handle: h, key: RUN_KEY, ranks: [0] }));
      const quiet0 = await count();
      const quietS = 15;
      await sleep(quietS * 1000);
      const quiet = await count(quiet0);
      say(`quiet baseline, ${quietS} s with nothing watching: ${quiet.total} calls (${perMin(quiet.total, quietS * 1000)}/min) ${explain(quiet)}`);
      const results = [];
      const windows = [
        { name: `4 watchers (one per region, own provider objects) x ${Math.round(all.length / 4)} jobs`, seconds: watchSeconds, callers: [...handlesByRegion].map(([region, hs]) => ({ name: region, provider: newProvider(), watched: hs.map((h) => ({ handle: h, key: RUN_KEY, ranks: [0] })) })) },
        { name: `1 caller x all ${all.length} jobs`, seconds: Math.max(20, watchSeconds / 2), callers: [{ name: 'all', provider: newProvider(), watched: all }] },
        {
          name: '4 watchers x 10 jobs (flatness check)',
          seconds: Math.max(20, watchSeconds / 2),
          callers: [...handlesByRegion].map(([region, hs]) => ({ name: region, provider: newProvider(), watched: hs.slice(0, 10).map((h) => ({ handle: h, key: RUN_KEY, ranks: [0] })) })),
        },
      ];
      for (const w of windows) {
        const c0 = await count();
        const e0 = proxyStreamErrors;
        const r = await watchWindow(w.callers, w.seconds);
        const c = await count(c0);
        const uncaught = proxyStreamErrors - e0;
        say(`${w.name}, every ${WATCH_POLL_MS / 1000} s for ${s(r.ms)}: ${c.total} calls = ${perMin(c.total, r.ms)}/min ${explain(c, r.ms)}`);
        say(`    batchStatus round time: ${roundStats(r.rounds)}; first round of each caller: ${w.callers.map((x) => s(r.rounds.find((y) => y.caller === x.name)?.ms ?? NaN)).join(', ')}`);
        say(`    states reported (node/job, summed over rounds): ${tallyText(r.tally)}`);
        if (uncaught) say(`    !! ${uncaught} uncaught EPROXYCOMMAND stream errors (a ProxyCommand's banner timeout fired before its exit was seen; see the note above)`);
        results.push({ ...w, perMin: Number(perMin(c.total, r.ms)), round: median(r.rounds.map((x) => x.ms)) });
      }
      sum(
        `3. ${cloud} API calls/min with ${all.length} running jobs: ${results.map((x) => `${x.name}: ${x.perMin}/min (round ${s(x.round)} median)`).join('; ')}; quiet baseline ${perMin(quiet.total, quietS * 1000)}/min`,
      );
    }

    // ---- AWS ----------------------------------------------------------------------------------
    {
      say('');
      say(`machine: ${machine()}`);
      const regions = catalogRegions('aws');
      say(`== 3a. AWS: batchStatus of ${scaleInstances} running spot jobs (moto), ${regions.length} regions: ${regions.join(', ')} ==`);
      const clients = new Map(regions.map((r) => [r, new EC2Client({ region: r })]));
      const specs = Array.from({ length: scaleInstances }, (_, i) => {
        const region = regions[i % regions.length];
        const zones = catalogZones('aws', region);
        return { i, region, zone: zones[Math.floor(i / regions.length) % zones.length] };
      });
      const c0 = (await moto.calls()).length;
      const t0 = performance.now();
      const created = await pool(specs, CREATE_CONCURRENCY, async ({ i, region, zone }) => {
        // The provider's own RunInstances input (tags, ClientToken, spot options); no key pair or
        // security group (nothing here logs in: these instances are only watched).
        const input = runInstancesInput({ cluster: `bench-${i}`, rank: 0, idempotencyKey: `bench-${i}-1`, user: 'bench', labels: {}, instanceType: 'g4dn.xlarge', imageId: AMI, diskEncrypted: false, zone, securityGroupId: 'sg-none', keyName: 'none', spot: true, noPublicIp: false });
        delete input.KeyName;
        delete input.SecurityGroupIds;
        const r = await clients.get(region).send(new RunInstancesCommand(input));
        return { i, region, zone, inst: r.Instances[0] };
      });
      const createMs = performance.now() - t0;
      say(`created ${created.length} instances with RunInstances (${CREATE_CONCURRENCY} at a time) in ${s(createMs)}`);
      // Their state as EC2 reports it now (moto starts them pending).
      // (and how long the double takes for the call the batched status makes: its whole answer)
      const states = {};
      const describeMs = [];
      for (const r of regions) {
        const d0 = performance.now();
        const d = await clients.get(r).send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag-key', Values: ['petrel-cluster'] }], MaxResults: 1000 }));
        describeMs.push(performance.now() - d0);
        for (const res of d.Reservations ?? []) for (const i of res.Instances ?? []) states[i.State?.Name] = (states[i.State?.Name] ?? 0) + 1;
      }
      say(`EC2 says: ${tallyText(states)}; moto answers one region's DescribeInstances (tag-key petrel-cluster, ~${Math.round(scaleInstances / regions.length)} instances) in ${describeMs.map((x) => s(x)).join(', ')} (one at a time: moto serves every call under one lock)`);
      const handlesByRegion = new Map(regions.map((r) => [r, []]));
      for (const { i, region, zone, inst } of created) {
        const node = sshVia(vmNodeHandle(`bench-${i}`, { rank: 0, instanceId: inst.InstanceId, ...(inst.PrivateIpAddress ? { privateIp: inst.PrivateIpAddress } : {}), ...(inst.PublicIpAddress ? { publicIp: inst.PublicIpAddress } : {}) }, access));
        Object.assign(node.data, { region, zone, instance_type: 'g4dn.xlarge', spot: 'true' });
        handlesByRegion.get(region).push({ provider: 'aws', clusterName: `bench-${i}`, region, zone, label: 'g4dn.xlarge spot', nodes: [node] });
      }
      for (const c of clients.values()) c.destroy();
      say(`(${(await moto.calls()).length - c0} EC2 calls for the creation, not counted below)`);

      const count = async (from) => {
        const calls = await moto.calls();
        if (from === undefined) return calls.length;
        const window = calls.slice(from);
        const by = {};
        for (const c of window) by[`${c.action} ${c.region}`] = (by[`${c.action} ${c.region}`] ?? 0) + 1;
        return { total: window.length, by };
      };
      const explain = (c, ms) => (c.total ? `(${Object.entries(c.by).sort().map(([k, v]) => `${k} ${v}${ms ? ` = ${perMin(v, ms)}/min` : ''}`).join(', ')})` : '');
      say(`by design: one DescribeInstances per region, its answer reused for ${MAX_AGE_MS / 1000} s by every caller of the process: at most ${(60_000 / MAX_AGE_MS).toFixed(0)}/min per region, ${((60_000 / MAX_AGE_MS) * regions.length).toFixed(0)}/min for ${regions.length} regions, whatever the number of jobs`);
      await scaleWindows('aws', count, handlesByRegion, () => new AwsProvider({ home }), explain);
      closeAwsClients();
    }

    // ---- GCP ----------------------------------------------------------------------------------
    {
      say('');
      say(`machine: ${machine()}`);
      const regions = catalogRegions('gcp');
      const zonesOf = new Map(regions.map((r) => [r, catalogZones('gcp', r)]));
      const zoneCount = [...zonesOf.values()].reduce((a, z) => a + z.length, 0);
      say(`== 3b. GCP: batchStatus of ${scaleInstances} running spot jobs (the stand-in, in this process), ${regions.length} regions, ${zoneCount} zones ==`);
      const specs = Array.from({ length: scaleInstances }, (_, i) => {
        const region = regions[i % regions.length];
        const zones = zonesOf.get(region);
        return { i, region, zone: zones[Math.floor(i / regions.length) % zones.length] };
      });
      const log0 = gce.log.length;
      const t0 = performance.now();
      await pool(specs, CREATE_CONCURRENCY, async ({ i, zone }) => {
        const cluster = `bench-${i}`;
        const name = instanceName(cluster, 0);
        // What the provider's insert sends (providers/gcp/index.ts instanceBody), with its labels.
        const body = {
          name,
          machineType: `zones/${zone}/machineTypes/n1-standard-4`,
          labels: instanceLabels({ cluster, rank: 0, requestKey: `bench-${i}-1`, user: 'bench', configLabels: {} }),
          scheduling: { provisioningModel: 'SPOT', instanceTerminationAction: 'DELETE', automaticRestart: false, onHostMaintenance: 'TERMINATE' },
          guestAccelerators: [{ acceleratorType: `zones/${zone}/acceleratorTypes/nvidia-tesla-t4`, acceleratorCount: 1 }],
          disks: [{ boot: true, autoDelete: true, type: 'PERSISTENT', initializeParams: { sourceImage: 'projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts', diskSizeGb: '256' } }],
          networkInterfaces: [{ network: 'global/networks/default', accessConfigs: [{ name: 'External NAT', type: 'ONE_TO_ONE_NAT' }] }],
          metadata: { items: [{ key: 'ssh-keys', value: `ubuntu:${key.publicKey}` }] },
        };
        const url = `${gce.endpoint}/compute/v1/projects/${PROJECT}/zones/${zone}/instances?requestId=${requestIdOf(`bench-${i}-1`, cluster, 0)}`;
        const r = await fetch(url, { method: 'POST', body: JSON.stringify(body), headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } });
        if (!r.ok) throw new Error(`insert ${name}: HTTP ${r.status} ${await r.text()}`);
      });
      const createMs = performance.now() - t0;
      await sleep(300); // the inserts' operations run 120 ms
      const inv = new Map(gce.inventory().map((x) => [`${x.zone}/${x.name}`, x]));
      const st = {};
      for (const x of inv.values()) st[x.status] = (st[x.status] ?? 0) + 1;
      say(`created ${inv.size} instances with instances.insert (${CREATE_CONCURRENCY} at a time) in ${s(createMs)} (${gce.log.length - log0} API requests, not counted below); the stand-in says: ${tallyText(st)}`);
      const handlesByRegion = new Map(regions.map((r) => [r, []]));
      for (const { i, region, zone } of specs) {
        const cluster = `bench-${i}`;
        const x = inv.get(`${zone}/${instanceName(cluster, 0)}`);
        const node = sshVia(vmNodeHandle(cluster, { rank: 0, instanceId: x.name, privateIp: x.networkIP, publicIp: x.natIP }, access));
        Object.assign(node.data, { zone, project: PROJECT, gce_id: String(x.id), spot: 'true' });
        handlesByRegion.get(region).push({ provider: 'gcp', clusterName: cluster, region, zone, label: `${zone} n1-standard-4 spot`, nodes: [node] });
      }
      {
        const l0 = performance.now();
        const z = specs[0].zone;
        const r = await fetch(`${gce.endpoint}/compute/v1/projects/${PROJECT}/zones/${z}/instances?filter=${encodeURIComponent('labels.petrel-cluster:*')}&maxResults=500`, { headers: { authorization: `Bearer ${TOKEN}` } });
        const n = (await r.json()).items?.length ?? 0;
        say(`the stand-in answers one zone's list (labels.petrel-cluster:*, ${n} instances) in ${s(performance.now() - l0)} (not counted below)`);
      }
      const kindOf = (r) => {
        const m = /\/zones\/[^/]+\/(instances|operations)(\/[^/]+)?(\/\w+)?$/.exec(r.path);
        return `${r.method} ${m ? `${m[1]}${m[2] ? '/NAME' : ''}${m[3] ?? ''}` : r.path}`;
      };
      const count = async (from) => {
        if (from === undefined) return gce.log.length;
        const window = gce.log.slice(from);
        const by = {};
        for (const r of window) by[kindOf(r)] = (by[kindOf(r)] ?? 0) + 1;
        const zones = new Set(window.map((r) => /\/zones\/([^/]+)\//.exec(r.path)?.[1]).filter(Boolean));
        return { total: window.length, by, zones: zones.size };
      };
      const explain = (c, ms) => (c.total ? `(${Object.entries(c.by).sort().map(([k, v]) => `${k} ${v}${ms ? ` = ${perMin(v, ms)}/min` : ''}`).join(', ')}; over ${c.zones} zones)` : '');
      say(`by design: one instances.list per zone with watched instances, its answer reused for ${REUSE_MS / 1000} s after it came (per provider object; the worker makes one per region's watcher): with 1 s rounds one per zone every ~3 s, ~${Math.round(zoneCount * 20)}/min for ${zoneCount} zones, whatever the number of jobs`);
      await scaleWindows('gcp', count, handlesByRegion, () => new GcpProvider({ home, env: process.env }), explain);
    }
  }
} finally {
  const total = performance.now() - t0Bench;
  await cleanup();
  say('');
  say('================ summary ================');
  say(`machine: ${machine()}; commit ${commit()}`);
  for (const line of summary) say(line);
  if (proxyStreamErrors) say(`!! ${proxyStreamErrors} uncaught EPROXYCOMMAND errors from providers/ssh/proxy-command.ts (would have ended a worker)`);
  say(`whole bench: ${s(total)}`);
}
