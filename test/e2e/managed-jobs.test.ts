// Managed jobs against a real Temporal dev server and worker on the local provider with three
// regions: recovery from preemption, failover, restarts on errors, capacity and credential
// failures, cancellation from every state, and search attributes.
import fs from 'node:fs';
import path from 'node:path';
import { withClient } from '../support/client.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { catchJob, clusterDirs, describeJob, gatedJob, running, submitJob, THREE_REGIONS, waitForJob, writeConfig } from '../support/jobs.js';
import { PetrelEnv, waitFor } from '../support/petrel.js';

let p: PetrelEnv;

beforeAll(async () => {
  p = await PetrelEnv.create();
  writeConfig(p, THREE_REGIONS);
  await p.ok(['server', 'start']);
});

beforeEach(() => writeConfig(p, THREE_REGIONS));

afterAll(async () => {
  await p?.destroy();
});

const preempt = (id: number) => p.ok(['debug', 'preempt', '--job', String(id)]);

describe('recovery', () => {
  it('a job preempted 3 times finishes SUCCEEDED with 3 recoveries, each relaunch in another region', async () => {
    const dir = fs.mkdtempSync(path.join(p.home, 'gate-'));
    const launch = p.run(['jobs', 'launch', '-y', '-n', 'thrice', `echo task=$PETREL_TASK_ID; ${gatedJob(dir)}`]);
    let id = 0;
    for (let n = 1; n <= 3; n++) {
      const v = await waitFor('the job to run', async () => {
        const rows = await p.json<Array<{ id: number; name: string }>>(['jobs', 'queue']);
        id = rows.find((r) => r.name === 'thrice')?.id ?? 0;
        if (!id) return undefined;
        const view = await describeJob(p, id);
        return running(view) && view.attempts.length === n ? view : undefined;
      });
      expect(v.attempts).toHaveLength(n);
      await preempt(id);
    }
    await waitForJob(p, id, (v) => running(v) && v.attempts.length === 4, 'fourth attempt running');
    fs.writeFileSync(path.join(dir, 'go'), '');
    const r = await launch;
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('SUCCEEDED after 3 recoveries');
    const view = await describeJob(p, id);
    expect(view.status).toBe('SUCCEEDED');
    expect(view.recoveries).toBe(3);
    expect(view.attempts.map((a) => a.outcome)).toEqual(['preempted', 'preempted', 'preempted', 'succeeded']);
    const regions = view.attempts.map((a) => a.region);
    for (let i = 1; i < regions.length; i++) expect(regions[i]).not.toBe(regions[i - 1]);
    // The task id is the same on every attempt; the output of every attempt reached the terminal.
    const ids = [...r.stdout.matchAll(/task=(\S+)/g)].map((m) => m[1]);
    expect(ids).toHaveLength(4);
    expect(new Set(ids).size).toBe(1);
    expect(ids[0]).toBe(view.taskId);
    expect(fs.readFileSync(path.join(dir, 'starts'), 'utf8').trim().split('\n')).toHaveLength(4);
    expect(clusterDirs(p)).toEqual([]);
    // After the fact: logs of every attempt, and the queue row with its recoveries.
    const logs = await p.ok(['jobs', 'logs', String(id)]);
    expect([...logs.stdout.matchAll(/task=/g)]).toHaveLength(4);
    expect(logs.stderr).toContain('attempt 4 on local/');
    const row = (await p.json<Array<{ id: number; status: string; recoveries: number; infra: string; region: string }>>(['jobs', 'queue'])).find((r) => r.id === id);
    expect(row).toMatchObject({ status: 'SUCCEEDED', recoveries: 3, infra: 'local', region: view.attempts[3]!.region });
  });

  it('FAILOVER relaunches in the same region first', async () => {
    const dir = fs.mkdtempSync(path.join(p.home, 'gate-'));
    const id = await submitJob(p, ['--job-recovery', 'FAILOVER', gatedJob(dir)]);
    await waitForJob(p, id, running, 'running');
    await preempt(id);
    const v = await waitForJob(p, id, (x) => running(x) && x.attempts.length === 2, 'recovered');
    expect(v.attempts[1]!.region).toBe(v.attempts[0]!.region);
    fs.writeFileSync(path.join(dir, 'go'), '');
    expect((await waitForJob(p, id, (x) => x.status === 'SUCCEEDED', 'success')).recoveries).toBe(1);
  });

  it('EAGER_NEXT_REGION falls back to the preempted region when nothing else has capacity', async () => {
    writeConfig(p, { ...THREE_REGIONS, local: { ...THREE_REGIONS.local, unavailable_regions: ['region-b', 'region-c'] } });
    const dir = fs.mkdtempSync(path.join(p.home, 'gate-'));
    const id = await submitJob(p, [gatedJob(dir)]);
    await waitForJob(p, id, running, 'running');
    await preempt(id);
    const v = await waitForJob(p, id, (x) => running(x) && x.attempts.some((a, i) => i > 0 && a.outcome === 'running'), 'recovered');
    expect(v.attempts.map((a) => [a.region, a.outcome])).toEqual([
      ['region-a', 'preempted'],
      ['region-b', 'no_capacity'],
      ['region-c', 'no_capacity'],
      ['region-a', 'running'],
    ]);
    fs.writeFileSync(path.join(dir, 'go'), '');
    await waitForJob(p, id, (x) => x.status === 'SUCCEEDED', 'success');
  });

  it('a node silent for less than the grace period is not a preemption', async () => {
    const dir = fs.mkdtempSync(path.join(p.home, 'gate-'));
    const id = await submitJob(p, [gatedJob(dir)]);
    await waitForJob(p, id, running, 'running');
    await p.ok(['debug', 'unreachable', '--job', String(id), '--seconds', '2']); // grace is 5 s here
    await new Promise((r) => setTimeout(r, 4000));
    fs.writeFileSync(path.join(dir, 'go'), '');
    const v = await waitForJob(p, id, (x) => x.status === 'SUCCEEDED', 'success');
    expect(v.recoveries).toBe(0);
    expect(v.attempts).toHaveLength(1);
  });

  it('a node silent for longer than the grace period is recovered elsewhere', async () => {
    const dir = fs.mkdtempSync(path.join(p.home, 'gate-'));
    const id = await submitJob(p, [gatedJob(dir)]);
    await waitForJob(p, id, running, 'running');
    await p.ok(['debug', 'unreachable', '--job', String(id), '--seconds', '60']);
    const v = await waitForJob(p, id, (x) => running(x) && x.attempts.length === 2, 'recovered', 30_000);
    expect(v.attempts[0]).toMatchObject({ outcome: 'preempted', reason: expect.stringContaining('unreachable for') });
    fs.writeFileSync(path.join(dir, 'go'), '');
    await waitForJob(p, id, (x) => x.status === 'SUCCEEDED', 'success');
  });
});

