// Batched status for Kubernetes: per context and namespace, ONE pod WATCH by Petrel's label (and
// one node WATCH, where RBAC allows it, so a pod bound to a vanished node counts as lost; see
// watch-cache.ts) answers for every watched node; the jobs' own states (exit codes live in files
// in the pod) come from one exec per pod, asking about all of that pod's watched jobs at once.
//
// Exec is the expensive part (a stream through the API server to the kubelet), so a pod whose
// jobs were running at the last look is asked again only after a pause that grows with how long
// they have been running: every round for the first seconds (short jobs end as fast as a poll
// sees it), then up to every JOB_RECHECK_MAX_MS. A pod that is lost or replaced shows in the
// watch by the very next round, whatever the pause. The pauses live in this module, so they
// outlast the provider objects a watcher creates per round.
import type { V1Pod } from '@kubernetes/client-node';
import type { NodeStatus } from '../../core/cluster-state.js';
import type { DetachedJobState, WatchedJob, WatchedJobReport } from '../types.js';
import { parseJobState } from '../ssh/jobs.js';
import { jobDirOf } from '../ssh/runner.js';
import { mapLimit } from '../concurrency.js';
import type { ContextClients } from './client.js';
import { podExec, PodGoneError } from './exec.js';
import { BATCH_SCRIPT } from './node-scripts.js';
import { CONTAINER, MANAGED_SELECTOR } from './pods.js';
import { nodeStatusOf } from './pod-state.js';
import { nodeCache, podCache } from './watch-cache.js';

/** The longest pause between two looks at a running job. */
export const JOB_RECHECK_MAX_MS = 20_000;
/** Watched for less than this: asked every round. */
const EAGER_MS = 10_000;
/** Execs in flight at once per context. */
const EXEC_CONCURRENCY = 16;

interface Seen {
  firstRunningAt: number;
  jitter: number;
  checkedAt: number;
  state: DetachedJobState;
}
const lastLook = new Map<string, Seen>();

/** `jitter` (0.8–1.2, one per job) spreads jobs started together (a sweep) over the rounds. */
function recheckDelayMs(watchedForMs: number, jitter: number): number {
  if (watchedForMs < EAGER_MS) return 0;
  return Math.min(JOB_RECHECK_MAX_MS, Math.round(watchedForMs / 10)) * jitter;
}

/** How a node handle names its pod. */
export interface PodRef {
  context: string;
  namespace: string;
  pod: string;
  uid?: string;
  /** the node home, relative to $HOME in the container */
  home: string;
}

export function podRefOf(data: Record<string, string>): PodRef | undefined {
  const { context, namespace, pod, uid, dir } = data;
  if (!context || !namespace || !pod || !dir) return undefined;
  return { context, namespace, pod, ...(uid ? { uid } : {}), home: dir };
}

