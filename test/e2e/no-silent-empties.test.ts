// A command with nothing to show says why: logs of a job that has not started, that has no
// output yet, that printed nothing, or whose output is gone; a CLI in another home shows what
// the worker has (it reads nothing itself); and `debug preempt` takes the cluster names
// `jobs describe` shows for managed-job attempts.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { homeKeyFile, loadKeyring } from '../../codec/keys.js';
import { describeJob, gatedJob, running, submitJob, THREE_REGIONS, waitForJob, writeConfig } from '../support/jobs.js';
import { PetrelEnv, waitFor } from '../support/petrel.js';

let p: PetrelEnv;
/** a CLI in another PETREL_HOME, pointed at p's server: its worker's files are not its own */
let other: PetrelEnv;

beforeAll(async () => {
  p = await PetrelEnv.create();
  other = await PetrelEnv.create();
  writeConfig(p, THREE_REGIONS);
  await p.ok(['server', 'start']);
  loadKeyring(p.home); // the home's key, for `other` (the worker may still be creating it)
});

afterAll(async () => {
  await other?.destroy();
  await p?.destroy();
});

/** the same Temporal and the same codec key, but none of p's files */
const elsewhere = () => ({ TEMPORAL_ADDRESS: p.address, PETREL_CODEC_KEY: fs.readFileSync(homeKeyFile(p.home), 'utf8').trim() });

describe('logs with nothing to show say why', () => {
  it('a cluster job that printed nothing, one still running without output, one that never started', async () => {
    await p.ok(['launch', '-c', 'quiet', '-y', 'true']);
    const printed = await p.run(['logs', 'quiet', '1']);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toBe('');
    expect(printed.stderr).toContain("job 1 of cluster 'quiet' printed no output (SUCCEEDED)");

    const dir = fs.mkdtempSync(path.join(p.home, 'gate-'));
    await p.ok(['exec', 'quiet', '-d', `while [ ! -f ${dir}/go ]; do sleep 0.2; done`]);
    await p.ok(['exec', 'quiet', '-d', 'echo never']);
    await waitFor('job 2 to run', async () => {
      const [q] = await p.json<Array<{ jobs: Array<{ id: number; status: string }> }>>(['queue', 'quiet']);
      return q!.jobs.find((j) => j.id === 2)?.status === 'RUNNING' ? true : undefined;
    });
    const noneYet = await p.run(['logs', 'quiet', '2']);
    expect(noneYet.code).toBe(0);
    expect(noneYet.stderr).toContain("job 2 of cluster 'quiet' has no output yet (RUNNING)");
    const pending = await p.run(['logs', 'quiet', '3']);
    expect(pending.stderr).toContain("job 3 of cluster 'quiet' has not started yet (PENDING)");

    await p.ok(['cancel', 'quiet', '3']);
    const never = await p.run(['logs', 'quiet', '3']);
    expect(never.code).toBe(0);
    expect(never.stderr).toContain("job 3 of cluster 'quiet' never started (CANCELLED: cancelled before it started)");
    fs.writeFileSync(path.join(dir, 'go'), '');
    await p.ok(['down', 'quiet', '-y']);
  });

  it('jobs logs of a finished job run by a worker in another PETREL_HOME: the worker reads its archive for the CLI', async () => {
    const id = await submitJob(p, ['echo only-in-the-workers-home']);
    await waitForJob(p, id, (v) => v.status === 'SUCCEEDED', 'success');
    expect((await p.ok(['jobs', 'logs', String(id)])).stdout).toBe('only-in-the-workers-home\n');
    const r = await other.run(['jobs', 'logs', String(id)], { env: elsewhere() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('only-in-the-workers-home\n');
    expect(fs.existsSync(path.join(other.home, 'logs'))).toBe(false);
  });

  it("a finished job's output that the worker no longer has (its archive deleted, the cluster gone) is said to be gone, exit 1", async () => {
    const id = await submitJob(p, ['echo soon-deleted']);
    await waitForJob(p, id, (v) => v.status === 'SUCCEEDED', 'success');
    fs.rmSync(path.join(p.home, 'logs', 'clusters', `job-${id}-1`), { recursive: true, force: true });
    const r = await other.run(['jobs', 'logs', String(id)], { env: elsewhere() });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`managed job ${id}: the output of ${id}-1-run on node 0 is gone: worker `);
    expect(r.stderr).toContain(`PETREL_HOME ${p.home} has no archive of it (${p.home}/logs/clusters/job-${id}-1/${id}-1-run.node-0.log does not exist) and its node no longer has it`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('debug preempt takes the cluster names jobs describe shows', () => {
  it('preempts the running attempt by its cluster name, and refuses an ended or unknown one clearly', async () => {
    const dir = fs.mkdtempSync(path.join(p.home, 'gate-'));
    const id = await submitJob(p, [gatedJob(dir)]);
    const v = await waitForJob(p, id, running, 'running');
    const first = v.attempts[0]!.clusterName;
    expect(first).toBe(`job-${id}-1`);
    const hit = await p.ok(['debug', 'preempt', first]);
    expect(hit.stdout).toContain(`of cluster '${first}' of managed job ${id}`);
    const v2 = await waitForJob(p, id, (x) => running(x) && x.attempts.length === 2, 'recovered');
    expect(v2.attempts[0]!.outcome).toBe('preempted');

    const ended = await p.run(['debug', 'preempt', first]);
    expect(ended.code).toBe(1);
    expect(ended.stderr).toContain(`cluster '${first}' of managed job ${id} is gone: attempt 1 ended (preempted`);
    const unknown = await p.run(['debug', 'preempt', `job-${id}-9`]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(`managed job ${id} has no attempt 9`);
    const noJob = await p.run(['debug', 'preempt', 'job-999-1']);
    expect(noJob.stderr).toContain('managed job 999 does not exist');

    fs.writeFileSync(path.join(dir, 'go'), '');
    expect((await waitForJob(p, id, (x) => x.status === 'SUCCEEDED', 'success')).recoveries).toBe(1);
    expect((await describeJob(p, id)).attempts).toHaveLength(2);
  });
});
