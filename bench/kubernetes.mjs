#!/usr/bin/env node
// Kubernetes figures against real API servers (test/support/k8s.ts: etcd, kube-apiserver,
// kube-scheduler, kwok as the kubelet; binaries from test/support/k8s/build.sh, cached), all
// measured in one run:
//  1. `petrel launch --infra k8s/bench -c <name> -y 'echo hi'` against a warm embedded server
//     (`petrel server start` first, one untimed warm-up launch), wall time of the CLI until "hi"
//     is printed and until it exits, median of N runs; next to a bare @kubernetes/client-node
//     sequence against the same API server, in the same process as this script: create pod ->
//     watch until Running -> exec `echo hi` -> delete.
//  2. A sweep: `petrel jobs launch -d --count 50 --infra k8s/bench 'sleep 5'`, from submit until
//     every job has been RUNNING (its pod provisioned; `petrel jobs queue --json` polled) and
//     until every job SUCCEEDED: pods per minute.
//  3. The watcher's batched status at scale, at the provider level (no Temporal): 500 one-node
//     clusters provisioned through KubernetesProvider.provision (20 at a time) on a second API
//     server with 5 nodes, a detached `sleep 600` started in each, then provider.batchStatus of
//     all 500 every WATCH_POLL_MS (as the watcher: the next round 1 s after the last one began,
//     at least 200 ms after it ended) for ~90 s. The API server's requests are counted from its
//     own /metrics (apiserver_request_total by verb/resource/subresource; a watch or exec counts
//     when it ends, so open watches are read from apiserver_longrunning_requests), after a quiet
//     baseline of the same cluster. Then every cluster is torn down (provider.terminate, all in
//     parallel) and timed.
// The machine's load and the commit measured are printed with the figures: another session's
// testbeds on the same two cores change them a lot.
// Everything is stopped at the end (or on failure / Ctrl-C): the Petrel server and worker, both
// testbeds; then no kwok/kube-*/etcd/`sleep 600` process may be left.
//   npm run build && node bench/kubernetes.mjs [launch runs=3] [sweep jobs=50] [pods=500] [watch seconds=90]
//   (BENCH_K8S_PARTS=1,2 or =3 runs only those parts)
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { benchClient, median, repo, sleep } from './support.mjs';

const launchRuns = Number(process.argv[2] ?? 3);
const sweepJobs = Number(process.argv[3] ?? 50);
const scalePods = Number(process.argv[4] ?? 500);
const watchSeconds = Number(process.argv[5] ?? 90);
/** which of the three parts to run (BENCH_K8S_PARTS=3: only the batched status) */
const parts = new Set((process.env.BENCH_K8S_PARTS ?? '1,2,3').split(',').map((x) => x.trim()));
const PROVISION_CONCURRENCY = 20;
const PODS_PER_NODE = 110;

// ---------------------------------------------------------------------------------------------
// The test support and the provider are TypeScript: bundle them for this plain-Node script. The
// bundles import their packages (ssh2's native addon cannot be bundled) from the repo's
// node_modules, so they are written below it.
fs.mkdirSync(path.join(repo, 'node_modules', '.cache'), { recursive: true });
const scratch = fs.mkdtempSync(path.join(repo, 'node_modules', '.cache', 'petrel-bench-k8s-'));
process.once('exit', () => fs.rmSync(scratch, { recursive: true, force: true }));
const { build } = await import('esbuild');
const supportDir = path.join(repo, 'test/support');
// petrel.ts asks vitest for the Temporal binary the global setup found: here it is in the env.
const vitestShim = {
  name: 'vitest-shim',
  setup(b) {
    b.onResolve({ filter: /^vitest$/ }, () => ({ path: 'vitest', namespace: 'shim' }));
    b.onLoad({ filter: /.*/, namespace: 'shim' }, () => ({
      contents: 'export const inject = (key) => ({ temporalBin: process.env.PETREL_TEMPORAL_BIN, k8sBin: process.env.PETREL_K8S_BIN })[key];',
      loader: 'js',
    }));
  },
};
for (const [entry, out] of [
  ['test/support/k8s.ts', 'k8s.mjs'],
  ['test/support/petrel.ts', 'petrel.mjs'],
  // the provider, and the switch of its worker-wide watches (they outlive a batchStatus call)
  [{ contents: "export { KubernetesProvider } from './index.ts'; export { stopAllWatches } from './watch-cache.ts';", resolveDir: path.join(repo, 'providers/kubernetes'), loader: 'ts' }, 'provider.mjs'],
]) {
  await build({
    ...(typeof entry === 'string' ? { entryPoints: [path.join(repo, entry)] } : { stdin: entry }),
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    outfile: path.join(scratch, out),
    logLevel: 'error',
    // The test support finds the repo (and build.sh) from its own directory.
    define: { 'import.meta.dirname': JSON.stringify(supportDir) },
    plugins: [vitestShim],
  });
}
const { startKubeTestbed } = await import(path.join(scratch, 'k8s.mjs'));
const { PetrelEnv } = await import(path.join(scratch, 'petrel.mjs'));
const { KubernetesProvider, stopAllWatches } = await import(path.join(scratch, 'provider.mjs'));
const k8s = await import('@kubernetes/client-node');
const clientVersion = JSON.parse(fs.readFileSync(path.join(repo, 'node_modules/@kubernetes/client-node/package.json'), 'utf8')).version;
const { managedJobStatusQuery } = await import('../dist/workflows/managed-job-messages.js');
const { ensureTemporalBinary } = await import('../dist/cli/embedded/temporal-binary.js');

