// Team mode: every cluster and managed job records its user (PETREL_USER). `status` and
// `jobs queue` show the current user's by default and everyone's with -u/--all-users; tearing
// down or cancelling another user's cluster or job needs --all-users and names the owner.
// Two users, alice and bob, share one PETREL_HOME (one real Temporal server and worker).
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { describeJob, running, submitJob, THREE_REGIONS, waitForJob, writeConfig } from '../support/jobs.js';
import { PetrelEnv, type RunResult, waitFor } from '../support/petrel.js';

interface StatusRow {
  name: string;
  status: string;
  user: string | null;
}
interface JobRow {
  id: number;
  name: string | null;
  user: string | null;
  status: string;
}
interface QueueJson {
  cluster: string;
  status: string;
  jobs: Array<{ id: number; status: string }>;
}

let p: PetrelEnv;

beforeAll(async () => {
  p = await PetrelEnv.create();
  writeConfig(p, THREE_REGIONS);
  await p.ok(['server', 'start']);
});

afterAll(async () => {
  // PetrelEnv.destroy tears down every user's clusters (down -u) but cancels no managed job.
  if (p) await p.run(['jobs', 'cancel', '-u', '-y'], { timeoutMs: 120_000 }).catch(() => undefined);
  await p?.destroy();
});

const as = (user: string) => ({ env: { PETREL_USER: user } });
const run = (user: string, args: string[]): Promise<RunResult> => p.run(args, as(user));
const ok = (user: string, args: string[]): Promise<RunResult> => p.ok(args, as(user));
const json = async <T>(user: string, args: string[]): Promise<T> => JSON.parse((await ok(user, [...args, '--json'])).stdout) as T;

/** Waits until `args --json` as `user` lists exactly `expected` (visibility is eventually consistent). */
function waitForListing<T>(user: string, args: string[], key: (row: T) => string, expected: string[]): Promise<T[]> {
  return waitFor(`${args.join(' ')} as ${user} to list ${expected.join(', ') || 'nothing'}`, async () => {
    const rows = await json<T[]>(user, args);
    return JSON.stringify(rows.map(key).sort()) === JSON.stringify([...expected].sort()) ? rows : undefined;
  });
}

/** The Temporal CLI against this test's server: workflows written the way no Petrel CLI writes them. */
const temporal = (args: string[]) => execFileSync(inject('temporalBin'), [...args, '--address', p.address], { stdio: 'pipe', timeout: 30_000 });

const clusterKey = (r: StatusRow) => `${r.name}:${r.user}`;
const jobKey = (r: JobRow) => `${r.name}:${r.user}`;
const clusterStatus = async (name: string) => (await json<QueueJson[]>('alice', ['queue', name]))[0]!.status;

let aliceJob = 0;
let bobJob = 0;

