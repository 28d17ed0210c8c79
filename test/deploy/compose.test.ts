// docker-compose.yml cannot run here (no Docker engine): keep it consistent with the code by
// the static checks in deploy/check.mjs (references resolve, search attributes match core/).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { expect, it } from 'vitest';

it('deploy/check.mjs finds every compose reference and search attribute consistent', () => {
  const r = spawnSync(process.execPath, [path.resolve('deploy/check.mjs')], { encoding: 'utf8' });
  expect(r.stderr).not.toContain('FAIL');
  expect(r.stdout + r.stderr).toMatch(/\d+ passed, 0 failed/);
  expect(r.status).toBe(0);
});
