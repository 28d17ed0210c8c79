// Autostop and autodown are durable timers in the cluster workflow: after -i minutes idle the
// cluster stops (or, with --down, is torn down); exec on a stopped cluster starts it again.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PetrelEnv, waitFor } from '../support/petrel.js';

let p: PetrelEnv;

beforeAll(async () => {
  p = await PetrelEnv.create();
});

afterAll(async () => {
  await p?.destroy();
});

type StatusRow = { name: string; status: string; autostop: string };

it('-i 1 stops an idle cluster after a minute and -i 1 --down tears one down', async () => {
  await p.ok(['launch', '-c', 'idle', '-y', '-i', '1', 'echo first']);
  await p.ok(['launch', '-c', 'idledown', '-y', '-i', '1', '--down', 'echo first']);
  const before = await p.json<StatusRow[]>(['status']);
  expect(before).toEqual([
    expect.objectContaining({ name: 'idle', status: 'UP', autostop: '1m' }),
    expect.objectContaining({ name: 'idledown', status: 'UP', autostop: '1m (down)' }),
  ]);
  const after = await waitFor(
    'autostop',
    async () => {
      const rows = await p.json<StatusRow[]>(['status']);
      return rows.length === 1 && rows[0]!.status === 'STOPPED' ? rows : undefined;
    },
    120_000,
    2000,
  );
  expect(after[0]!.name).toBe('idle');
  expect(fs.existsSync(p.clusterDir('idledown'))).toBe(false);
  expect(fs.existsSync(path.join(p.clusterDir('idle'), 'node-0', 'STOPPED'))).toBe(true);

  const again = await p.run(['exec', 'idle', 'echo back again']);
  expect(again.code).toBe(0);
  expect(again.stdout).toContain('back again');
  expect((await p.json<StatusRow[]>(['status']))[0]).toMatchObject({ name: 'idle', status: 'UP' });
}, 180_000);
