// Batched status for local nodes: every watched job of a region in one pass, cheap enough to
// repeat every second for ten thousand jobs. A running job's wrapper is alive, and everything
// that ends a job (its exit, a preemption, a stop, a teardown) ends the wrapper, so while
// nothing changes the pass costs a set lookup per job for wrappers this worker started (Node
// reaps them and says so) and one kill(pid, 0) for those an earlier worker left; only jobs
// whose wrapper is gone are looked at closely. Unreachable nodes (a simulated network blip
// that kills nothing) are listed in one directory, read once per pass.
import fs from 'node:fs';
import path from 'node:path';
import type { NodeStatus } from '../../core/cluster-state.js';
import type { DetachedJobState, WatchedJob, WatchedJobReport } from '../types.js';
import { detachedJobState, isRunningChild, jobDir, leaderAlive, processExists, readPid } from './detached-jobs.js';
import { nodeStatusOf } from './node-status.js';
import { JOBS_DIR, nodeDir, unreachableIndexDir, unreachableIndexName } from './paths.js';

/**
 * A wrapper an earlier worker started (an orphan now) is re-verified against /proc this often:
 * a zombie or a reused pid still answers kill(pid, 0), and PID 1 in some containers never
 * reaps orphans.
 */
const VERIFY_ORPHAN_MS = 5_000;

interface KnownWrapper {
  pid: number;
  /** the job's directory, where its wrapper's pid and state are */
  dir: string;
  /** the last pass that asked about it: a job nobody watches any more is forgotten */
  askedAt: number;
  verifyAt: number;
  /** started by this process: running exactly while Node has not reported its exit */
  ownChild: boolean;
}

/** Per node directory and key; dropped when the job is seen ended. Shared by every watcher of this worker. */
const wrappers = new Map<string, KnownWrapper>();

/**
 * What a pass needs of a watched job, worked out once: watchers hand in the same objects
 * every second, and at ten thousand jobs any per-job string or array built per pass shows.
 */
interface JobPlan {
  ranks: { rank: number; dir: string; wrapperId: string; unreachableName: string }[];
  /** the report while every node is up and every wrapper lives: the same object each pass */
  running: WatchedJobReport;
}

const plans = new WeakMap<WatchedJob, JobPlan>();

function planOf(home: string, job: WatchedJob): JobPlan {
  let plan = plans.get(job);
  if (!plan) {
    plan = {
      ranks: job.ranks.map((rank) => {
        const dir = job.handle.nodes.find((n) => n.rank === rank)?.data.dir ?? nodeDir(home, job.handle.clusterName, rank);
        return { rank, dir, wrapperId: `${dir}\0${job.key}`, unreachableName: unreachableIndexName(job.handle.clusterName, rank) };
      }),
      running: Object.freeze({
        nodes: Object.freeze(job.ranks.map((rank) => Object.freeze({ rank, state: 'up' as const }))) as NodeStatus[],
        jobs: Object.freeze(job.ranks.map(() => RUNNING)) as DetachedJobState[],
      }),
    };
    plans.set(job, plan);
  }
  return plan;
}

const RUNNING: DetachedJobState = Object.freeze({ state: 'running' });

/** Wrappers no pass asked about for this long are forgotten (their job was unwatched). */
const FORGET_AFTER_MS = 120_000;
let forgottenAt = 0;

export function localBatchStatus(home: string, jobs: WatchedJob[], now = Date.now()): WatchedJobReport[] {
  if (now - forgottenAt > FORGET_AFTER_MS) {
    for (const [id, w] of wrappers) if (now - w.askedAt > FORGET_AFTER_MS) wrappers.delete(id);
    forgottenAt = now;
  }
  const unreachable = unreachableUntil(home, now);
  const reports = new Array<WatchedJobReport>(jobs.length);
  for (let j = 0; j < jobs.length; j++) {
    const job = jobs[j]!;
    const plan = planOf(home, job);
    let allRunning = true;
    for (const r of plan.ranks) {
      if ((unreachable.size > 0 && unreachable.has(r.unreachableName)) || !stillRunning(r.wrapperId, now)) {
        allRunning = false;
        break;
      }
    }
    reports[j] = allRunning ? plan.running : slowReport(plan, job.key, unreachable, now);
  }
  return reports;
}

/** A job some node of which is unreachable, or whose wrapper is not known to live: looked at closely. */
function slowReport(plan: JobPlan, key: string, unreachable: Set<string>, now: number): WatchedJobReport {
  const nodes: NodeStatus[] = [];
  const states: DetachedJobState[] = [];
  for (const r of plan.ranks) {
    if (unreachable.has(r.unreachableName)) {
      nodes.push({ rank: r.rank, state: 'gone', reason: 'unreachable' });
      states.push({ state: 'unknown' });
      continue;
    }
    const state = stillRunning(r.wrapperId, now) ? RUNNING : jobState(r.dir, r.wrapperId, key, now);
    states.push(state);
    nodes.push(state.state === 'running' ? { rank: r.rank, state: 'up' } : nodeStatusOf(r.dir, r.rank));
  }
  return { nodes, jobs: states };
}

/** The known wrapper lives (re-verified against /proc when due); false says: look at its files. */
function stillRunning(wrapperId: string, now: number): boolean {
  const known = wrappers.get(wrapperId);
  if (!known) return false;
  known.askedAt = now;
  if (known.ownChild) return isRunningChild(known.pid);
  if (!processExists(known.pid)) return false;
  if (now < known.verifyAt) return true;
  if (!leaderAlive(known.dir, known.pid)) return false;
  known.verifyAt = nextVerification(now);
  return true;
}

function jobState(nodeDirectory: string, wrapperId: string, key: string, now: number): DetachedJobState {
  wrappers.delete(wrapperId);
  const jobs = path.join(nodeDirectory, JOBS_DIR);
  const state = detachedJobState(jobs, key);
  if (state.state === 'running') {
    const dir = jobDir(jobs, key);
    const pid = readPid(dir);
    if (pid !== undefined) {
      const ownChild = isRunningChild(pid);
      wrappers.set(wrapperId, { pid, dir, ownChild, askedAt: now, verifyAt: nextVerification(now) });
    }
  }
  return state;
}

/** Spread over the interval, so ten thousand jobs started together are not all verified in one pass. */
function nextVerification(now: number): number {
  return now + VERIFY_ORPHAN_MS * (0.5 + Math.random() / 2);
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
