// docker-compose.yml cannot run here (no Docker engine): keep it consistent with the code by
// the static checks in deploy/check.mjs (references resolve, search attributes match core/).
// deploy/native/up.sh runs the same services from the same file (test/e2e/team-stack.test.ts
// runs them for real); here, that it reads the file the way compose does.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

it('deploy/check.mjs finds every compose reference and search attribute consistent', () => {
  const r = spawnSync(process.execPath, [path.resolve('deploy/check.mjs')], { encoding: 'utf8' });
  expect(r.stderr).not.toContain('FAIL');
  expect(r.stdout + r.stderr).toMatch(/\d+ passed, 0 failed/);
  expect(r.status).toBe(0);
});

describe("deploy/native/compose.mjs reads a service's settings as compose would", () => {
  const compose = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    spawnSync(process.execPath, [path.resolve('deploy/native/compose.mjs'), ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env } });
  const exports = (out: string) => Object.fromEntries(out.trim().split('\n').map((l) => /^export ([A-Z_0-9]+)='(.*)'$/.exec(l)!.slice(1, 3)));

  it('defaults from ${VAR:-default}, overridden by a set variable; container paths under bind mounts become paths in the checkout', () => {
    const plain = exports(compose(['env', 'temporal']).stdout);
    expect(plain).toMatchObject({ DB: 'postgres12', POSTGRES_USER: 'temporal', POSTGRES_PWD: 'petrel-dev-only', NUM_HISTORY_SHARDS: '128' });
    expect(plain.DYNAMIC_CONFIG_FILE_PATH).toBe(path.resolve('deploy/temporal/dynamicconfig/petrel.yaml'));
    const set = exports(compose(['env', 'temporal'], { POSTGRES_PASSWORD: "it's long", TEMPORAL_HISTORY_SHARDS: '' }).stdout);
    expect(set.POSTGRES_PWD).toBe("it'\\''s long");
    expect(set.NUM_HISTORY_SHARDS).toBe('128'); // set but empty: the default, as compose does
  });

  it("a service's command, one argument per line; an unknown service is a clear error", () => {
    expect(compose(['command', 'postgres']).stdout).toBe('postgres\n-c\nmax_connections=200\n');
    const bad = compose(['env', 'nope']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe('deploy/native/compose.mjs: docker-compose.yml has no service nope\n');
  });
});
