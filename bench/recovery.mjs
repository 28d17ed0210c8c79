#!/usr/bin/env node
// Recovery latency on the local provider: from the moment a node is preempted (the same
// call `petrel debug preempt` makes) to the managed job being RUNNING again on a new
// cluster. One job, preempted N times (default 20), three local regions.
//   npm run build && node bench/recovery.mjs [runs]
import fs from 'node:fs';
import path from 'node:path';
import { benchClient, benchEnv, median, sleep } from './support.mjs';

const runs = Number(process.argv[2] ?? 20);
const b = benchEnv('local:\n  regions: [region-a, region-b, region-c]\n');
process.env.PETREL_HOME = b.home;
const { LocalProvider } = await import('../dist/providers/local/index.js');
const { managedJobStatusQuery } = await import('../dist/workflows/managed-job-messages.js');

try {
  b.petrel('server', 'start');
  const gate = path.join(b.home, 'gate');
  const id = Number(b.petrel('jobs', 'launch', '-d', '-y', `while [ ! -f ${gate} ]; do sleep 0.2; done`).trim());
  const client = await benchClient(b);
  const handle = client.workflow.getHandle(`job/${id}`);
  const view = () => handle.query(managedJobStatusQuery);
  const runningAttempt = async (n) => {
    for (;;) {
      const v = await view();
      if (v.status === 'RUNNING' && v.attempts.length === n && v.attempts.at(-1).runKey) return v;
      await sleep(10);
    }
  };
  const provider = new LocalProvider({ home: b.home });
  const latencies = [];
  let v = await runningAttempt(1);
  for (let i = 0; i < runs; i++) {
    await sleep(300); // let the run settle into its steady poll
    const t0 = performance.now();
    await provider.preempt(v.attempts.at(-1).handle);
    v = await runningAttempt(i + 2);
    latencies.push(performance.now() - t0);
  }
  fs.writeFileSync(gate, '');
  const s = (ms) => `${(ms / 1000).toFixed(2)} s`;
  console.log(`recovery latency (preempt -> RUNNING again), ${runs} runs: median ${s(median(latencies))}, max ${s(Math.max(...latencies))}, min ${s(Math.min(...latencies))} (target: median < 5 s)`);

  // Cancel latency: from the cancel request to CANCELLED with the cluster torn down.
  const cancels = [];
  for (let i = 0; i < 5; i++) {
    const jid = Number(b.petrel('jobs', 'launch', '-d', '-y', 'sleep 300').trim());
    const h = client.workflow.getHandle(`job/${jid}`);
    for (;;) {
      const v = await h.query(managedJobStatusQuery);
      if (v.status === 'RUNNING' && v.attempts.at(-1).runKey) break;
      await sleep(10);
    }
    const t0 = performance.now();
    await h.cancel();
    for (;;) {
      const v = await h.query(managedJobStatusQuery);
      if (v.status === 'CANCELLED') break;
      await sleep(10);
    }
    cancels.push(performance.now() - t0);
  }
  console.log(`cancel latency (RUNNING -> CANCELLED, cluster torn down), 5 runs: median ${s(median(cancels))}, max ${s(Math.max(...cancels))} (target < 5 s)`);
  await client.connection.close();
} finally {
  b.cleanup();
}