// The binaries: the Kubernetes ones from build.sh (cached), the Temporal CLI as the tests find it.
if (!process.env.PETREL_K8S_BIN) {
  const out = execFileSync('bash', [path.join(supportDir, 'k8s/build.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  process.env.PETREL_K8S_BIN = out.trim().split('\n').pop();
}
process.env.PETREL_TEMPORAL_BIN ??= ensureTemporalBinary(path.join(repo, '.petrel-test', 'shared'), (l) => console.error(l));

// ---------------------------------------------------------------------------------------------
const s = (ms) => `${(ms / 1000).toFixed(3)} s`;
const stats = (xs) => `median ${s(median(xs))} (min ${s(Math.min(...xs))}, max ${s(Math.max(...xs))}; ${xs.map((x) => (x / 1000).toFixed(3)).join(', ')})`;
const mean = (xs) => (xs.length ? xs.reduce((a, x) => a + x, 0) / xs.length : NaN);
const timed = async (fn) => {
  const t0 = performance.now();
  const v = await fn();
  return { ms: performance.now() - t0, v };
};
const say = (line) => console.log(line);
const note = (line) => console.error(`[bench] ${line}`);

/** Runs `items` through `fn`, `limit` at a time; the results in order; the first error rejects once all settled. */
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

/** GET /metrics of a testbed cluster (admin token): apiserver_request_total summed by verb, resource and subresource. */
function requestCounts(cluster) {
  const ca = fs.readFileSync(cluster.caFile);
  return new Promise((resolve, reject) => {
    const req = https.get(`${cluster.server}/metrics`, { headers: { Authorization: `Bearer ${cluster.token}` }, ca, agent: false, timeout: 30_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`GET /metrics: HTTP ${res.statusCode}`));
        const counts = new Map();
        const open = new Map();
        for (const line of body.split('\n')) {
          // Requests still open (watches, exec streams) are counted in apiserver_request_total only when they end.
          const lr = /^apiserver_longrunning_requests\{(.*)\} (\S+)$/.exec(line);
          if (lr && Number(lr[2]) > 0) {
            const l = Object.fromEntries([...lr[1].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
            const what = `${l.verb} ${l.resource}${l.subresource ? `/${l.subresource}` : ''}`;
            open.set(what, (open.get(what) ?? 0) + Number(lr[2]));
          }
          if (!line.startsWith('apiserver_request_total{')) continue;
          const m = /^apiserver_request_total\{(.*)\} (\S+)$/.exec(line);
          if (!m) continue;
          const labels = Object.fromEntries([...m[1].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
          const what = labels.resource
            ? `${labels.verb} ${labels.group ? `${labels.group}/` : ''}${labels.resource}${labels.subresource ? `/${labels.subresource}` : ''}`
            : `${labels.verb} ${labels.subresource || '(non-resource)'}`;
          counts.set(what, (counts.get(what) ?? 0) + Number(m[2]));
        }
        resolve({ at: performance.now(), counts, open });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('GET /metrics timed out')));
    req.on('error', reject);
  });
}

/** What happened between two snapshots: requests by kind (per minute), the total per minute. */
function delta(a, b) {
  const minutes = (b.at - a.at) / 60_000;
  const by = new Map();
  for (const [k, v] of b.counts) {
    const d = v - (a.counts.get(k) ?? 0);
    if (d > 0) by.set(k, d);
  }
  const total = [...by.values()].reduce((x, y) => x + y, 0);
  return { seconds: (b.at - a.at) / 1000, minutes, by, total, perMin: total / minutes };
}

const KINDS = ['LIST pods', 'LIST nodes', 'CONNECT pods/exec', 'CREATE pods/exec', 'GET pods/exec', 'POST pods/exec'];
function printWindow(title, d, background) {
  say(`  ${title} (${d.seconds.toFixed(1)} s): ${d.total} requests = ${d.perMin.toFixed(0)}/min` + (background ? `; minus the quiet baseline (${background.perMin.toFixed(0)}/min): ${(d.perMin - background.perMin).toFixed(0)}/min` : ''));
  const rows = [...d.by.entries()].sort((x, y) => y[1] - x[1]);
  for (const [k, v] of rows) say(`      ${k.padEnd(44)} ${String(v).padStart(7)}  ${(v / d.minutes).toFixed(1).padStart(8)}/min`);
}

/** The CLI, timed from spawn: when `marker` first appears on stdout, and when it exits. */
function timedCli(p, args, marker) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [path.join(repo, 'bin', 'petrel.js'), ...args], { cwd: repo, env: p.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let markedAt;
    child.stdout.on('data', (d) => {
      stdout += d;
      if (markedAt === undefined && marker && marker.test(stdout)) markedAt = performance.now() - t0;
    });
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const exitMs = performance.now() - t0;
      if (code !== 0) return reject(new Error(`petrel ${args.join(' ')} exited ${code}\nstdout: ${stdout}\nstderr: ${stderr}`));
      if (marker && markedAt === undefined) return reject(new Error(`petrel ${args.join(' ')}: ${marker} never printed\nstdout: ${stdout}\nstderr: ${stderr}`));
      resolve({ markedMs: markedAt, exitMs, stdout, stderr });
    });
  });
}

/** The bare client-node sequence: create pod, watch until Running, exec `echo hi`, delete (until gone). */
async function bareSequence(kc, name) {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const t0 = performance.now();
  const created = await core.createNamespacedPod({
    namespace: 'default',
    body: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, labels: { 'app.kubernetes.io/name': 'bench-bare' } },
      spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox', command: ['sleep', '3600'] }] },
    },
  });
  const createdMs = performance.now() - t0;
  // Watch from the create's resourceVersion: nothing between the create and the watch is missed.
  await new Promise((resolve, reject) => {
    let req;
    let done = false;
    const finish = (err) => {
      if (done) return;
      done = true;
      req?.abort?.();
      err ? reject(err) : resolve();
    };
    new k8s.Watch(kc)
      .watch(
        '/api/v1/namespaces/default/pods',
        { fieldSelector: `metadata.name=${name}`, resourceVersion: created.metadata.resourceVersion },
        (type, pod) => {
          if (pod?.status?.phase === 'Running' && pod.spec?.nodeName) finish();
          else if (type === 'DELETED' || pod?.status?.phase === 'Failed') finish(new Error(`pod ${name}: ${type} ${pod?.status?.phase}`));
        },
        (err) => finish(err ?? new Error(`watch of ${name} ended before Running`)),
      )
      .then((r) => {
        req = r;
        if (done) r.abort();
      }, finish);
  });
  const runningMs = performance.now() - t0;
  let out = '';
  let status;
  const ws = await new k8s.Exec(kc).exec(
    'default',
    name,
    'main',
    ['echo', 'hi'],
    new Writable({ write: (c, _e, cb) => ((out += c), cb()) }),
    new Writable({ write: (_c, _e, cb) => cb() }),
    null,
    false,
    (st) => (status = st),
  );
  await new Promise((resolve) => ws.on('close', resolve));
  if (status?.status !== 'Success' || out !== 'hi\n') throw new Error(`exec in ${name}: ${JSON.stringify(status)} ${JSON.stringify(out)}`);
  const outputMs = performance.now() - t0;
  await core.deleteNamespacedPod({ name, namespace: 'default' });
  const deleteCalledMs = performance.now() - t0;
  for (;;) {
    try {
      await core.readNamespacedPod({ name, namespace: 'default' });
    } catch (err) {
      if (err?.code === 404) break;
      throw err;
    }
    await sleep(10);
  }
  return { createdMs, runningMs, outputMs, deleteCalledMs, goneMs: performance.now() - t0 };
}

