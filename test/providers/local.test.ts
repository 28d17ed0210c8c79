// The local provider on its own (no Temporal): detached jobs, re-attach, signals, preemption
// and teardown, with real processes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ClusterHandle } from '../../core/cluster-state.js';
import { LocalProvider } from '../../providers/local/index.js';
import { alive, waitFor } from '../support/petrel.js';

let home: string;
let provider: LocalProvider;
let handle: ClusterHandle;

beforeEach(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-local-'));
  provider = new LocalProvider({ home });
  handle = await provider.provision({ clusterName: 'c', numNodes: 2, useSpot: false, idempotencyKey: 'k' });
});

afterEach(async () => {
  await provider.terminate(handle);
  fs.rmSync(home, { recursive: true, force: true });
});

const runner = (rank = 0) => provider.runner(handle, handle.nodes[rank]!);

async function finished(key: string, rank = 0) {
  return waitFor(`job ${key}`, async () => {
    const s = await runner(rank).status(key);
    return s.state === 'exited' || s.state === 'lost' ? s : undefined;
  });
}

describe('local provider', () => {
  it('provision is idempotent and gives each node its own directory', async () => {
    const again = await provider.provision({ clusterName: 'c', numNodes: 2, useSpot: false, idempotencyKey: 'k' });
    expect(again).toEqual(handle);
    expect(handle.nodes.map((n) => n.data.dir)).toEqual([path.join(home, 'local/clusters/c/node-0'), path.join(home, 'local/clusters/c/node-1')]);
    expect(await provider.query(handle)).toEqual([
      { rank: 0, state: 'up' },
      { rank: 1, state: 'up' },
    ]);
  });

  it('a detached job records output and exit code; starting it again attaches instead of rerunning', async () => {
    const spec = { key: '1-run', script: 'echo run >> ../runs.txt; echo "out $FOO"; exit 5', env: { FOO: 'bar' } };
    expect(await runner().startDetached(spec)).toEqual({ alreadyStarted: false });
    expect(await runner().startDetached(spec)).toEqual({ alreadyStarted: true });
    expect(await finished('1-run')).toEqual({ state: 'exited', exitCode: 5 });
    expect((await runner().readLog('1-run', 0)).data).toBe('out bar\n');
    expect(fs.readFileSync(path.join(handle.nodes[0]!.data.dir!, 'runs.txt'), 'utf8')).toBe('run\n');
  });

  it('a job keeps running detached and SIGTERM to its group records 143', async () => {
    await runner().startDetached({ key: 'long', script: 'sleep 300 & wait', env: {} });
    await waitFor('running', async () => ((await runner().status('long')).state === 'running' ? true : undefined));
    await new Promise((r) => setTimeout(r, 200));
    await runner().signal('long', 'SIGTERM');
    expect(await finished('long')).toEqual({ state: 'exited', exitCode: 143 });
  });

  it('preempt kills every process on the node and marks it gone', async () => {
    await runner(1).startDetached({ key: 'p', script: 'echo $$ > pid.txt; sleep 300', env: {} });
    const pidFile = path.join(handle.nodes[1]!.data.dir!, 'home', 'pid.txt');
    const pid = await waitFor('pid', () => (fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8')) : undefined));
    expect(await provider.preempt(handle, [1])).toEqual([1]);
    await waitFor('death', () => !alive(pid) || undefined);
    expect(await finished('p', 1)).toEqual({ state: 'lost' });
    expect(await provider.query(handle)).toEqual([
      { rank: 0, state: 'up' },
      { rank: 1, state: 'gone', reason: 'preempted' },
    ]);
  });

  it('terminate kills jobs, removes the nodes, and is idempotent', async () => {
    await runner(0).startDetached({ key: 't', script: 'echo $$ > pid.txt; sleep 300', env: {} });
    const pidFile = path.join(handle.nodes[0]!.data.dir!, 'home', 'pid.txt');
    const pid = await waitFor('pid', () => (fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8')) : undefined));
    await provider.terminate(handle);
    await provider.terminate(handle);
    await waitFor('death', () => !alive(pid) || undefined);
    expect(fs.existsSync(path.join(home, 'local/clusters/c'))).toBe(false);
    expect((await provider.query(handle)).map((n) => n.state)).toEqual(['gone', 'gone']);
  });

  it('log reads from an offset never split a UTF-8 character', async () => {
    await runner().startDetached({ key: 'u', script: "printf 'héllo wörld ✓\\n'", env: {} });
    await finished('u');
    let text = '';
    let offset = 0;
    for (;;) {
      const chunk = await runner().readLog('u', offset, 3);
      if (chunk.nextOffset === offset) break;
      text += chunk.data;
      offset = chunk.nextOffset;
    }
    expect(text).toBe('héllo wörld ✓\n');
  });

  it('workdir upload copies files but skips .git', async () => {
    const src = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-wd-'));
    fs.writeFileSync(path.join(src, 'a.txt'), 'A');
    fs.mkdirSync(path.join(src, '.git'));
    fs.writeFileSync(path.join(src, '.git', 'HEAD'), 'x');
    await runner(1).upload(src, 'sky_workdir');
    const dest = path.join(handle.nodes[1]!.data.dir!, 'home', 'sky_workdir');
    expect(fs.readFileSync(path.join(dest, 'a.txt'), 'utf8')).toBe('A');
    expect(fs.existsSync(path.join(dest, '.git'))).toBe(false);
    fs.rmSync(src, { recursive: true });
  });
});
