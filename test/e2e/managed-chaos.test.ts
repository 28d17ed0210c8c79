// Our own processes dying under a managed job: the worker SIGKILLed in each phase, and the
// Temporal server restarted. The job must finish, each phase must have run once, no node
// may be created twice and none may be left behind.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { catchJob, clusterDirs, describeJob, running, submitJob, THREE_REGIONS, waitForJob, writeConfig } from '../support/jobs.js';
import { alive, PetrelEnv, waitFor } from '../support/petrel.js';

let p: PetrelEnv;

beforeAll(async () => {
  p = await PetrelEnv.create();
  writeConfig(p, THREE_REGIONS);
  await p.ok(['server', 'start']);
});

afterAll(async () => {
  await p?.destroy();
});

async function killWorkerAndReplace(): Promise<void> {
  const worker = p.pidOf('worker')!;
  process.kill(worker, 'SIGKILL');
  await waitFor('the worker to die', () => !alive(worker) || undefined);
  await p.ok(['server', 'start']);
  expect(p.pidOf('worker')).not.toBe(worker);
}

function lines(file: string): string[] {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n') : [];
}

async function finishedOnce(id: number, dir: string): Promise<void> {
  const v = await waitForJob(p, id, (x) => x.status === 'SUCCEEDED', 'success', 90_000);
  expect(v.attempts).toHaveLength(1);
  expect(v.recoveries).toBe(0);
  expect(lines(path.join(dir, 'runs'))).toEqual(['run']);
  await waitFor('no cluster left', () => (clusterDirs(p).length === 0 ? true : undefined), 30_000);
}

function task(dir: string, setup = 'true'): string[] {
  const yaml = path.join(dir, 'task.yaml');
  fs.writeFileSync(
    yaml,
    [`setup: echo setup >> ${dir}/setups; ${setup}`, `run: echo run >> ${dir}/runs; while [ ! -f ${dir}/go ]; do sleep 0.2; done`].join('\n') + '\n',
  );
  return [yaml];
}

it('worker SIGKILLed during provisioning: provisioned once, job completes', async () => {
  writeConfig(p, { ...THREE_REGIONS, local: { ...THREE_REGIONS.local, provision_delay_seconds: 3 } });
  const dir = fs.mkdtempSync(path.join(p.home, 'prov-'));
  fs.writeFileSync(path.join(dir, 'go'), '');
  const id = await submitJob(p, task(dir));
  await catchJob(p, id, (v) => v.status === 'STARTING' && v.attempts.length === 1, 'provisioning');
  await killWorkerAndReplace();
  await finishedOnce(id, dir);
  expect(lines(path.join(dir, 'setups'))).toEqual(['setup']);
  writeConfig(p, THREE_REGIONS);
});

it('worker SIGKILLed during setup: setup runs once, job completes', async () => {
  const dir = fs.mkdtempSync(path.join(p.home, 'setup-'));
  fs.writeFileSync(path.join(dir, 'go'), '');
  const id = await submitJob(p, task(dir, 'sleep 3'));
  await waitFor('setup to start', () => (lines(path.join(dir, 'setups')).length > 0 ? true : undefined));
  await killWorkerAndReplace();
  await finishedOnce(id, dir);
  expect(lines(path.join(dir, 'setups'))).toEqual(['setup']);
});

it('worker SIGKILLed during the run: re-attaches, the run happens once', async () => {
  const dir = fs.mkdtempSync(path.join(p.home, 'run-'));
  const id = await submitJob(p, task(dir));
  await waitForJob(p, id, running, 'running');
  await waitFor('the run to start', () => (lines(path.join(dir, 'runs')).length > 0 ? true : undefined));
  await killWorkerAndReplace();
  fs.writeFileSync(path.join(dir, 'go'), '');
  await finishedOnce(id, dir);
});

it('worker SIGKILLed during teardown: teardown completes, nothing is left', async () => {
  // A teardown window wide enough to be seen by polling even on a loaded machine.
  writeConfig(p, { ...THREE_REGIONS, local: { ...THREE_REGIONS.local, terminate_delay_seconds: 8 } });
  const dir = fs.mkdtempSync(path.join(p.home, 'down-'));
  fs.writeFileSync(path.join(dir, 'go'), '');
  const id = await submitJob(p, task(dir));
  await catchJob(p, id, (v) => v.attempts[0]?.outcome === 'succeeded' && v.status === 'RUNNING', 'tearing down');
  expect(clusterDirs(p)).toEqual([`job-${id}-1`]);
  await killWorkerAndReplace();
  await finishedOnce(id, dir);
  writeConfig(p, THREE_REGIONS);
});

it('the Temporal server restarted mid-run: the job completes', async () => {
  const dir = fs.mkdtempSync(path.join(p.home, 'srv-'));
  const id = await submitJob(p, task(dir));
  await waitForJob(p, id, running, 'running');
  const server = p.pidOf('temporal-server')!;
  process.kill(server, 'SIGTERM');
  await waitFor('the server to stop', () => !alive(server) || undefined, 20_000);
  fs.writeFileSync(path.join(dir, 'go'), '');
  await new Promise((r) => setTimeout(r, 1000));
  await p.ok(['server', 'start']);
  await finishedOnce(id, dir);
  expect((await describeJob(p, id)).status).toBe('SUCCEEDED');
});
