// Batched status for SSH node pools (Provider.batchStatus): every node and job a watcher asks
// about, answered with ONE exec per host however many clusters and jobs live there. The
// (job, rank) pairs are grouped by the pooled connection their node is reached through; each
// host gets the list of node dirs and job dirs on stdin and runs BATCH_STATUS_SCRIPT, which
// answers each with the same shell function as a single job's status (jobs.ts). No SFTP, so
// hosts without an SFTP subsystem need nothing special.
import type { ClusterHandle, NodeHandle, NodeStatus } from '../../core/cluster-state.js';
import { clusterDirOf } from '../remote-layout.js';
import { ProviderError, type DetachedJobState, type WatchedJob, type WatchedJobReport } from '../types.js';
import { label, QUICK, SshPool, type ExecResult, type SshTarget } from './connection.js';
import { BATCH_STATUS_SCRIPT, parseJobState } from './jobs.js';
import { bashCommand, jobDirOf } from './runner.js';

export interface BatchStatusContext {
  pool: SshPool;
  knownHostsFile: string;
  /** how long a connected host may take to answer (query()'s probe timeout) */
  timeoutMs: number;
  nodeTarget(node: NodeHandle): SshTarget;
}

/** One shell's share of a batch: BATCH_STATUS_SCRIPT's request lines (deduplicated) and, once asked, the answers. */
export interface BatchRequests {
  lines: string[];
  lineOf: Map<string, number>;
  /** answer per line; undefined where the host did not answer */
  answers: Array<string | undefined>;
}

export function newBatchRequests(): BatchRequests {
  return { lines: [], lineOf: new Map(), answers: [] };
}

/** One host's share of the batch. */
interface HostRound extends BatchRequests {
  target: SshTarget;
}

/** Where one (job, rank) pair finds its answers. */
type Slot = { missing: true } | { round: HostRound; node: number; job: number | undefined };

/**
 * The directory query() tests for a node (a handle from before node dirs tests the home, as
 * query() always has), and the one its runner keeps jobs under.
 */
function nodeDirs(handle: ClusterHandle, node: NodeHandle): { nodeDir: string; home: string } {
  return { nodeDir: node.data.dir ?? '.', home: node.data.dir ?? clusterDirOf(handle.clusterName) };
}

/** The index of the answer to `line` (`n <dir>` or `j <dir>`), asking it once however often it is wanted. */
export function request(round: BatchRequests, line: string): number {
  // One request is one stdin line: a path with a newline cannot be asked about (and no path
  // Petrel creates has one), so a handle carrying one is malformed.
  if (/[\n\0]/.test(line)) throw new ProviderError('config', `cannot ask about ${JSON.stringify(line.slice(2))}: the path has a newline or NUL in it`);
  let i = round.lineOf.get(line);
  if (i === undefined) {
    i = round.lines.length;
    round.lines.push(line);
    round.lineOf.set(line, i);
  }
  return i;
}

export async function sshBatchStatus(ctx: BatchStatusContext, jobs: WatchedJob[]): Promise<WatchedJobReport[]> {
  const rounds = new Map<string, HostRound>();
  const slots: Slot[][] = jobs.map((job) =>
    job.ranks.map((rank): Slot => {
      const node = job.handle.nodes.find((n) => n.rank === rank);
      if (!node) return { missing: true };
      const target = ctx.nodeTarget(node);
      const hostKey = SshPool.keyOf(target, ctx.knownHostsFile);
      let round = rounds.get(hostKey);
      if (!round) {
        round = { target, ...newBatchRequests() };
        rounds.set(hostKey, round);
      }
      const { nodeDir, home } = nodeDirs(job.handle, node);
      let jobDir: string | undefined;
      try {
        jobDir = jobDirOf(home, job.key);
      } catch {
        // a key no job can have been started under: nothing to ask, the answer is `unknown`
      }
      return { round, node: request(round, `n ${nodeDir}`), job: jobDir === undefined ? undefined : request(round, `j ${jobDir}`) };
    }),
  );

  await Promise.all([...rounds.values()].map(async (round) => {
    const out = await askHost(ctx, round.target, round.lines);
    if (out !== undefined) recordAnswers(round, out);
  }));

  return jobs.map((job, j) => {
    const nodes: NodeStatus[] = [];
    const states: DetachedJobState[] = [];
    job.ranks.forEach((rank, i) => {
      const slot = slots[j]![i]!;
      if ('missing' in slot) {
        // the handle has no such node: nothing of it exists to be asked about
        nodes.push({ rank, state: 'gone', reason: 'terminated' });
        states.push({ state: 'unknown' });
        return;
      }
      const up = slot.round.answers[slot.node];
      nodes.push(nodeAnswer(rank, up));
      const answer = slot.job === undefined ? undefined : slot.round.answers[slot.job];
      states.push(answer === undefined ? { state: 'unknown' } : parseJobState(answer));
    });
    return { nodes, jobs: states };
  });
}

