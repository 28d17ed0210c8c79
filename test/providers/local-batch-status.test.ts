// The local provider's batched status against real processes: every state a watcher must
// tell apart, in one call, and the cost of a call over thousands of running jobs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterHandle } from '../../core/cluster-state.js';
import { LocalProvider } from '../../providers/local/index.js';
import type { WatchedJob } from '../../providers/types.js';
import { waitFor } from '../support/petrel.js';

let home: string;
let provider: LocalProvider;
const clusters: ClusterHandle[] = [];

async function cluster(name: string, numNodes = 1): Promise<ClusterHandle> {
  const h = await provider.provision({ clusterName: name, numNodes, useSpot: false, idempotencyKey: name });
  clusters.push(h);
  return h;
}

async function start(h: ClusterHandle, key: string, script: string, rank = 0): Promise<void> {
  await provider.runner(h, h.nodes[rank]!).startDetached({ key, script, env: {} });
}

const watch = (handle: ClusterHandle, key: string, ranks = [0]): WatchedJob => ({ handle, key, ranks });

beforeAll(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-local-batch-'));
  provider = new LocalProvider({ home });
});

afterAll(async () => {
  for (const h of clusters) await provider.terminate(h);
  fs.rmSync(home, { recursive: true, force: true });
});

describe('local batchStatus', () => {
  it('tells running, exited, lost, preempted, terminated, stopped and unreachable apart in one call', async () => {
    const run = await cluster('run');
    const ok = await cluster('ok');
    const bad = await cluster('bad');
    const killed = await cluster('killed');
    const preempted = await cluster('preempted');
    const terminated = await cluster('terminated');
    const stopped = await cluster('stopped');
    const silent = await cluster('silent', 2);
    for (const h of [run, killed, preempted, terminated, stopped]) await start(h, 'k', 'sleep 60');
    await start(silent, 'k', 'sleep 60', 0);
    await start(silent, 'k', 'sleep 60', 1);
    await start(ok, 'k', 'true');
    await start(bad, 'k', 'exit 3');
    const all = [run, ok, bad, killed, preempted, terminated, stopped].map((h) => watch(h, 'k'));
    // Seen running once: the cheap path (a cached pid) must still notice every change below.
    await waitFor('the wrappers to record their pids', async () => {
      const r = await provider.batchStatus([watch(run, 'k'), watch(killed, 'k'), watch(preempted, 'k'), watch(stopped, 'k')]);
      return r.every((x) => x.jobs[0]!.state === 'running') && fs.existsSync(path.join(killed.nodes[0]!.data.dir!, 'jobs', 'k', 'pid')) ? true : undefined;
    });
    await waitFor('the short jobs to end', async () => ((await provider.batchStatus(all.slice(1, 3))).every((r) => r.jobs[0]!.state === 'exited') ? true : undefined));

    const pid = Number(fs.readFileSync(path.join(killed.nodes[0]!.data.dir!, 'jobs', 'k', 'pid'), 'utf8'));
    process.kill(-pid, 'SIGKILL');
    await provider.preempt(preempted);
    await provider.terminate(terminated);
    await provider.stop(stopped);
    await provider.makeUnreachable(silent, 1, 60);

    const reports = await waitFor('the killed wrapper to be seen lost', async () => {
      const r = await provider.batchStatus([...all, watch(silent, 'k', [0, 1])]);
      return r[3]!.jobs[0]!.state === 'lost' ? r : undefined;
    });
    expect(reports.map((r) => [r.nodes, r.jobs])).toEqual([
      [[{ rank: 0, state: 'up' }], [{ state: 'running' }]],
      [[{ rank: 0, state: 'up' }], [{ state: 'exited', exitCode: 0 }]],
      [[{ rank: 0, state: 'up' }], [{ state: 'exited', exitCode: 3 }]],
      [[{ rank: 0, state: 'up' }], [{ state: 'lost' }]],
      [[{ rank: 0, state: 'gone', reason: 'preempted' }], [{ state: 'lost' }]],
      [[{ rank: 0, state: 'gone', reason: 'terminated' }], [{ state: 'unknown' }]],
      [[{ rank: 0, state: 'stopped' }], [{ state: 'lost' }]],
      [
        [
          { rank: 0, state: 'up' },
          { rank: 1, state: 'gone', reason: 'unreachable' },
        ],
        [{ state: 'running' }, { state: 'unknown' }],
      ],
    ]);
    // The same answers as query() and the runner give, one node at a time.
    expect(await provider.query(preempted)).toEqual([reports[4]!.nodes[0]]);
    expect(await provider.runner(killed, killed.nodes[0]!).status('k')).toEqual({ state: 'lost' });
  });

  it('one call over 1,000 running jobs is cheap (printed, not asserted)', async () => {
    const watched: WatchedJob[] = [];
    for (let i = 0; i < 1000; i++) {
      const h = await cluster(`many-${i}`);
      await start(h, 'k', 'exec sleep 120');
      watched.push(watch(h, 'k'));
    }
    await waitFor('every wrapper to record its pid', async () => ((await provider.batchStatus(watched)).every((r) => r.jobs[0]!.state === 'running') ? true : undefined), 60_000);
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      const reports = await provider.batchStatus(watched);
      times.push(performance.now() - t);
      expect(reports.every((r) => r.jobs[0]!.state === 'running')).toBe(true);
    }
    console.log(`local batchStatus over 1,000 running jobs: ${times.map((t) => t.toFixed(1)).join(' / ')} ms per call`);
    await Promise.all(clusters.splice(-1000).map((h) => provider.terminate(h)));
  }, 120_000);
});
