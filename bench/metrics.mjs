#!/usr/bin/env node
// What metrics and tracing cost a worker: N running managed jobs (`sleep 3600`, default 1,000,
// local provider, four regions) on the embedded server, and the same jobs watched by a worker
// restarted in each of these set-ups in turn, one run:
//   off              no metrics endpoint, no tracing
//   metrics          /metrics served and scraped every 5 s (the census lists the jobs every 15 s)
//   metrics+tracing  the above, and OpenTelemetry spans exported over OTLP/HTTP to a receiver here
//   off (again)      to tell the set-up's cost from the worker's drift over time
// For each: the worker's RSS at the end and its CPU over a 60 s window once settled.
//   npm run build && node bench/metrics.mjs [jobs]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { benchClient, benchEnv, procStats, sleep } from './support.mjs';

const total = Number(process.argv[2] ?? 1000);
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 45_000);
const WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 60_000);
const regions = ['region-a', 'region-b', 'region-c', 'region-d'];
const localConfig = `local:\n  regions: [${regions.join(', ')}]\n`;
const b = benchEnv(`${localConfig}metrics:\n  enabled: false\n`);
process.env.PETREL_HOME = b.home;
process.env.PETREL_USER = 'bench';
const { LocalProvider } = await import('../dist/providers/local/index.js');
const { taskFromCommand } = await import('../dist/core/spec/index.js');
const { managedJobInput, submitManagedJobs } = await import('../dist/cli/managed-job-submit.js');

const pidMax = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
const pidsNeeded = total * 3 + 10_000;
if (pidMax < pidsNeeded) fs.writeFileSync('/proc/sys/kernel/pid_max', String(pidsNeeded));

// A trace receiver that counts what it is sent and keeps nothing.
let spansReceived = 0;
const receiver = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    spansReceived += (body.match(/"spanId"/g) ?? []).length;
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});
await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
const otlpEndpoint = `http://127.0.0.1:${receiver.address().port}`;
const metricsPort = b.port + 3000;

let client;
const results = [];
try {
  b.petrel('server', 'start');
  client = await benchClient(b);
  const base = managedJobInput(b.home, taskFromCommand('sleep 3600'), 'bench', {});
  const pinned = regions.map((region) => ({ ...base, candidates: base.candidates.map((c) => ({ ...c, cloud: 'local', region })) }));
  const t0 = performance.now();
  await submitManagedJobs(client, total, (i) => pinned[i % regions.length]);
  for (;;) {
    const { count } = await client.workflow.count(`PetrelKind = 'job' AND PetrelStatus = 'RUNNING'`);
    if (count >= total) break;
    if (performance.now() - t0 > 60 * 60_000) throw new Error(`only ${count} of ${total} running after 60 min`);
    await sleep(2000);
  }
  console.log(`${total} managed jobs running after ${((performance.now() - t0) / 1000).toFixed(0)} s`);

  const setups = [
    { name: 'off', metrics: false, tracing: false },
    { name: 'metrics', metrics: true, tracing: false },
    { name: 'metrics+tracing', metrics: true, tracing: true },
    { name: 'off (again)', metrics: false, tracing: false },
  ];
  for (const setup of setups) {
    const pid = await restartWorker(setup);
    let scrapes = 0;
    let scrapeBytes = 0;
    let scraping = setup.metrics;
    const scraper = (async () => {
      while (scraping) {
        const text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text()).catch(() => '');
        if (text) (scrapes++, (scrapeBytes = text.length));
        await sleep(5000);
      }
    })();
    await sleep(SETTLE_MS);
    const spansBefore = spansReceived;
    const a = procStats(pid);
    const w0 = performance.now();
    await sleep(WINDOW_MS);
    const z = procStats(pid);
    const secs = (performance.now() - w0) / 1000;
    scraping = false;
    await scraper;
    const jobsGauge = setup.metrics ? await readJobsGauge() : undefined;
    results.push({ ...setup, cpu: ((z.cpuSeconds - a.cpuSeconds) / secs) * 100, rss: z.rssMiB, scrapes, scrapeBytes, spans: spansReceived - spansBefore, jobsGauge });
    const r = results.at(-1);
    console.log(
      `${setup.name.padEnd(16)} worker CPU ${r.cpu.toFixed(1)}% of one core, RSS ${r.rss.toFixed(0)} MiB` +
        (setup.metrics ? `; ${scrapes} scrapes of ${(scrapeBytes / 1024).toFixed(0)} KiB, petrel_jobs{status="RUNNING"} = ${jobsGauge}` : '') +
        (setup.tracing ? `; ${r.spans} spans exported in the window` : ''),
    );
  }
  const off = (results[0].cpu + results[3].cpu) / 2;
  const offRss = (results[0].rss + results[3].rss) / 2;
  for (const r of results.slice(1, 3)) {
    console.log(`overhead of ${r.name} at ${total} running jobs: CPU ${(r.cpu - off >= 0 ? '+' : '') + (r.cpu - off).toFixed(1)} points of one core, RSS ${(r.rss - offRss >= 0 ? '+' : '') + (r.rss - offRss).toFixed(0)} MiB (vs the mean of both 'off' runs)`);
  }
} finally {
  await client?.connection.close();
  await cleanup();
  receiver.close();
  if (pidMax < pidsNeeded) fs.writeFileSync('/proc/sys/kernel/pid_max', String(pidMax));
}

async function readJobsGauge() {
  const text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text()).catch(() => '');
  const m = /^petrel_jobs\{status="RUNNING",infra="local"\} (\S+)$/m.exec(text);
  return m ? Number(m[1]) : 'absent';
}

/** Stops the home's worker and starts one with this set-up, as `server start` would. */
async function restartWorker(setup) {
  const pidFile = path.join(b.home, 'run', 'worker.pid');
  const old = Number(fs.readFileSync(pidFile, 'utf8'));
  process.kill(old, 'SIGTERM');
  while (alive(old)) await sleep(100);
  fs.writeFileSync(path.join(b.home, 'config.yaml'), `${localConfig}metrics:\n  ${setup.metrics ? `port: ${metricsPort}` : 'enabled: false'}\n`);
  const env = { ...b.env, TEMPORAL_ADDRESS: '', PETREL_SERVER_PORT: String(b.port) };
  delete env.OTEL_EXPORTER_OTLP_ENDPOINT;
  delete env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (setup.tracing) env.OTEL_EXPORTER_OTLP_ENDPOINT = otlpEndpoint;
  const out = fs.openSync(path.join(b.home, 'logs', 'worker.log'), 'a');
  const child = spawn(process.execPath, [path.join(import.meta.dirname, '..', 'dist', 'workers', 'main.js')], { detached: true, stdio: ['ignore', out, out], env });
  child.unref();
  fs.closeSync(out);
  fs.writeFileSync(pidFile, String(child.pid));
  return child.pid;
}

function alive(pid) {
  try {
    return !/^\S+ \(.*\) [ZX]/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function cleanup() {
  const provider = new LocalProvider({ home: b.home });
  try {
    b.petrel('server', 'stop');
  } catch (err) {
    console.error(err.message);
  }
  const root = path.join(b.home, 'local', 'clusters');
  const names = fs.existsSync(root) ? fs.readdirSync(root) : [];
  for (let i = 0; i < names.length; i += 200) {
    await Promise.all(names.slice(i, i + 200).map((clusterName) => provider.terminate({ provider: 'local', clusterName, nodes: [] })));
  }
  b.cleanup();
}
