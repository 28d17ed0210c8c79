#!/usr/bin/env node
// Slurm figures against real Slurm daemons (test/support/slurm.ts, 3 nodes on this machine;
// needs slurm-wlm and munge, run as root):
//  - `petrel jobs launch -y --infra slurm/bench 'echo hi'` (submit, allocate, run, tear down,
//    return) next to what a Slurm user types for the same: `sbatch --wait --wrap 'echo hi'`,
//    and `sbatch --wrap` polled with squeue every 50 ms until COMPLETED (the fastest any client
//    can see a job end). Target: petrel < sbatch + 1 s.
//  - to running, as the target reads: `jobs launch -d` until the run has started, next to
//    `sbatch --wrap` until squeue says RUNNING (both watched every 50 ms). Target: < sbatch + 1 s.
//  - node-DOWN detection: a managed job runs; a node of its allocation is set DOWN; time from
//    squeue first showing the allocation no longer RUNNING to the managed job having counted
//    the attempt as preempted.
//   npm run build && node bench/slurm.mjs [launch runs, default 8] [node-down runs, default 5]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchClient, benchEnv, median, repo, sleep } from './support.mjs';

const runs = Number(process.argv[2] ?? 8);
const downRuns = Number(process.argv[3] ?? 5);

// The test support is TypeScript: bundle it for this plain-Node script.
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-bench-slurm-'));
const { buildSync } = await import('esbuild');
buildSync({ entryPoints: [path.join(repo, 'test/support/slurm.ts')], bundle: true, platform: 'node', format: 'esm', outfile: path.join(scratch, 'slurm.mjs'), logLevel: 'error' });
const { startSlurm } = await import(path.join(scratch, 'slurm.mjs'));
const { managedJobStatusQuery } = await import('../dist/workflows/managed-job-messages.js');

const slurm = await startSlurm({ nodes: 3 });
const userHome = path.join(scratch, 'home');
fs.mkdirSync(userHome);
// The worker inherits these (benchEnv copies process.env): Slurm's config, the login user's home.
process.env.SLURM_CONF = slurm.conf;
process.env.HOME = userHome;
process.env.PETREL_SLURM_CONFIG = path.join(scratch, 'no-slurm-ssh-config');
const b = benchEnv(`slurm:\n  bench:\n    login: local\n`);

const s = (ms) => `${(ms / 1000).toFixed(3)} s`;
const stats = (xs) => `median ${s(median(xs))} (min ${s(Math.min(...xs))}, max ${s(Math.max(...xs))}) over ${xs.length} runs`;
const timed = async (fn) => {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
};
async function sh(cmd) {
  const r = await slurm.sh(cmd);
  if (r.code !== 0) throw new Error(`${cmd}: exit ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}
async function stateOf(jobId) {
  return (await slurm.sh(`squeue -h -t all -j ${jobId} -o %T`)).stdout.trim();
}

try {
  b.petrel('server', 'start');
  b.petrel('jobs', 'launch', '-y', '--infra', 'slurm/bench', 'echo warm'); // worker caches, JIT
  await sh(`sbatch --wait --wrap 'echo warm'`);

  const petrelMs = [];
  const waitMs = [];
  const pollMs = [];
  for (let i = 0; i < runs; i++) {
    petrelMs.push(await timed(() => b.petrel('jobs', 'launch', '-y', '--infra', 'slurm/bench', 'echo hi')));
    waitMs.push(await timed(() => sh(`sbatch --wait --wrap 'echo hi'`)));
    pollMs.push(
      await timed(async () => {
        const id = await sh(`sbatch --parsable --wrap 'echo hi'`);
        while ((await stateOf(id)) !== 'COMPLETED') await sleep(50);
      }),
    );
  }
  console.log(`petrel jobs launch -y --infra slurm/bench 'echo hi' (submit to done, allocation torn down): ${stats(petrelMs)}`);
  console.log(`sbatch --wait --wrap 'echo hi':                                    ${stats(waitMs)}`);
  console.log(`sbatch --wrap 'echo hi', squeue every 50 ms until COMPLETED:       ${stats(pollMs)}`);
  console.log(`petrel - sbatch --wait: ${s(median(petrelMs) - median(waitMs))}; petrel - sbatch polled: ${s(median(petrelMs) - median(pollMs))} (target < 1 s)`);

  // To running, as the target reads: from the command's start until the job's run has
  // begun (Petrel: the managed job RUNNING with its run started; Slurm: squeue says RUNNING or
  // already COMPLETED), both watched every 50 ms.
  const client = await benchClient(b);
  const petrelRun = [];
  const sbatchRun = [];
  for (let i = 0; i < runs; i++) {
    petrelRun.push(
      await timed(async () => {
        const id = Number(b.petrel('jobs', 'launch', '-d', '-y', '--infra', 'slurm/bench', 'echo hi').trim());
        const h = client.workflow.getHandle(`job/${id}`);
        for (;;) {
          const v = await h.query(managedJobStatusQuery);
          if (v.attempts[0]?.runKey || v.status === 'SUCCEEDED') break;
          await sleep(50);
        }
      }),
    );
    sbatchRun.push(
      await timed(async () => {
        const id = await sh(`sbatch --parsable --wrap 'echo hi'`);
        while (!['RUNNING', 'COMPLETING', 'COMPLETED'].includes(await stateOf(id))) await sleep(50);
      }),
    );
  }
  console.log(`to running: petrel jobs launch -d (+ watching the job) ${stats(petrelRun)}; sbatch --wrap (+ squeue) ${stats(sbatchRun)}; petrel - sbatch = ${s(median(petrelRun) - median(sbatchRun))} (target < 1 s)`);

  const detect = [];
  for (let i = 0; i < downRuns; i++) {
    const id = Number(b.petrel('jobs', 'launch', '-d', '-y', '--infra', 'slurm/bench', 'sleep 600').trim());
    const h = client.workflow.getHandle(`job/${id}`);
    let v;
    while (!(v = await h.query(managedJobStatusQuery)).attempts[0]?.runKey || v.status !== 'RUNNING') await sleep(50);
    const { slurm_job_id: jobId, node } = v.attempts[0].handle.nodes[0].data;
    await slurm.nodeDown(node, 'bench');
    let squeueSaw;
    let petrelSaw;
    while (squeueSaw === undefined || petrelSaw === undefined) {
      const [state, view] = await Promise.all([squeueSaw === undefined ? stateOf(jobId) : 'x', petrelSaw === undefined ? h.query(managedJobStatusQuery) : undefined]);
      const now = performance.now();
      if (squeueSaw === undefined && state !== 'RUNNING') squeueSaw = now;
      if (petrelSaw === undefined && view && view.attempts[0].outcome === 'preempted') petrelSaw = now;
      await sleep(20);
    }
    detect.push(petrelSaw - squeueSaw);
    b.petrel('jobs', 'cancel', String(id), '-y');
    await slurm.nodeResume(node);
    await slurm.waitIdle(60_000);
  }
  console.log(`node DOWN: squeue shows the allocation gone -> the managed job counts the attempt preempted: ${stats(detect)}`);
  await client.connection.close();
} finally {
  b.cleanup();
  await slurm.stop();
  fs.rmSync(scratch, { recursive: true, force: true });
}