describe('each user sees their own; -u shows everyone', () => {
  it('status and jobs queue show only the current user rows; -u shows both with a USER column', async () => {
    await ok('alice', ['launch', '-c', 'alice-c', '-y', 'true']);
    await ok('bob', ['launch', '-c', 'bob-c', '-y', 'true']);
    aliceJob = await submitJob(p, ['-n', 'alice-job', 'sleep 300'], { PETREL_USER: 'alice' });
    bobJob = await submitJob(p, ['-n', 'bob-job', 'sleep 300'], { PETREL_USER: 'bob' });

    // status: the filter is in the visibility query; --json carries the user.
    const aliceStatus = await waitForListing<StatusRow>('alice', ['status'], clusterKey, ['alice-c:alice']);
    expect(aliceStatus[0]).toMatchObject({ name: 'alice-c', status: 'UP', user: 'alice' });
    await waitForListing<StatusRow>('bob', ['status'], clusterKey, ['bob-c:bob']);
    await waitForListing<StatusRow>('bob', ['status', '-u'], clusterKey, ['alice-c:alice', 'bob-c:bob']);
    await waitForListing<StatusRow>('bob', ['status', '--all-users'], clusterKey, ['alice-c:alice', 'bob-c:bob']);

    const mine = (await ok('bob', ['status'])).stdout.split('\n');
    expect(mine[0]).toMatch(/^NAME\s+INFRA\s+RESOURCES\s+STATUS/);
    expect(mine.some((l) => l.startsWith('bob-c '))).toBe(true);
    expect(mine.some((l) => l.startsWith('alice-c'))).toBe(false);
    const everyone = (await ok('bob', ['status', '-u'])).stdout.split('\n');
    expect(everyone[0]).toMatch(/^NAME\s+USER\s+INFRA\s+RESOURCES\s+STATUS\s+AUTOSTOP\s+LAUNCHED$/);
    expect(everyone.find((l) => l.startsWith('alice-c'))).toMatch(/^alice-c\s+alice\s+local\s/);
    expect(everyone.find((l) => l.startsWith('bob-c'))).toMatch(/^bob-c\s+bob\s+local\s/);

    // A cluster asked for by name is shown whoever launched it, with its owner.
    const named = await ok('bob', ['status', 'alice-c']);
    expect(named.stdout).toMatch(/^NAME\s+USER\s+INFRA/);
    expect(named.stdout).toMatch(/\nalice-c\s+alice\s+local/);

    // jobs queue: the same, and -a (Petrel's first spelling of --all-users) still works.
    await waitForListing<JobRow>('alice', ['jobs', 'queue'], jobKey, ['alice-job:alice']);
    await waitForListing<JobRow>('bob', ['jobs', 'queue'], jobKey, ['bob-job:bob']);
    await waitForListing<JobRow>('bob', ['jobs', 'queue', '-u'], jobKey, ['alice-job:alice', 'bob-job:bob']);
    await waitForListing<JobRow>('alice', ['jobs', 'queue', '--all-users'], jobKey, ['alice-job:alice', 'bob-job:bob']);
    await waitForListing<JobRow>('alice', ['jobs', 'queue', '-a'], jobKey, ['alice-job:alice', 'bob-job:bob']);
    const jobs = (await ok('alice', ['jobs', 'queue'])).stdout.split('\n');
    expect(jobs[0]).toMatch(/^ID\s+NAME\s+RESOURCES\s+SUBMITTED/);
    expect(jobs.some((l) => l.includes('bob-job'))).toBe(false);
    const allJobs = (await ok('alice', ['jobs', 'queue', '-u'])).stdout.split('\n');
    expect(allJobs[0]).toMatch(/^ID\s+NAME\s+USER\s+RESOURCES\s+SUBMITTED/);
    expect(allJobs.find((l) => l.startsWith(`${aliceJob} `))).toMatch(new RegExp(`^${aliceJob}\\s+alice-job\\s+alice\\s`));
    expect(allJobs.find((l) => l.startsWith(`${bobJob} `))).toMatch(new RegExp(`^${bobJob}\\s+bob-job\\s+bob\\s`));

    // Someone with nothing of their own is told that others have some, not left with a bare "none".
    const carol = await ok('carol', ['status']);
    expect(carol.stdout).toBe('No existing clusters.\n');
    expect(carol.stderr).toContain('2 clusters of other users not shown (you are carol); see petrel status -u');
    const carolJobs = await ok('carol', ['jobs', 'queue']);
    expect(carolJobs.stdout).toBe('No managed jobs.\n');
    expect(carolJobs.stderr).toContain('2 managed jobs of other users not shown (you are carol); see petrel jobs queue -u');
  });

  it("a cluster's job queue stays readable for anyone", async () => {
    const [q] = await json<QueueJson[]>('bob', ['queue', 'alice-c']);
    expect(q).toMatchObject({ cluster: 'alice-c', status: 'UP', jobs: [{ id: 1, status: 'SUCCEEDED' }] });
  });
});