/**
 * Processes this run could have left: the components of its testbeds (their directory is in
 * their arguments), whatever their exec'd commands started (PETREL_KWOK_CLUSTER of its testbeds),
 * what its Petrel homes started. Other sessions' testbeds on the machine are not ours.
 */
const ownDirs = [];
function survivors() {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  const mine = [];
  let others = 0;
  for (const line of out.split('\n')) {
    const m = /^\s*(\d+)\s+(.*)$/.exec(line);
    if (!m || Number(m[1]) === process.pid || /ps -eo/.test(m[2])) continue;
    let env = '';
    try {
      env = fs.readFileSync(`/proc/${m[1]}/environ`, 'utf8');
    } catch {
      // gone, or not readable
    }
    const ours = ownDirs.some((d) => m[2].includes(d) || env.includes(`=${path.basename(d)}-`) || env.includes(d));
    if (ours) mine.push(`${m[1]} ${m[2].slice(0, 200)}`);
    else if (/kwok|kube-|etcd|sleep 600/.test(m[2])) others++;
  }
  return { mine, others };
}

/** What was measured: the commit, and how far the working tree is from it. */
function tree() {
  const git = (...args) => execFileSync('git', args, { cwd: repo, encoding: 'utf8' });
  try {
    const dirty = git('status', '--short', '--', 'providers', 'activities', 'workflows', 'core', 'cli', 'workers').split('\n').filter(Boolean);
    return `${git('log', '-1', '--format=%h %s').trim().slice(0, 100)}${dirty.length ? ` + uncommitted changes in ${dirty.map((l) => l.slice(3)).join(', ')}` : ''}`;
  } catch {
    return 'unknown (no git)';
  }
}