describe('exit codes', () => {
  it('max_restarts_on_errors restarts a failing job that many times, then FAILED', async () => {
    const dir = fs.mkdtempSync(path.join(p.home, 'rs-'));
    const yaml = path.join(dir, 'restarts.yaml');
    fs.writeFileSync(yaml, `resources:\n  job_recovery:\n    max_restarts_on_errors: 2\nrun: echo run >> ${dir}/runs; exit 3\n`);
    const r = await p.run(['jobs', 'launch', '-y', yaml]);
    expect(r.code).toBe(3);
    expect(fs.readFileSync(path.join(dir, 'runs'), 'utf8')).toBe('run\nrun\nrun\n');
    const id = Number(/Managed job (\d+) FAILED/.exec(r.stderr)![1]);
    const v = await describeJob(p, id);
    expect(v).toMatchObject({ status: 'FAILED', restartsOnErrors: 2 });
    expect(v.attempts.map((a) => a.outcome)).toEqual(['restarted', 'restarted', 'failed']);
  });

  it('a job that succeeds on a restart is SUCCEEDED', async () => {
    const dir = fs.mkdtempSync(path.join(p.home, 'rs-'));
    const yaml = path.join(dir, 'flaky.yaml');
    fs.writeFileSync(yaml, `resources:\n  job_recovery:\n    max_restarts_on_errors: 3\nrun: echo x >> ${dir}/runs; [ $(wc -l < ${dir}/runs) -ge 2 ]\n`);
    const r = await p.run(['jobs', 'launch', '-y', yaml]);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'runs'), 'utf8')).toBe('x\nx\n');
  });

  it('recover_on_exit_codes restarts without using up max_restarts_on_errors', async () => {
    const dir = fs.mkdtempSync(path.join(p.home, 'rc-'));
    const yaml = path.join(dir, 'codes.yaml');
    // exits 42 (in the list) twice, then 1 (not in the list) with no restarts allowed
    fs.writeFileSync(
      yaml,
      `resources:\n  job_recovery:\n    max_restarts_on_errors: 0\n    recover_on_exit_codes: [42]\nrun: echo x >> ${dir}/runs; n=$(wc -l < ${dir}/runs); if [ $n -le 2 ]; then exit 42; fi; exit 1\n`,
    );
    const r = await p.run(['jobs', 'launch', '-y', yaml]);
    expect(r.code).toBe(1);
    const id = Number(/Managed job (\d+) FAILED/.exec(r.stderr)![1]);
    const v = await describeJob(p, id);
    expect(v.restartsOnErrors).toBe(0);
    expect(v.attempts.map((a) => a.outcome)).toEqual(['restarted', 'restarted', 'failed']);
    expect(v.attempts[0]!.reason).toContain('recover_on_exit_codes');
  });

  it('a failing setup is FAILED_SETUP and the run never starts', async () => {
    const dir = fs.mkdtempSync(path.join(p.home, 'su-'));
    const yaml = path.join(dir, 'setup.yaml');
    fs.writeFileSync(yaml, `setup: exit 9\nrun: touch ${dir}/ran\n`);
    const r = await p.run(['jobs', 'launch', '-y', yaml]);
    expect(r.code).toBe(9);
    expect(r.stderr).toContain('FAILED_SETUP');
    expect(fs.existsSync(path.join(dir, 'ran'))).toBe(false);
    expect(clusterDirs(p)).toEqual([]);
  });
});