/**
 * A node dir's answer. [interruption marker] `preempted <notice>`: a spot-interruption watcher
 * (providers/vm/interruption.ts) saw the cloud's notice; the instance may still run for a
 * minute or two, but the node is lost, and saying so now lets recovery start before it dies.
 */
function nodeAnswer(rank: number, up: string | undefined): NodeStatus {
  if (up === 'up') return { rank, state: 'up' };
  if (up === 'gone') return { rank, state: 'gone', reason: 'terminated' };
  if (up?.startsWith('preempted')) {
    const notice = up.slice('preempted'.length).trim();
    return { rank, state: 'gone', reason: 'preempted', detail: `spot interruption notice${notice ? `: ${notice}` : ''}` };
  }
  return { rank, state: 'gone', reason: 'unreachable' };
}

/** BATCH_STATUS_SCRIPT's `petrel:<line> <answer>` lines into `round.answers`; other lines are left for the caller. */
export function recordAnswers(round: BatchRequests, stdout: string): void {
  for (const line of stdout.split('\n')) {
    const m = /^petrel:(\d+) (.*)$/.exec(line);
    if (m) round.answers[Number(m[1])] = m[2];
  }
}

/**
 * The host's answers (BATCH_STATUS_SCRIPT's stdout), or undefined when it does not answer in
 * time. Connecting follows QUICK, as query() does. The deadline also covers waiting for a free
 * channel and opening it, which exec's own timeout does not: a pooled connection to a host
 * that froze would otherwise hold the whole batch for the 20 s channel-open limit. The
 * abandoned exec is left to that limit (the connection is shared; other operations on it
 * may be fine, only slow to get a channel).
 */
async function askHost(ctx: BatchStatusContext, target: SshTarget, lines: string[]): Promise<string | undefined> {
  const command = bashCommand(BATCH_STATUS_SCRIPT);
  const stdin = `${lines.join('\n')}\n`;
  // The script takes ~0.1 ms a line; a millisecond a line keeps a host with thousands of jobs
  // from timing out (and losing its connection) on every round.
  const timeoutMs = ctx.timeoutMs + lines.length;
  try {
    const r = await ctx.pool.use(target, { knownHostsFile: ctx.knownHostsFile, policy: QUICK }, (c) =>
      new Promise<ExecResult>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new ProviderError('transient', `${label(target)} did not answer within ${timeoutMs / 1000}s`)),
          timeoutMs,
        );
        c.exec(command, { stdin, timeoutMs, onTimeout: 'fail' })
          .then(resolve, reject)
          .finally(() => clearTimeout(timer));
      }),
    );
    return r.stdout.toString('utf8');
  } catch (err) {
    // One reinstalled host (a changed key) must not make every job of the pool look
    // unreachable: it is that host's nodes that cannot be asked. The user sees why in the
    // worker's log, and in the job's message once the unreachable grace has passed.
    if (err instanceof ProviderError && err.kind === 'config') reportOnce(`${label(target)}: ${err.message}`);
    return undefined;
  }
}

const reported = new Set<string>();
function reportOnce(problem: string): void {
  if (reported.has(problem)) return;
  reported.add(problem);
  console.error(`petrel worker: batched status: ${problem}`);
}
