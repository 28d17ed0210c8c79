// What a watcher says about a phase, from the batched reports it sees: each node's end once,
// a gone node at once, an unreachable one only after the grace, and nothing after the end.
// Gang semantics as the job workflows keep them.
import { describe, expect, it } from 'vitest';
import { Gang } from '../../core/gang.js';
import { PhaseTracker, watcherWorkflowId, type PhaseReport, type WatchEntry } from '../../core/phase-watch.js';

const entry = (ranks = [0, 1], graceSeconds = 10): WatchEntry => ({
  workflowId: 'job/1',
  key: '1-1-run',
  handle: { provider: 'local', clusterName: 'job-1-1', region: 'r', nodes: ranks.map((rank) => ({ rank, id: `n${rank}`, ip: '127.0.0.1', data: {} })) },
  ranks,
  graceSeconds,
});
const up = (rank: number) => ({ rank, state: 'up' as const });
const running = { state: 'running' as const };
const report = (nodes: PhaseReport['nodes'], jobs: PhaseReport['jobs']): PhaseReport => ({ nodes, jobs });

describe('PhaseTracker', () => {
  it('says nothing while everything runs, then each node’s exit code once', () => {
    const t = new PhaseTracker(entry());
    expect(t.next(report([up(0), up(1)], [running, running]), 0)).toEqual([]);
    expect(t.next(report([up(0), up(1)], [{ state: 'exited', exitCode: 3 }, running]), 1000)).toEqual([{ kind: 'ended', index: 0, exitCode: 3 }]);
    expect(t.next(report([up(0), up(1)], [{ state: 'exited', exitCode: 3 }, running]), 2000)).toEqual([]);
    expect(t.finished).toBe(false);
    expect(t.next(report([up(0), up(1)], [{ state: 'exited', exitCode: 3 }, { state: 'exited', exitCode: 143 }]), 3000)).toEqual([{ kind: 'ended', index: 1, exitCode: 143 }]);
    expect(t.finished).toBe(true);
    expect(t.next(report([{ rank: 0, state: 'gone', reason: 'preempted' }, up(1)], [{ state: 'unknown' }, running]), 4000)).toEqual([]);
  });

  it('a process that vanished from a node that is still there (up or stopped) ended without an exit code', () => {
    const t = new PhaseTracker(entry());
    const events = t.next(report([up(0), { rank: 1, state: 'stopped' }], [{ state: 'lost' }, { state: 'lost' }]), 0);
    expect(events).toEqual([
      { kind: 'ended', index: 0, exitCode: null },
      { kind: 'ended', index: 1, exitCode: null },
    ]);
    expect(PhaseTracker.vanished(t.entry, events)).toEqual([0, 1]);
  });

  it('a gone node is a loss at once, whatever its process says', () => {
    const t = new PhaseTracker(entry());
    const events = t.next(report([up(0), { rank: 1, state: 'gone', reason: 'preempted' }], [running, { state: 'lost' }]), 0);
    expect(events).toEqual([{ kind: 'nodeLost', nodes: [{ rank: 1, state: 'gone', reason: 'preempted' }], message: 'node 1 is gone (preempted)' }]);
    expect(t.finished).toBe(true);
  });

  it('an unreachable node is a loss only after the grace; answering again resets it', () => {
    const t = new PhaseTracker(entry([0], 10));
    const silent = report([{ rank: 0, state: 'gone', reason: 'unreachable' }], [{ state: 'unknown' }]);
    expect(t.next(silent, 0)).toEqual([]);
    expect(t.next(silent, 9_000)).toEqual([]);
    expect(t.next(report([up(0)], [running]), 9_500)).toEqual([]);
    expect(t.next(silent, 10_000)).toEqual([]);
    expect(t.next(silent, 19_999)).toEqual([]);
    expect(t.next(silent, 20_000)).toEqual([{ kind: 'nodeLost', nodes: [{ rank: 0, state: 'gone', reason: 'unreachable' }], message: 'node 0 unreachable for 10 s' }]);
  });

  it('a process killed by a signal on a node that is going away is part of the loss, not the job\'s exit; a clean exit there still counts', () => {
    const t = new PhaseTracker(entry([0]));
    const notice = { rank: 0, state: 'gone' as const, reason: 'preempted' as const, detail: 'spot interruption notice: EC2 instance-action terminate' };
    expect(t.next(report([notice], [{ state: 'exited', exitCode: 143 }]), 0)).toEqual([
      { kind: 'nodeLost', nodes: [notice], message: 'node 0 is gone (preempted: spot interruption notice: EC2 instance-action terminate)' },
    ]);
    const done = new PhaseTracker(entry([0]));
    expect(done.next(report([notice], [{ state: 'exited', exitCode: 0 }]), 0).map((e) => e.kind)).toEqual(['ended', 'nodeLost']);
    const unreachable = new PhaseTracker(entry([0]));
    expect(unreachable.next(report([{ rank: 0, state: 'gone', reason: 'unreachable' }], [{ state: 'exited', exitCode: 143 }]), 0)).toEqual([{ kind: 'ended', index: 0, exitCode: 143 }]);
  });

  it('an exit seen with a loss in the same report is told first', () => {
    const t = new PhaseTracker(entry());
    const events = t.next(report([up(0), { rank: 1, state: 'gone', reason: 'terminated' }], [{ state: 'exited', exitCode: 0 }, { state: 'unknown' }]), 0);
    expect(events.map((e) => e.kind)).toEqual(['ended', 'nodeLost']);
  });

  it('watcher ids name the provider, the region and, for nodes only one worker reaches, its queue', () => {
    expect(watcherWorkflowId({ provider: 'ssh', region: 'pool-a' })).toBe('watch/ssh/pool-a');
    expect(watcherWorkflowId({ provider: 'local', region: 'region-b', queue: 'petrel-worker/abc' })).toBe('watch/local/region-b/petrel-worker/abc');
  });
});

describe('Gang', () => {
  it('the first failure decides the exit code and stops the rest once', () => {
    const g = new Gang(3);
    g.ended(1, 3);
    expect(g.takeNodesToStop()).toEqual([0, 2]);
    expect(g.takeNodesToStop()).toEqual([]);
    g.ended(0, 143);
    g.ended(2, 143);
    g.ended(2, 0); // a repeat is ignored
    expect(g.allDone).toBe(true);
    expect(g.exitCode).toBe(3);
    expect(g.exitCodes).toEqual([143, 3, 143]);
  });

  it('every node succeeding is 0; a vanished node is a failure without a code', () => {
    const ok = new Gang(2);
    ok.ended(0, 0);
    ok.ended(1, 0);
    expect([ok.allDone, ok.exitCode, ok.takeNodesToStop()]).toEqual([true, 0, []]);
    const vanished = new Gang(2);
    vanished.ended(0, null);
    expect(vanished.exitCode).toBeNull();
    expect(vanished.takeNodesToStop()).toEqual([1]);
  });
});