describe("another user's cluster or job only with --all-users", () => {
  it("bob cannot tear down alice's cluster or cancel jobs on it without -u: exit 1, names alice, nothing changed", async () => {
    const downed = await run('bob', ['down', 'alice-c', '-y']);
    expect(downed.code).toBe(1);
    expect(downed.stderr).toContain("cluster 'alice-c' belongs to alice; add --all-users (-u) to tear it down anyway");
    expect(downed.stderr).not.toMatch(/\n\s+at /);
    expect(downed.stdout).toBe('');
    // Named together with one of his own: nothing at all is torn down.
    const both = await run('bob', ['down', 'bob-c', 'alice-c', '-y']);
    expect(both.code).toBe(1);
    expect(both.stderr).toContain("cluster 'alice-c' belongs to alice");
    expect(await clusterStatus('alice-c')).toBe('UP');
    expect(await clusterStatus('bob-c')).toBe('UP');

    await ok('alice', ['exec', 'alice-c', '-d', 'sleep 300']);
    await waitFor('job 2 on alice-c to run', async () => {
      const [q] = await json<QueueJson[]>('alice', ['queue', 'alice-c']);
      return q!.jobs.find((j) => j.id === 2)?.status === 'RUNNING' || undefined;
    });
    const cancelled = await run('bob', ['cancel', 'alice-c', '2']);
    expect(cancelled.code).toBe(1);
    expect(cancelled.stderr).toContain("cluster 'alice-c' belongs to alice; add --all-users (-u) to cancel jobs on it anyway");
    const refusedAll = await run('bob', ['cancel', 'alice-c', '-a']);
    expect(refusedAll.code).toBe(1);
    const [q] = await json<QueueJson[]>('alice', ['queue', 'alice-c']);
    expect(q!.jobs.find((j) => j.id === 2)?.status).toBe('RUNNING');

    const withU = await run('bob', ['cancel', 'alice-c', '2', '-u']);
    expect(withU.code).toBe(0);
    expect(withU.stdout).toBe('Job 2: CANCELLED\n');
    expect(withU.stderr).toContain("Cluster 'alice-c' belongs to alice.");
  });

  it("bob cannot cancel alice's managed job without -u; jobs cancel -a cancels only his own", async () => {
    const refused = await run('bob', ['jobs', 'cancel', String(aliceJob), '-y']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`managed job ${aliceJob} belongs to alice; add --all-users (-u) to cancel it anyway`);
    expect(refused.stdout).toBe('');
    await waitForJob(p, aliceJob, running, 'still running');
    expect((await describeJob(p, aliceJob)).status).toBe('RUNNING');

    await waitForListing<JobRow>('bob', ['jobs', 'queue', '-s'], jobKey, ['bob-job:bob']);
    const mine = await run('bob', ['jobs', 'cancel', '-a', '-y']);
    expect(mine.code).toBe(0);
    expect(mine.stdout).toBe(`Job ${bobJob}: CANCELLED\n`);
    expect(mine.stderr).toContain('1 live managed job of other users left alone (you are bob)');
    expect((await describeJob(p, aliceJob)).status).toBe('RUNNING');

    const theirs = await run('bob', ['jobs', 'cancel', String(aliceJob), '-u', '-y']);
    expect(theirs.code).toBe(0);
    expect(theirs.stdout).toBe(`Job ${aliceJob} (alice's): CANCELLED\n`);
    expect((await describeJob(p, aliceJob)).status).toBe('CANCELLED');
  });

  it('down -a as bob leaves alice\'s cluster up; down NAME -u tears it down', async () => {
    const mine = await run('bob', ['down', '-a', '-y']);
    expect(mine.code).toBe(0);
    expect(mine.stdout).toBe("Cluster 'bob-c' terminated.\n");
    expect(mine.stderr).toContain('1 cluster of other users left alone (you are bob); add --all-users (-u) to tear it down too');
    expect(await clusterStatus('alice-c')).toBe('UP');
    await waitForListing<StatusRow>('bob', ['status', '-u'], clusterKey, ['alice-c:alice']);

    const theirs = await run('bob', ['down', 'alice-c', '-u', '-y']);
    expect(theirs.code).toBe(0);
    expect(theirs.stdout).toBe("Cluster 'alice-c' of alice terminated.\n");
    await waitForListing<StatusRow>('alice', ['status', '-u'], clusterKey, []);
  });
});

describe('records made before users existed (no PetrelUser) are everyone\'s', () => {
  it('are listed for every user, without a USER of their own', async () => {
    // Workflows with Petrel's search attributes but no PetrelUser, on a task queue no worker
    // polls: what a cluster and a job launched by an older Petrel look like to visibility.
    const ids = ['cluster/legacy-c', 'job/1000'];
    temporal(['workflow', 'start', '--workflow-id', ids[0]!, '--type', 'clusterWorkflow', '--task-queue', 'no-worker-polls-this',
      '--search-attribute', 'PetrelKind="cluster"', '--search-attribute', 'PetrelCluster="legacy-c"', '--search-attribute', 'PetrelStatus="UP"']);
    temporal(['workflow', 'start', '--workflow-id', ids[1]!, '--type', 'managedJobWorkflow', '--task-queue', 'no-worker-polls-this',
      '--search-attribute', 'PetrelKind="job"', '--search-attribute', 'PetrelJobId="1000"', '--search-attribute', 'PetrelJobName="legacy-job"',
      '--search-attribute', 'PetrelStatus="RUNNING"']);
    try {
      for (const user of ['alice', 'bob']) {
        await waitForListing<StatusRow>(user, ['status'], clusterKey, ['legacy-c:null']);
        await waitForListing<JobRow>(user, ['jobs', 'queue', '-s'], jobKey, ['legacy-job:null']);
      }
      // Nothing special is said about them: no USER column when they are all there is.
      expect((await ok('bob', ['status'])).stdout).toMatch(/^NAME\s+INFRA\s/);
      const all = (await ok('bob', ['status', '-u'])).stdout.split('\n');
      expect(all.find((l) => l.startsWith('legacy-c'))).toMatch(/^legacy-c\s+-\s+/);
    } finally {
      for (const id of ids) temporal(['workflow', 'terminate', '--workflow-id', id, '--reason', 'test done']);
    }
  });
});
