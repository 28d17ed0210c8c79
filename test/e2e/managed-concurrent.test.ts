// 20 managed jobs at once, each preempted 1–3 times at random moments: every job must end
// SUCCEEDED with exactly its number of recoveries, and no node may be left anywhere.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { clusterDirs, describeJob, submitJob, THREE_REGIONS, writeConfig } from '../support/jobs.js';
import { PetrelEnv, waitFor } from '../support/petrel.js';

let p: PetrelEnv;

beforeAll(async () => {
  p = await PetrelEnv.create();
  writeConfig(p, THREE_REGIONS);
  await p.ok(['server', 'start']);
});

afterAll(async () => {
  await p?.destroy();
});

/** Small seeded generator, so a failing run can be replayed with the same moments. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

it('20 concurrent jobs, each preempted 1–3 times: all SUCCEEDED, counts right, zero nodes left', async () => {
  const seed = Number(process.env.PETREL_TEST_SEED ?? Date.now() % 100000);
  const random = rng(seed);
  const jobs = await Promise.all(
    Array.from({ length: 20 }, async (_, i) => {
      const dir = fs.mkdtempSync(path.join(p.home, `j${i}-`));
      const id = await submitJob(p, ['-n', `conc-${i}`, `echo start >> ${dir}/starts; while [ ! -f ${dir}/go ]; do sleep 0.2; done`]);
      return { id, dir, target: 1 + Math.floor(random() * 3), done: 0 };
    }),
  );
  // Each job: wait until its current attempt runs, wait a random moment, preempt; repeat.
  await Promise.all(
    jobs.map(async (job) => {
      while (job.done < job.target) {
        await waitFor(
          `job ${job.id} attempt ${job.done + 1} running (seed ${seed})`,
          async () => {
            const v = await describeJob(p, job.id);
            return v.status === 'RUNNING' && v.attempts.length === job.done + 1 && v.attempts.at(-1)!.runKey ? true : undefined;
          },
          90_000,
          300,
        );
        await new Promise((r) => setTimeout(r, random() * 1500));
        await p.ok(['debug', 'preempt', '--job', String(job.id)]);
        job.done++;
      }
      await waitFor(`job ${job.id} recovered for the last time`, async () => {
        const v = await describeJob(p, job.id);
        return v.status === 'RUNNING' && v.attempts.length === job.target + 1 ? true : undefined;
      }, 90_000, 300);
      fs.writeFileSync(path.join(job.dir, 'go'), '');
    }),
  );
  for (const job of jobs) {
    const v = await waitFor(`job ${job.id} to succeed`, async () => {
      const view = await describeJob(p, job.id);
      return view.status === 'SUCCEEDED' ? view : undefined;
    }, 60_000, 300);
    expect(v.recoveries, `job ${job.id} (seed ${seed})`).toBe(job.target);
    expect(v.attempts.map((a) => a.outcome)).toEqual([...Array(job.target).fill('preempted'), 'succeeded']);
    expect(fs.readFileSync(path.join(job.dir, 'starts'), 'utf8').trim().split('\n')).toHaveLength(job.target + 1);
  }
  await waitFor('every node torn down', () => (clusterDirs(p).length === 0 ? true : undefined), 20_000);
}, 300_000);
