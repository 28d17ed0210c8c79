// With TEMPORAL_ADDRESS set Petrel starts nothing and uses that cluster; `petrel worker`
// serves it in the foreground. The "remote" cluster here is a real dev server started by a
// second Petrel home.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { alive, PetrelEnv, waitFor } from '../support/petrel.js';

let server: PetrelEnv;
let client: PetrelEnv;
let worker: ChildProcess | undefined;
let workerLog = '';

beforeAll(async () => {
  server = await PetrelEnv.create();
  client = await PetrelEnv.create();
  await server.ok(['server', 'start']);
  // Only the server stays: the foreground worker below replaces the embedded one.
  const embeddedWorker = server.pidOf('worker')!;
  process.kill(embeddedWorker, 'SIGTERM');
  await waitFor('embedded worker to exit', () => !alive(embeddedWorker) || undefined);
});

afterAll(async () => {
  if (worker && worker.exitCode === null) worker.kill('SIGKILL');
  await client?.destroy();
  await server?.destroy();
});

const external = () => ({ TEMPORAL_ADDRESS: server.address });

it('petrel worker serves a cluster given by TEMPORAL_ADDRESS; the CLI starts nothing', async () => {
  worker = spawn(process.execPath, [path.resolve('bin/petrel.js'), 'worker'], { env: { ...client.env, ...external() }, stdio: ['ignore', 'pipe', 'pipe'] });
  worker.stderr!.on('data', (d) => (workerLog += d));
  await waitFor('worker to poll', () => workerLog.includes("polling task queue 'petrel'") || undefined, 30_000);

  const r = await client.run(['launch', '-c', 'ext', '-y', '--down', 'echo via $PETREL_CLUSTER_INFO'], { env: external() });
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('via {"cluster_name":"ext","cloud":"local"');
  expect(r.stderr).not.toContain('Started');
  expect(fs.existsSync(path.join(client.home, 'run'))).toBe(false);

  const status = await client.run(['server', 'status', '--json'], { env: external() });
  expect(JSON.parse(status.stdout)).toMatchObject({ mode: 'external', address: server.address });
  expect(JSON.parse(status.stdout).workerPollers).toBeGreaterThan(0);

  const start = await client.run(['server', 'start'], { env: external() });
  expect(start.code).toBe(1);
  expect(start.stderr).toContain('TEMPORAL_ADDRESS is set');

  worker.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => worker!.on('exit', (c) => resolve(c)));
  expect(code).toBe(0);
});

it('an unreachable TEMPORAL_ADDRESS is a clear error, not a stack trace', async () => {
  const r = await client.run(['status'], { env: { TEMPORAL_ADDRESS: '127.0.0.1:1' } });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('cannot reach Temporal at 127.0.0.1:1 (TEMPORAL_ADDRESS)');
  expect(r.stderr).not.toMatch(/\n\s+at /);
});