describe('capacity and credentials', () => {
  it('no capacity anywhere: FAILED_NO_RESOURCE with a table of every placement tried', async () => {
    writeConfig(p, { ...THREE_REGIONS, local: { ...THREE_REGIONS.local, unavailable_regions: ['region-a', 'region-b', 'region-c'] } });
    const r = await p.run(['jobs', 'launch', '-y', 'echo never']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('FAILED_NO_RESOURCE');
    expect(r.stderr).toContain('no placement had capacity after 3 passes over 3 placement(s)');
    for (const region of ['region-a', 'region-b', 'region-c']) expect(r.stderr).toContain(`local/${region}`);
    expect(r.stdout).not.toContain('never');
    const id = Number(/Managed job (\d+) FAILED_NO_RESOURCE/.exec(r.stderr)![1]);
    const v = await describeJob(p, id);
    expect(v.attempts).toHaveLength(9);
    expect(v.attempts.every((a) => a.outcome === 'no_capacity')).toBe(true);
    expect(clusterDirs(p)).toEqual([]);
  });

  it('rejected credentials end at once as FAILED_PRECHECKS', async () => {
    writeConfig(p, { ...THREE_REGIONS, local: { ...THREE_REGIONS.local, broken_credentials: true } });
    const r = await p.run(['jobs', 'launch', '-y', 'echo never']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('FAILED_PRECHECKS');
    expect(r.stderr).toContain('credentials rejected');
    const id = Number(/Managed job (\d+) FAILED_PRECHECKS/.exec(r.stderr)![1]);
    expect((await describeJob(p, id)).attempts).toHaveLength(1);
  });
});

describe('cancellation', () => {
  // How fast cancelling is, is measured in bench/recovery.mjs, not asserted here.
  const cancelled = async (id: number) => {
    const r = await p.ok(['jobs', 'cancel', String(id), '-y']);
    expect(r.stdout).toContain(`Job ${id}: CANCELLED`);
    const v = await describeJob(p, id);
    expect(v.status).toBe('CANCELLED');
    expect(clusterDirs(p)).toEqual([]);
  };

  it('cancel while RUNNING: CANCELLED and the process is gone', async () => {
    const dir = fs.mkdtempSync(path.join(p.home, 'c-'));
    const id = await submitJob(p, [`echo $$ > ${dir}/pid; sleep 300`]);
    await waitForJob(p, id, running, 'running');
    const pid = await waitFor('pid', () => (fs.existsSync(path.join(dir, 'pid')) ? Number(fs.readFileSync(path.join(dir, 'pid'), 'utf8')) : undefined));
    await cancelled(id);
    await waitFor('the process to die', () => {
      try {
        process.kill(pid, 0);
        return undefined;
      } catch {
        return true;
      }
    }, 20_000);
  });

  it('cancel -n NAME cancels every live job of that name; -a every live job of yours', async () => {
    const a = await submitJob(p, ['-n', 'named-x', 'sleep 300']);
    const b = await submitJob(p, ['-n', 'named-x', 'sleep 300']);
    const other = await submitJob(p, ['-n', 'other', 'sleep 300']);
    for (const id of [a, b, other]) await waitForJob(p, id, running, 'running');
    const byName = await p.ok(['jobs', 'cancel', '-n', 'named-x', '-y']);
    expect(byName.stdout).toContain(`Job ${a}: CANCELLED`);
    expect(byName.stdout).toContain(`Job ${b}: CANCELLED`);
    expect((await describeJob(p, other)).status).toBe('RUNNING');
    const all = await p.ok(['jobs', 'cancel', '-a', '-y']);
    expect(all.stdout).toBe(`Job ${other}: CANCELLED\n`);
    expect(clusterDirs(p)).toEqual([]);
  });

  it('cancel while STARTING (provisioning): CANCELLED, nothing left', async () => {
    writeConfig(p, { ...THREE_REGIONS, local: { ...THREE_REGIONS.local, provision_delay_seconds: 2 } });
    const id = await submitJob(p, ['echo never']);
    await catchJob(p, id, (v) => v.status === 'STARTING' && v.attempts.length === 1, 'provisioning');
    await cancelled(id);
    await new Promise((r) => setTimeout(r, 2500)); // past the provision delay: still nothing left
    expect(clusterDirs(p)).toEqual([]);
  });

  it('cancel while RECOVERING: CANCELLED, nothing left', async () => {
    const id = await submitJob(p, ['sleep 300']);
    await waitForJob(p, id, running, 'running');
    writeConfig(p, { ...THREE_REGIONS, local: { ...THREE_REGIONS.local, provision_delay_seconds: 3 } });
    await preempt(id);
    await catchJob(p, id, (v) => v.status === 'RECOVERING', 'recovering');
    await cancelled(id);
    await new Promise((r) => setTimeout(r, 3500));
    expect(clusterDirs(p)).toEqual([]);
  });

  it('cancel while PENDING (no worker has picked the job up yet): CANCELLED, nothing created', async () => {
    const worker = p.pidOf('worker')!;
    process.kill(worker, 'SIGKILL');
    // TEMPORAL_ADDRESS: the CLI uses the running server and starts no worker.
    const external = { TEMPORAL_ADDRESS: p.address };
    const id = await submitJob(p, ['echo never'], external);
    const listed = await p.run(['jobs', 'queue', '--json'], { env: external });
    expect(JSON.parse(listed.stdout).find((r: { id: number }) => r.id === id).status).toBe('PENDING');
    const cancel = p.run(['jobs', 'cancel', String(id), '-y'], { env: external });
    await new Promise((r) => setTimeout(r, 1000));
    await p.ok(['server', 'start']); // a worker arrives and finds the job cancelled
    const r = await cancel;
    expect(r.stdout).toContain(`Job ${id}: CANCELLED`);
    const v = await describeJob(p, id);
    expect(v.attempts).toHaveLength(0);
    expect(clusterDirs(p)).toEqual([]);
  });
});

describe('search attributes', () => {
  it('jobs are filterable by status and by name in Temporal visibility', async () => {
    const dir = fs.mkdtempSync(path.join(p.home, 'sa-'));
    const a = await submitJob(p, ['-n', 'sa-hold', gatedJob(dir)]);
    const b = await submitJob(p, ['-n', 'sa-hold', gatedJob(dir)]);
    const c = await submitJob(p, ['-n', 'sa-quick', 'true']);
    await waitForJob(p, a, running, 'a running');
    await waitForJob(p, b, running, 'b running');
    await waitForJob(p, c, (v) => v.status === 'SUCCEEDED', 'c done');
    await withClient(p, async (client) => {
      const ids = async (query: string) => {
        const out: string[] = [];
        for await (const wf of client.workflow.list({ query })) out.push(wf.workflowId);
        return out.sort();
      };
      await waitFor('visibility to catch up', async () => ((await ids(`PetrelJobName = 'sa-hold' AND PetrelStatus = 'RUNNING'`)).length === 2 ? true : undefined));
      expect(await ids(`PetrelJobName = 'sa-hold' AND PetrelStatus = 'RUNNING'`)).toEqual([`job/${a}`, `job/${b}`].sort());
      expect(await ids(`PetrelJobName = 'sa-quick'`)).toEqual([`job/${c}`]);
      expect(await ids(`PetrelJobName = 'sa-quick' AND PetrelStatus = 'SUCCEEDED' AND PetrelUser = 'tester' AND PetrelInfra = 'local'`)).toEqual([`job/${c}`]);
    });
    fs.writeFileSync(path.join(dir, 'go'), '');
    await waitForJob(p, a, (v) => v.status === 'SUCCEEDED', 'a done');
    await waitForJob(p, b, (v) => v.status === 'SUCCEEDED', 'b done');
  });
});