export async function kubernetesBatchStatus(jobs: WatchedJob[], clients: (context: string) => ContextClients, now = Date.now): Promise<WatchedJobReport[]> {
  const reports: WatchedJobReport[] = jobs.map((j) => ({ nodes: j.ranks.map((rank) => ({ rank, state: 'gone', reason: 'unreachable' }) as NodeStatus), jobs: j.ranks.map(() => ({ state: 'unknown' }) as DetachedJobState) }));

  // Every (job, rank) by the pod it lives in, pods by context and namespace.
  interface Slot { job: number; index: number; key: string }
  const byScope = new Map<string, { context: string; namespace: string; pods: Map<string, { ref: PodRef; slots: Slot[] }> }>();
  jobs.forEach((j, job) => {
    j.ranks.forEach((rank, index) => {
      const node = j.handle.nodes.find((n) => n.rank === rank);
      const ref = node && podRefOf(node.data);
      if (!ref) {
        reports[job]!.nodes[index] = { rank, state: 'gone', reason: 'terminated', detail: 'not a Kubernetes node' };
        return;
      }
      const scopeKey = `${ref.context}\n${ref.namespace}`;
      const scope = byScope.get(scopeKey) ?? { context: ref.context, namespace: ref.namespace, pods: new Map() };
      byScope.set(scopeKey, scope);
      const pod = scope.pods.get(ref.pod) ?? { ref, slots: [] };
      scope.pods.set(ref.pod, pod);
      pod.slots.push({ job, index, key: j.key });
    });
  });

  await Promise.all(
    [...byScope.values()].map(async (scope) => {
      let nodeNames: Set<string> | undefined;
      let deleted = new Map<string, V1Pod>();
      let c: ContextClients;
      let pods: Map<string, V1Pod>;
      try {
        c = clients(scope.context);
        const cacheKey = `${scope.context}\n${c.kc.getCurrentCluster()?.server ?? ''}`;
        const list = () => c.core.listNamespacedPod({ namespace: scope.namespace, labelSelector: MANAGED_SELECTOR });
        const view = await podCache(cacheKey, c.kc, scope.namespace, MANAGED_SELECTOR, list).view();
        pods = view?.items ?? new Map((await list()).items.map((p) => [p.metadata?.name ?? '', p]));
        deleted = view?.deleted ?? new Map();
        // Not every team may list nodes (RBAC): then only the pods decide.
        const nodes = await nodeCache(cacheKey, c.kc, () => c.core.listNode()).snapshot(500);
        nodeNames = nodes ? new Set(nodes.keys()) : undefined;
      } catch {
        return; // the scope cannot be asked: every node stays unreachable, the watcher's grace applies
      }
      const toAsk: Array<{ ref: PodRef; slots: Slot[] }> = [];
      for (const { ref, slots } of scope.pods.values()) {
        const status = nodeStatusOf(0, ref.uid, pods.get(ref.pod), nodeNames, deleted.get(ref.pod));
        for (const s of slots) reports[s.job]!.nodes[s.index] = { ...status, rank: jobs[s.job]!.ranks[s.index]! };
        if (status.state !== 'up') continue;
        const due = slots.filter((s) => {
          const seen = lastLook.get(lookKey(scope.context, ref, s.key));
          if (!seen || seen.state.state !== 'running') return true;
          if (now() - seen.checkedAt >= recheckDelayMs(now() - seen.firstRunningAt, seen.jitter)) return true;
          reports[s.job]!.jobs[s.index] = seen.state;
          return false;
        });
        if (due.length) toAsk.push({ ref, slots: due });
      }
      await mapLimit(toAsk, EXEC_CONCURRENCY, async ({ ref, slots }) => {
        const lines = slots.map((s) => `j ${jobDirOf(ref.home, s.key)}\n`).join('');
        const stdin = Buffer.from(lines, 'utf8');
        let answers: string[];
        try {
          const r = await podExec({ kc: c.kc, namespace: ref.namespace, pod: ref.pod, container: CONTAINER, where: c.where }, ['bash', '-c', BATCH_SCRIPT, 'petrel', String(stdin.length)], { stdin, timeoutMs: 20_000 });
          if (r.exitCode !== 0) throw new Error(r.stderr.trim() || `exit code ${r.exitCode}`);
          answers = r.stdout.split('\n');
        } catch (err) {
          // Gone since the watch last told (the API server says so): lost. Otherwise the pod is
          // there but does not answer: unreachable (the watcher's grace applies) and its jobs
          // unknown, never "ended".
          const status: NodeStatus =
            err instanceof PodGoneError
              ? { rank: 0, state: 'gone', reason: 'preempted', detail: 'the pod was deleted' }
              : { rank: 0, state: 'gone', reason: 'unreachable', detail: `pod ${ref.pod} does not answer: ${(err as Error).message}` };
          for (const s of slots) reports[s.job]!.nodes[s.index] = { ...status, rank: jobs[s.job]!.ranks[s.index]! };
          return;
        }
        const byLine = new Map<number, string>();
        for (const a of answers) {
          const m = /^petrel:(\d+) (.*)$/.exec(a);
          if (m) byLine.set(Number(m[1]), m[2]!);
        }
        slots.forEach((s, i) => {
          const answer = byLine.get(i);
          const state: DetachedJobState = answer === undefined ? { state: 'unknown' } : parseJobState(answer);
          reports[s.job]!.jobs[s.index] = state;
          const k = lookKey(scope.context, ref, s.key);
          if (state.state === 'running') {
            const prev = lastLook.get(k);
            lastLook.set(k, { firstRunningAt: prev?.firstRunningAt ?? now(), jitter: prev?.jitter ?? 0.8 + 0.4 * Math.random(), checkedAt: now(), state });
          } else lastLook.delete(k);
        });
      });
    }),
  );
  forgetStale();
  return reports;
}

function lookKey(context: string, ref: PodRef, key: string): string {
  return `${context}\n${ref.namespace}\n${ref.pod}\n${ref.uid ?? ''}\n${key}`;
}

/** Drops what no watcher asks about any more, so the map stays the size of what is watched. */
let lastSweep = 0;
function forgetStale(): void {
  if (Date.now() - lastSweep < 60_000) return;
  lastSweep = Date.now();
  for (const [k, v] of lastLook) if (Date.now() - v.checkedAt > 10 * JOB_RECHECK_MAX_MS) lastLook.delete(k);
}
