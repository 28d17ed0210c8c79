// Batched watching under a worker crash: 200 managed jobs run; the worker is SIGKILLed; while
// nobody watches, 20 nodes are preempted and 20 jobs end on their own (10 with exit code 7).
// After a new worker starts, every job must converge from what the nodes say: the preempted
// ones recover elsewhere, the ended ones end with their real exit codes, the rest keep
// running untouched. A running job holds no activity: its watcher does.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { managedJobInput, submitManagedJob } from '../../cli/managed-job-submit.js';
import { taskFromCommand } from '../../core/spec/index.js';
import type { ManagedJobView } from '../../workflows/managed-job-types.js';
import { managedJobStatusQuery } from '../../workflows/managed-job-messages.js';
import { LocalProvider } from '../../providers/local/index.js';
import { withClient } from '../support/client.js';
import { clusterDirs, THREE_REGIONS, writeConfig } from '../support/jobs.js';
import { alive, PetrelEnv, waitFor } from '../support/petrel.js';

const JOBS = 200;

let p: PetrelEnv;
let gates: string;

beforeAll(async () => {
  p = await PetrelEnv.create();
  writeConfig(p, THREE_REGIONS);
  gates = fs.mkdtempSync(path.join(p.home, 'gates-'));
  await p.ok(['server', 'start']);
});

afterAll(async () => {
  // Whatever a failed run left running ends with the jobs, not with the test process.
  await p?.run(['jobs', 'cancel', '-a', '-y']).catch(() => undefined);
  await p?.destroy();
});

async function listAll<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Every job's view, straight from its workflow. */
async function views(ids: number[]): Promise<Map<number, ManagedJobView>> {
  return withClient(p, async (client) => {
    const out = new Map<number, ManagedJobView>();
    for (let i = 0; i < ids.length; i += 25) {
      const chunk = ids.slice(i, i + 25);
      // A worker busy with a hundred jobs ending at once may not answer every query in time:
      // those jobs are asked again on the next round.
      const got = await Promise.all(chunk.map((id) => client.workflow.getHandle(`job/${id}`).query(managedJobStatusQuery).catch(() => undefined)));
      got.forEach((v, j) => v && out.set(chunk[j]!, v));
    }
    return out;
  });
}

const isRunning = (v: ManagedJobView | undefined) => v?.status === 'RUNNING' && !!v.attempts.at(-1)?.runKey;

it(`${JOBS} running jobs, the worker SIGKILLed, 20 preempted and 20 ended while it is down: all converge`, async () => {
  // The cluster is named job-<id>-<attempt>, and the run waits for a file of that name.
  const run = `c=$(basename "$(dirname "$(dirname "$PWD")")"); while [ ! -f ${gates}/$c ]; do sleep 2; done; exit $(cat ${gates}/$c)`;
  const ids = await withClient(p, async (client) => {
    const base = managedJobInput(p.home, taskFromCommand(run), 'watchers-test', {});
    return Promise.all(Array.from({ length: JOBS }, () => submitManagedJob(client, base)));
  });
  expect(new Set(ids).size).toBe(JOBS);
  await waitFor(
    `all ${JOBS} jobs running`,
    async () => {
      const v = await views(ids);
      return v.size === JOBS && [...v.values()].every(isRunning) ? true : undefined;
    },
    240_000,
    2000,
  );

  // No job holds an activity while it runs: the watchers of its scope do.
  const described = await withClient(p, async (client) => ({
    job: await client.workflow.getHandle(`job/${ids[0]}`).describe(),
    watchers: await listAll(client.workflow.list({ query: `WorkflowType = 'jobWatcherWorkflow' AND ExecutionStatus = 'Running'` })),
  }));
  expect(described.job.raw.pendingActivities ?? []).toEqual([]);
  expect(described.watchers.length).toBeGreaterThan(0);
  expect(described.watchers.length).toBeLessThanOrEqual(12); // 3 regions x 4 shards

  const worker = p.pidOf('worker')!;
  process.kill(worker, 'SIGKILL');
  await waitFor('the worker to die', () => !alive(worker) || undefined);

  const preempted = ids.slice(0, 20);
  const failed = ids.slice(20, 30);
  const succeeded = ids.slice(30, 40);
  const untouched = ids.slice(40);
  const provider = new LocalProvider({ home: p.home });
  for (const id of preempted) await provider.preempt({ provider: 'local', clusterName: `job-${id}-1`, nodes: [{ rank: 0, id: `job-${id}-1-0`, ip: '127.0.0.1', data: {} }] });
  for (const id of failed) fs.writeFileSync(path.join(gates, `job-${id}-1`), '7');
  for (const id of succeeded) fs.writeFileSync(path.join(gates, `job-${id}-1`), '0');
  // Long enough for every gated job to see its file and exit while nobody watches.
  await new Promise((r) => setTimeout(r, 5000));

  await p.ok(['server', 'start']);
  const settled = await waitFor(
    'every job to converge',
    async () => {
      const v = await views(ids);
      const ok =
        preempted.every((id) => isRunning(v.get(id)) && v.get(id)!.attempts.length === 2) &&
        failed.every((id) => v.get(id)?.status === 'FAILED') &&
        succeeded.every((id) => v.get(id)?.status === 'SUCCEEDED');
      return ok && v.size === ids.length ? v : undefined;
    },
    180_000,
    2000,
  );
  for (const id of preempted) {
    const v = settled.get(id)!;
    expect(v.recoveries).toBe(1);
    expect(v.attempts[0]!.outcome).toBe('preempted');
    expect(v.attempts[1]!.region).not.toBe(v.attempts[0]!.region);
  }
  for (const id of failed) expect(settled.get(id)!.attempts[0]!.exitCode).toBe(7);
  for (const id of succeeded) expect(settled.get(id)!.attempts[0]!.outcome).toBe('succeeded');
  for (const id of untouched) {
    const v = settled.get(id)!;
    expect(v.status).toBe('RUNNING');
    expect(v.attempts).toHaveLength(1);
    expect(v.recoveries).toBe(0);
  }

  // Release the rest; every job ends and no node is left.
  for (const id of [...untouched, ...preempted]) {
    const v = settled.get(id)!;
    fs.writeFileSync(path.join(gates, v.attempts.at(-1)!.clusterName), '0');
  }
  await waitFor(
    'every job to succeed',
    async () => {
      const v = await views([...untouched, ...preempted]);
      return v.size === untouched.length + preempted.length && [...v.values()].every((x) => x.status === 'SUCCEEDED') ? true : undefined;
    },
    180_000,
    2000,
  );
  await waitFor('no cluster left', () => (clusterDirs(p).length === 0 ? true : undefined), 60_000);
}, 900_000);