/** How busy the machine is (the figures are only as good as this): load and other sessions' API servers. */
function otherApiservers() {
  return execFileSync('ps', ['-eo', 'args='], { encoding: 'utf8' }).split('\n').filter((l) => l.includes('kube-apiserver') && !ownDirs.some((d) => l.includes(d))).length;
}
function machine() {
  const { others } = survivors();
  const apiservers = otherApiservers();
  return `load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} on ${os.cpus().length} cores; other sessions' processes: ${apiservers} kube-apiserver(s), ${others} kwok/kube/etcd/sleep 600 in all`;
}

// ---------------------------------------------------------------------------------------------
// Cleanup, whatever happens.
let bedA;
let bedB;
let p;
let temporal;
let providerHome;
let cleaned;
/** the run got to its end (then nothing may be left for the testbeds' stop to kill) */
let finished = false;
function cleanup() {
  cleaned ??= (async () => {
    stopAllWatches?.();
    await temporal?.connection.close().catch(() => undefined);
    if (p) await p.destroy().catch((err) => note(`petrel env cleanup: ${err.message}`));
    for (const bed of [bedA, bedB]) {
      if (!bed) continue;
      // After a complete run, a job process still running is a finding (teardown should have
      // stopped it); after a failure or Ctrl-C the jobs were never torn down: killed quietly.
      const left = await bed.stop({ allowLeftovers: !finished }).catch((err) => {
        const lines = err.message.split('\n');
        note(`testbed stop: ${lines.slice(0, 6).join('\n')}${lines.length > 6 ? `\n  ... (${lines.length - 6} more lines)` : ''}`);
        process.exitCode = 1;
        return [];
      });
      if (left.length) note(`testbed stop: killed ${left.length} process(es) of jobs the interrupted run had not torn down`);
    }
    // The testbeds' directories (etcd data, logs, PKI) once they are stopped.
    for (const d of ownDirs) if (path.basename(d).startsWith('k8s-')) fs.rmSync(d, { recursive: true, force: true });
    if (providerHome) fs.rmSync(providerHome, { recursive: true, force: true });
    fs.rmSync(scratch, { recursive: true, force: true });
  })();
  return cleaned;
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    note(`${sig}: cleaning up`);
    cleanup().finally(() => process.exit(130));
  });
}

