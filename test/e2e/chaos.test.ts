// Our own processes dying mid-job: the worker (SIGKILL) and the Temporal server (stopped and
// started again). The job must finish, exactly once.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { alive, PetrelEnv, waitFor } from '../support/petrel.js';

let p: PetrelEnv;

beforeAll(async () => {
  p = await PetrelEnv.create();
  await p.ok(['server', 'start']);
});

afterAll(async () => {
  await p?.destroy();
});

/** A job that records each start, waits for a go-file, then records its end. */
function countingJob(dir: string): string {
  return `echo start >> ${dir}/starts; while [ ! -f ${dir}/go ]; do sleep 0.1; done; echo finished`;
}

it('a worker killed with SIGKILL mid-run: a new worker re-attaches and the job runs once', async () => {
  const dir = fs.mkdtempSync(path.join(p.home, 'chaos-'));
  const launch = p.run(['launch', '-c', 'wk', '-y', '--down', countingJob(dir)]);
  await waitFor('the job to start', () => fs.existsSync(path.join(dir, 'starts')) || undefined);
  const oldWorker = p.pidOf('worker')!;
  process.kill(oldWorker, 'SIGKILL');
  await waitFor('the worker to die', () => !alive(oldWorker) || undefined);
  await p.ok(['server', 'start']); // starts a new worker (what any petrel command would do)
  expect(p.pidOf('worker')).not.toBe(oldWorker);
  fs.writeFileSync(path.join(dir, 'go'), '');
  const r = await launch;
  expect(r.stdout).toContain('finished');
  expect(r.code).toBe(0);
  expect(fs.readFileSync(path.join(dir, 'starts'), 'utf8')).toBe('start\n');
  await waitFor('teardown', () => !fs.existsSync(p.clusterDir('wk')) || undefined);
});

it('the Temporal server stopped and started again mid-run: the job completes', async () => {
  const dir = fs.mkdtempSync(path.join(p.home, 'chaos-'));
  await p.ok(['launch', '-c', 'srv', '-y', '-d', countingJob(dir)]);
  await waitFor('the job to start', () => fs.existsSync(path.join(dir, 'starts')) || undefined);
  const server = p.pidOf('temporal-server')!;
  process.kill(server, 'SIGTERM');
  await waitFor('the server to stop', () => !alive(server) || undefined, 20_000);
  fs.writeFileSync(path.join(dir, 'go'), '');
  await new Promise((r) => setTimeout(r, 1000)); // the job ends while the server is down
  await p.ok(['server', 'start']);
  const logs = await p.ok(['logs', 'srv', '1', '--follow', '--status']);
  expect(logs.stdout).toContain('finished');
  const q = await p.json<Array<{ jobs: Array<{ status: string }> }>>(['queue', 'srv']);
  expect(q[0]!.jobs[0]!.status).toBe('SUCCEEDED');
  expect(fs.readFileSync(path.join(dir, 'starts'), 'utf8')).toBe('start\n');
});
