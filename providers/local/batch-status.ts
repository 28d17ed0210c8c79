// Batched status for local nodes: every watched job of a region in one pass, cheap enough to
// repeat every second for ten thousand jobs. A running job's wrapper is alive, and everything
// that ends a job (its exit, a preemption, a stop, a teardown) ends the wrapper, so the pass
// costs one kill(pid, 0) per job while nothing changes; only jobs whose wrapper is gone are
// looked at closely. Unreachable nodes (a simulated network blip that kills nothing) are
// listed in one directory, read once per pass.
import fs from 'node:fs';
import path from 'node:path';
import type { NodeStatus } from '../../core/cluster-state.js';
import type { DetachedJobState, WatchedJob, WatchedJobReport } from '../types.js';
import { detachedJobState, jobDir, leaderAlive, processExists, procStat, readPid } from './detached-jobs.js';
import { nodeStatusOf } from './node-status.js';
import { JOBS_DIR, nodeDir, unreachableIndexDir, unreachableIndexName } from './paths.js';

/**
 * A live wrapper's pid is re-verified against /proc this often: a zombie (an orphan that PID 1
 * has not reaped yet) or a reused pid still answers kill(pid, 0). A wrapper this process
 * started is its child, reaped the moment it ends, so only pid reuse is left to catch there;
 * an orphan (started by a worker that has since died) can linger as a zombie, and PID 1 in some
 * containers never reaps it.
 */
const VERIFY_OWN_CHILD_MS = 30_000;
const VERIFY_ORPHAN_MS = 5_000;

interface KnownWrapper {
  pid: number;
  verifyAt: number;
  ownChild: boolean;
}

/** Per node directory and key; dropped when the job is seen ended. Shared by every watcher of this worker. */
const wrappers = new Map<string, KnownWrapper>();

export function localBatchStatus(home: string, jobs: WatchedJob[], now = Date.now()): WatchedJobReport[] {
  const unreachable = unreachableUntil(home, now);
  return jobs.map((job) => {
    const nodes: NodeStatus[] = [];
    const states: DetachedJobState[] = [];
    for (const rank of job.ranks) {
      const node = job.handle.nodes.find((n) => n.rank === rank);
      const dir = node?.data.dir ?? nodeDir(home, job.handle.clusterName, rank);
      if (unreachable.has(unreachableIndexName(job.handle.clusterName, rank))) {
        nodes.push({ rank, state: 'gone', reason: 'unreachable' });
        states.push({ state: 'unknown' });
        continue;
      }
      const state = jobState(dir, job.key, now);
      states.push(state);
      nodes.push(state.state === 'running' ? { rank, state: 'up' } : nodeStatusOf(dir, rank));
    }
    return { nodes, jobs: states };
  });
}

function jobState(nodeDirectory: string, key: string, now: number): DetachedJobState {
  // Plain concatenation: path.join per job per second adds up at ten thousand jobs.
  const id = `${nodeDirectory}\0${key}`;
  const known = wrappers.get(id);
  if (known && processExists(known.pid)) {
    if (now < known.verifyAt) return { state: 'running' };
    const dir = jobDir(path.join(nodeDirectory, JOBS_DIR), key);
    if (leaderAlive(dir, known.pid)) {
      known.verifyAt = nextVerification(now, known.ownChild);
      return { state: 'running' };
    }
  }
  wrappers.delete(id);
  const jobs = path.join(nodeDirectory, JOBS_DIR);
  const state = detachedJobState(jobs, key);
  if (state.state === 'running') {
    const pid = readPid(jobDir(jobs, key));
    if (pid !== undefined) {
      const ownChild = Number(procStat(pid)?.[1]) === process.pid;
      wrappers.set(id, { pid, ownChild, verifyAt: nextVerification(now, ownChild) });
    }
  }
  return state;
}

/** Spread over the interval, so ten thousand jobs started together are not all verified in one pass. */
function nextVerification(now: number, ownChild: boolean): number {
  return now + (ownChild ? VERIFY_OWN_CHILD_MS : VERIFY_ORPHAN_MS) * (0.5 + Math.random() / 2);
}

/** Nodes that do not answer right now, by index name. */
function unreachableUntil(home: string, now: number): Set<string> {
  const index = unreachableIndexDir(home);
  let names: string[];
  try {
    names = fs.readdirSync(index);
  } catch {
    return new Set();
  }
  const out = new Set<string>();
  for (const name of names) {
    try {
      if (Date.parse(fs.readFileSync(path.join(index, name), 'utf8')) > now) out.add(name);
      else fs.rmSync(path.join(index, name), { force: true });
    } catch {
      // removed by another pass meanwhile
    }
  }
  return out;
}