try {
  say(`machine at start: ${machine()}`);
  say(`tree: ${tree()}`);
  // =============================================================================================
  // 1 + 2: the CLI, against one context with room for the sweep.
  if (parts.has('1') || parts.has('2')) {
    note('starting testbed A (context bench, one node) and the Petrel server');
    bedA = await startKubeTestbed([{ context: 'bench', nodes: [{ name: 'bench-0', cpu: '1000', memory: '4Ti' }] }]);
    ownDirs.push(bedA.dir);
    const clusterA = bedA.clusters.get('bench');
    // The worker (started by the CLI) inherits it.
    process.env.KUBECONFIG = bedA.kubeconfig;
    p = await PetrelEnv.create();
    ownDirs.push(p.home);
    fs.writeFileSync(path.join(p.home, 'config.yaml'), 'kubernetes:\n  allowed_contexts: [bench]\n');
    const serverStart = await timed(() => p.ok(['server', 'start']));
    say(`petrel server start: ${s(serverStart.ms)}`);

    const kc = new k8s.KubeConfig();
    kc.loadFromFile(bedA.kubeconfig);
    kc.setCurrentContext('bench');

    if (parts.has('1')) {
      // Warm-ups (not counted): the worker's first launch (module loading, JIT, the provider's
      // first client), the bare client's first TLS connection and exec.
      const warm = await timedCli(p, ['launch', '--infra', 'k8s/bench', '-c', 'warm', '-y', 'echo hi'], /^hi$/m);
      say(`warm-up (not counted): first petrel launch after server start: "hi" at ${s(warm.markedMs)}, exit at ${s(warm.exitMs)}`);
      await p.ok(['down', 'warm', '-y']);
      const bareWarm = await bareSequence(kc, 'bare-warm');
      say(`warm-up (not counted): first bare client-node sequence: output at ${s(bareWarm.outputMs)}, pod gone at ${s(bareWarm.goneMs)}`);

      const petrelOut = [];
      const petrelExit = [];
      const bare = [];
      for (let i = 1; i <= launchRuns; i++) {
        const r = await timedCli(p, ['launch', '--infra', 'k8s/bench', '-c', `hi${i}`, '-y', 'echo hi'], /^hi$/m);
        petrelOut.push(r.markedMs);
        petrelExit.push(r.exitMs);
        await p.ok(['down', `hi${i}`, '-y']); // not timed
        bare.push(await bareSequence(kc, `bare-${i}`));
      }
      // What any CLI command costs before it does anything: Node's start and the CLI's modules.
      const cliStart = [];
      for (let i = 0; i < launchRuns; i++) cliStart.push((await timedCli(p, ['--version'])).exitMs);
      const col = (k) => bare.map((b) => b[k]);
      say('');
      say(`== 1. launch of 'echo hi' on k8s/bench, ${launchRuns} runs (server warm, one warm-up launch before) ==`);
      say(`petrel launch --infra k8s/bench -c hiN -y 'echo hi': "hi" printed ${stats(petrelOut)}`);
      say(`                                                   CLI exited ${stats(petrelExit)}`);
      say(`bare @kubernetes/client-node ${clientVersion} (in-process): create returned ${stats(col('createdMs'))}`);
      say(`                                  watch saw Running ${stats(col('runningMs'))}`);
      say(`                                  exec 'echo hi' done (output) ${stats(col('outputMs'))}`);
      say(`                                  delete returned ${stats(col('deleteCalledMs'))}`);
      say(`                                  pod gone (GET 404) ${stats(col('goneMs'))}`);
      say(`reference: petrel --version (CLI start, nothing else) ${stats(cliStart)}`);
      say(`overhead (medians): petrel "hi" - bare output = ${s(median(petrelOut) - median(col('outputMs')))}; petrel exit - bare pod gone = ${s(median(petrelExit) - median(col('goneMs')))}`);

    }

    if (parts.has('2')) {
      // =============================================================================================
      // 2: a sweep of 50.
      say('');
      say(`machine: ${machine()}`);
      say(`== 2. sweep: petrel jobs launch -d -y --count ${sweepJobs} --infra k8s/bench 'sleep 5' ==`);
      const t0 = performance.now();
      const t0Wall = Date.now();
      const submit = await timedCli(p, ['jobs', 'launch', '-d', '-y', '--count', String(sweepJobs), '--infra', 'k8s/bench', 'sleep 5']);
      const ids = submit.stdout.trim().split('\n').map(Number);
      if (ids.length !== sweepJobs || ids.some((x) => !Number.isInteger(x))) throw new Error(`the sweep printed ${ids.length} ids: ${submit.stdout}`);
      say(`submit command: ${s(submit.exitMs)}`);
      const wanted = new Set(ids);
      const seenRunning = new Map();
      const seenSucceeded = new Map();
      const failed = new Map();
      let polls = 0;
      let maxPodsSeen = 0;
      const pollCosts = [];
      const sweepDeadline = performance.now() + 15 * 60_000;
      while (seenSucceeded.size + failed.size < sweepJobs) {
        if (performance.now() > sweepDeadline) throw new Error(`the sweep did not end in 15 min: ${seenRunning.size} seen running, ${seenSucceeded.size} succeeded`);
        const q = await timed(() => p.ok(['jobs', 'queue', '--json']));
        pollCosts.push(q.ms);
        polls++;
        const now = performance.now() - t0;
        for (const row of JSON.parse(q.v.stdout)) {
          if (!wanted.has(row.id)) continue;
          // A job seen past RUNNING has been RUNNING (it ran between two polls).
          if (['RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLING', 'CANCELLED'].includes(row.status) && !seenRunning.has(row.id)) seenRunning.set(row.id, now);
          if (row.status === 'SUCCEEDED' && !seenSucceeded.has(row.id)) seenSucceeded.set(row.id, now);
          if (/^FAILED|CANCELLED/.test(row.status) && !failed.has(row.id)) failed.set(row.id, row.status);
        }
        // How many pods exist at this moment (a cheap look, for the peak).
        const pods = (await clusterA.api('GET', '/api/v1/namespaces/default/pods?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dpetrel')).items.length;
        maxPodsSeen = Math.max(maxPodsSeen, pods);
      }
      const allRunningMs = Math.max(...seenRunning.values());
      const allDoneMs = Math.max(...seenSucceeded.values());
      if (failed.size) say(`!! ${failed.size} job(s) did not succeed: ${[...failed].map(([id, st]) => `${id} ${st}`).join(', ')}`);
      say(`polled jobs queue --json ${polls} times (each ${s(median(pollCosts))} median): first RUNNING seen at ${s(Math.min(...seenRunning.values()))}, all ${seenRunning.size} seen RUNNING by ${s(allRunningMs)}, all ${seenSucceeded.size} SUCCEEDED by ${s(allDoneMs)}; at most ${maxPodsSeen} Petrel pods at once`);
      say(`pods provisioned per minute (submit -> all ${sweepJobs} RUNNING, as polled): ${((sweepJobs / allRunningMs) * 60_000).toFixed(1)} pods/min; jobs completed per minute (submit -> all SUCCEEDED): ${((sweepJobs / allDoneMs) * 60_000).toFixed(1)}/min`);
      // The workflows' own record of when each run began (no polling granularity).
      try {
        temporal = await benchClient({ address: p.address, home: p.home });
        const views = await pool(ids, 10, (id) => temporal.workflow.getHandle(`job/${id}`).query(managedJobStatusQuery));
        const runningAt = views.map((v) => Date.parse(v.attempts.at(-1)?.runningAt ?? 'x') - t0Wall).filter(Number.isFinite);
        const endedAt = views.map((v) => Date.parse(v.endedAt ?? 'x') - t0Wall).filter(Number.isFinite);
        const attempts = views.reduce((a, v) => a + v.attempts.length, 0);
        runningAt.sort((a, b) => a - b);
        say(
          `per the workflows' own runningAt (${runningAt.length} jobs, ${attempts} attempts): first run began at ${s(runningAt[0])}, median ${s(median(runningAt))}, last ${s(runningAt.at(-1))} ` +
            `=> ${((runningAt.length / runningAt.at(-1)) * 60_000).toFixed(1)} pods/min; last job ended at ${s(Math.max(...endedAt))}`,
        );
      } catch (err) {
        note(`reading the workflows' views: ${err.message}`);
      }
      await temporal?.connection.close().catch(() => undefined);
      temporal = undefined;
      // Every job's pod deleted?
      const leftPods = (await clusterA.api('GET', '/api/v1/namespaces/default/pods')).items.map((x) => x.metadata.name);
      if (leftPods.length) note(`pods left in context bench after the sweep: ${leftPods.join(', ')}`);

    }

    say(`machine: ${machine()}`);
    note('stopping the Petrel server and testbed A');
    await p.destroy();
    p = undefined;
    await bedA.stop();
    bedA = undefined;

  }

  if (parts.has('3')) {
    // =============================================================================================
    // 3: batched status of 500 running jobs, at the provider level.
    say('');
    const nodes = Math.ceil(scalePods / PODS_PER_NODE);
    say(`machine: ${machine()}`);
    say(`== 3. batchStatus of ${scalePods} running jobs (provider level, context scale: ${nodes} nodes x ${PODS_PER_NODE} pods) ==`);
    bedB = await startKubeTestbed([{ context: 'scale', nodes: Array.from({ length: nodes }, (_, i) => ({ name: `scale-${i}`, cpu: '1000', memory: '4Ti' })) }]);
    ownDirs.push(bedB.dir);
    const clusterB = bedB.clusters.get('scale');
    process.env.KUBECONFIG = bedB.kubeconfig;
    providerHome = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-bench-k8s-home-'));
    ownDirs.push(providerHome);
    fs.writeFileSync(path.join(providerHome, 'config.yaml'), 'kubernetes:\n  allowed_contexts: [scale]\n');
    const provider = new KubernetesProvider({ home: providerHome });

    const before = await requestCounts(clusterB);
    const prov = await timed(() =>
      pool(Array.from({ length: scalePods }, (_, i) => i), PROVISION_CONCURRENCY, (i) =>
        provider.provision({ clusterName: `s${i}`, numNodes: 1, region: 'scale', useSpot: false, idempotencyKey: `bench-s${i}`, user: 'bench' }),
      ),
    );
    const handles = prov.v;
    const afterProvision = await requestCounts(clusterB);
    say(`provisioned ${handles.length} pods (${PROVISION_CONCURRENCY} at a time) in ${s(prov.ms)}: ${((handles.length / prov.ms) * 60_000).toFixed(0)} pods/min`);
    printWindow('API requests while provisioning', delta(before, afterProvision));

    const KEY = '1-run';
    const started = await timed(() => pool(handles, PROVISION_CONCURRENCY, (h) => provider.runner(h, h.nodes[0]).startDetached({ key: KEY, script: 'sleep 600', env: {} })));
    say(`started a detached 'sleep 600' in each (${PROVISION_CONCURRENCY} at a time) in ${s(started.ms)}; ${started.v.filter((r) => r.alreadyStarted).length} attached to an earlier start`);

    // The cluster's own traffic with nothing of Petrel's running (kwok heartbeats, scheduler, ...).
    const quietSeconds = 15;
    const quiet0 = await requestCounts(clusterB);
    await sleep(quietSeconds * 1000);
    const quiet1 = await requestCounts(clusterB);
    const background = delta(quiet0, quiet1);
    printWindow(`quiet baseline, no Petrel calls`, background);

    const watched = handles.map((h) => ({ handle: h, key: KEY, ranks: [0] }));
    const snaps = [];
    const W = watchSeconds * 1000;
    const snapAt = [...new Set([0, 10_000, ...Array.from({ length: Math.floor(W / 10_000) }, (_, i) => (i + 1) * 10_000), 60_000, W - 60_000, W].filter((x) => x >= 0 && x <= W))].sort((a, b) => a - b);
    const rounds = [];
    const busy = [];
    // The start of the window is read before the first round: its LISTs count in the first minute.
    snaps.push({ offset: 0, ...(await requestCounts(clusterB)) });
    const w0 = performance.now();
    const snapTasks = snapAt.filter((offset) => offset > 0).map(
      (offset) =>
        new Promise((resolve) => setTimeout(resolve, offset)).then(async () => {
          const snap = await requestCounts(clusterB);
          snaps.push({ offset, ...snap });
          busy.push({ load: os.loadavg()[0], apiservers: otherApiservers() });
        }),
    );
    while (performance.now() - w0 < W) {
      const r0 = performance.now();
      const reports = await provider.batchStatus(watched);
      const r1 = performance.now();
      const tally = {};
      for (const rep of reports) {
        const k = `${rep.nodes[0].state}/${rep.jobs[0].state}`;
        tally[k] = (tally[k] ?? 0) + 1;
      }
      rounds.push({ start: r0 - w0, ms: r1 - r0, tally });
      await sleep(Math.max(200, 1000 - (performance.now() - r0)));
    }
    await Promise.all(snapTasks);
    snaps.sort((a, b) => a.offset - b.offset);
    const snapOf = (offset) => snaps.find((x) => x.offset === offset);
    const first = delta(snapOf(0), snapOf(Math.min(60_000, W)));
    const eager = delta(snapOf(0), snapOf(Math.min(10_000, W)));
    const steady = delta(snapOf(Math.max(0, W - 60_000)), snapOf(W));
    const total = delta(snapOf(0), snapOf(W));
    say(`machine while watching (every 10 s): 1-min load ${Math.min(...busy.map((b) => b.load)).toFixed(2)}..${Math.max(...busy.map((b) => b.load)).toFixed(2)}, other sessions' kube-apiservers up to ${Math.max(...busy.map((b) => b.apiservers))}`);
    say(`${rounds.length} batchStatus rounds of ${scalePods} jobs in ${s(performance.now() - w0)}`);
    const roundStats = (rs) => (rs.length ? `mean ${s(mean(rs.map((r) => r.ms)))} (median ${s(median(rs.map((r) => r.ms)))}, max ${s(Math.max(...rs.map((r) => r.ms)))}, ${rs.length} rounds)` : 'no rounds');
    say(`  round time: all ${roundStats(rounds)}`);
    say(`              first 10 s (every job exec'd each round) ${roundStats(rounds.filter((r) => r.start < 10_000))}`);
    say(`              last 60 s ${roundStats(rounds.filter((r) => r.start >= W - 60_000))}`);
    const tallies = {};
    for (const r of rounds) for (const [k, v] of Object.entries(r.tally)) tallies[k] = (tallies[k] ?? 0) + v;
    say(`  node/job states reported over all rounds: ${Object.entries(tallies).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    say(`API server requests (apiserver_request_total from its /metrics: every client's, kwok's and the scheduler's included):`);
    printWindow('first minute of watching', first, background);
    printWindow('eager window, first 10 s', eager, background);
    printWindow(`steady state, last 60 s (${(W - 60_000) / 1000}-${W / 1000} s)`, steady, background);
    printWindow(`whole ${watchSeconds} s`, total, background);
    const openOf = (snap, k) => snap.open.get(k) ?? 0;
    say(
      `  open watches (counted above only when they end): WATCH pods ${openOf(snapOf(0), 'WATCH pods')} -> ${openOf(snapOf(W), 'WATCH pods')}, WATCH nodes ${openOf(snapOf(0), 'WATCH nodes')} -> ${openOf(snapOf(W), 'WATCH nodes')} ` +
        `(before watching -> at the end; the rest are the scheduler's and kwok's)`,
    );
    say('  per 10 s of watching (per minute): LIST pods / LIST nodes / exec / all');
    const execOf = (d) => [...d.by].filter(([k]) => k.endsWith('pods/exec')).reduce((a, [, v]) => a + v, 0);
    const tenths = snaps.filter((x) => x.offset % 10_000 === 0);
    for (let i = 1; i < tenths.length; i++) {
      const d = delta(tenths[i - 1], tenths[i]);
      const per = (v) => (v / d.minutes).toFixed(0).padStart(6);
      say(`      ${String(tenths[i - 1].offset / 1000).padStart(3)}-${String(tenths[i].offset / 1000).padStart(3)} s: ${per(d.by.get('LIST pods') ?? 0)} / ${per(d.by.get('LIST nodes') ?? 0)} / ${per(execOf(d))} / ${per(d.total)}`);
    }

    // Teardown of all of them at once.
    const t0Down = await requestCounts(clusterB);
    const down = await timed(() => Promise.allSettled(handles.map((h) => provider.terminate(h))));
    const t1Down = await requestCounts(clusterB);
    const downFailed = down.v.filter((r) => r.status === 'rejected');
    say(`teardown: provider.terminate of ${handles.length} clusters, all in parallel: ${s(down.ms)}${downFailed.length ? `; ${downFailed.length} FAILED, first: ${downFailed[0].reason?.message}` : ''}`);
    printWindow('API requests during teardown', delta(t0Down, t1Down));
    stopAllWatches();
    const podsLeft = (await clusterB.api('GET', '/api/v1/namespaces/default/pods')).items.length;
    const jobsLeft = clusterB.markedProcesses ? clusterB.markedProcesses().length : 'n/a';
    say(`after teardown: ${podsLeft} pods in the namespace, ${jobsLeft} processes of exec'd commands still running`);
  }
  finished = true;
} finally {
  await cleanup();
  // Nothing may be left running.
  await sleep(500);
  const { mine, others } = survivors();
  if (mine.length) {
    say(`!! processes of this run left: \n${mine.join('\n')}`);
    process.exitCode = 1;
  } else say(`cleanup: no process of this run left (no kwok / kube-* / etcd / job of its testbeds or homes)${others ? `; ${others} kwok/kube/etcd/sleep 600 processes of other sessions are running` : ''}`);
}
