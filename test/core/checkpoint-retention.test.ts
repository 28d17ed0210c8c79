// Expiry of finished jobs' snapshots in a worker's own store.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { sweepExpiredSnapshots } from '../../activities/checkpoint-retention.js';

it('deletes the jobs whose newest snapshot is older than the retention, and keeps the others', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'retention-'));
  const now = Date.now();
  const job = (name: string, ageDays: number[]) => {
    fs.mkdirSync(path.join(root, name, 'snapshots'), { recursive: true });
    ageDays.forEach((age, i) => {
      const f = path.join(root, name, 'snapshots', `${String(i + 1).padStart(10, '0')}.json`);
      fs.writeFileSync(f, '{}');
      const t = new Date(now - age * 86_400_000);
      fs.utimesSync(f, t, t);
    });
    const t = new Date(now - Math.max(...ageDays, 0) * 86_400_000);
    fs.utimesSync(path.join(root, name), t, t);
  };
  job('old', [30, 20, 9]);
  job('recent', [30, 1]);
  job('running', [0]);
  expect(sweepExpiredSnapshots(root, 7, now).sort()).toEqual(['old']);
  expect(fs.readdirSync(root).sort()).toEqual(['recent', 'running']);
  expect(sweepExpiredSnapshots(path.join(root, 'missing'), 7, now)).toEqual([]);
  fs.rmSync(root, { recursive: true, force: true });
});
