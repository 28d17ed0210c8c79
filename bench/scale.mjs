#!/usr/bin/env node
// Scale: N concurrent managed jobs (`sleep 600`, default 1,000) on one worker on this
// machine. Prints the time to submit them all, the time until all run, the worker's RSS and
// CPU while the jobs run idle, and how fast a preemption is detected and recovered under
// that load. Cleans up every job process and node afterwards.
//   npm run build && node bench/scale.mjs [jobs]
import fs from 'node:fs';
import path from 'node:path';
import { benchClient, benchEnv, median, procStats, sleep } from './support.mjs';

const total = Number(process.argv[2] ?? 1000);
const b = benchEnv('local:\n  regions: [region-a, region-b, region-c]\n');
process.env.PETREL_HOME = b.home;
process.env.PETREL_USER = 'bench';
const { LocalProvider } = await import('../dist/providers/local/index.js');
const { taskFromCommand } = await import('../dist/core/spec/index.js');
const { managedJobInput, submitManagedJob } = await import('../dist/cli/managed-job-submit.js');
const { managedJobStatusQuery } = await import('../dist/workflows/managed-job-messages.js');

const s = (ms) => `${(ms / 1000).toFixed(1)} s`;
let client;
try {
  b.petrel('server', 'start');
  client = await benchClient(b);
  const worker = Number(fs.readFileSync(path.join(b.home, 'run', 'worker.pid'), 'utf8'));
  const base = managedJobInput(b.home, taskFromCommand('sleep 600'), 'bench', {});

  const t0 = performance.now();
  const ids = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < total) {
        next++;
        ids.push(await submitManagedJob(client, base));
      }
    }),
  );
  const submitMs = performance.now() - t0;
  console.log(`submitted ${ids.length} managed jobs in ${s(submitMs)} (${(ids.length / (submitMs / 1000)).toFixed(0)} jobs/s)`);

  const count = async (status) => (await client.workflow.count(`PetrelKind = 'job' AND PetrelStatus = '${status}'`)).count;
  for (;;) {
    const n = await count('RUNNING');
    if (n >= total) break;
    if (performance.now() - t0 > 15 * 60_000) throw new Error(`only ${n} of ${total} running after 15 min`);
    await sleep(1000);
  }
  console.log(`all ${total} running ${s(performance.now() - t0)} after the first submission`);

  await sleep(10_000); // let start-up work drain
  const a = procStats(worker);
  const w0 = performance.now();
  await sleep(30_000);
  const z = procStats(worker);
  const cpu = ((z.cpuSeconds - a.cpuSeconds) / ((performance.now() - w0) / 1000)) * 100;
  console.log(`worker while ${total} jobs run: RSS ${z.rssMiB.toFixed(0)} MiB (target < 1024), CPU ${cpu.toFixed(1)}% of one core`);

  const provider = new LocalProvider({ home: b.home });
  const detect = [];
  const recover = [];
  for (const id of ids.slice(0, 10)) {
    const handle = client.workflow.getHandle(`job/${id}`);
    const v0 = await handle.query(managedJobStatusQuery);
    const t = performance.now();
    await provider.preempt(v0.attempts.at(-1).handle);
    let detected;
    for (;;) {
      const v = await handle.query(managedJobStatusQuery);
      if (detected === undefined && v.attempts[0].outcome === 'preempted') detected = performance.now() - t;
      if (v.status === 'RUNNING' && v.attempts.length === 2 && v.attempts[1].runKey) break;
      await sleep(50);
    }
    detect.push(detected ?? performance.now() - t);
    recover.push(performance.now() - t);
  }
  console.log(`under load: preemption detected in median ${s(median(detect))} (max ${s(Math.max(...detect))}; target < 10 s), RUNNING again in median ${s(median(recover))}`);
} finally {
  // Cleanup: stop the worker and server first, so nothing recovers what we tear down.
  await client?.connection.close();
  spawnCleanup();
}

function spawnCleanup() {
  const provider = new LocalProvider({ home: b.home });
  b.petrel('server', 'stop');
  const root = path.join(b.home, 'local', 'clusters');
  const names = fs.existsSync(root) ? fs.readdirSync(root) : [];
  return Promise.all(names.map((clusterName) => provider.terminate({ provider: 'local', clusterName, nodes: [] }))).then(() => b.cleanup());
}
