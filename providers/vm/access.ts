// Reaching cloud VMs once they run: the existing SSH runner and pooled connections
// (providers/ssh), host keys kept per instance, a wait for sshd after boot, and the batched
// status that asks the cloud about instances first and SSH only about the running ones.
//
// Host keys: clouds hand a released IP to the next instance that asks, so a host key
// recorded per address would refuse a perfectly good new machine. Each instance has its own
// known_hosts file ($PETREL_HOME/known_hosts.d/<instance id>): a new instance on an old IP is
// met for the first time, while a changed key on the SAME instance is still refused.
import fs from 'node:fs';
import path from 'node:path';
import type { ClusterHandle, NodeHandle, NodeStatus } from '../../core/cluster-state.js';
import { sshBatchStatus } from '../ssh/batch-status.js';
import { label, QUICK, sharedPool, type SshPool } from '../ssh/connection.js';
import { bashCommand, SshRunner } from '../ssh/runner.js';
import { ProviderError, type DetachedJobState, type WatchedJob, type WatchedJobReport } from '../types.js';
import { startInterruptionWatcher, type InterruptionEndpoint } from './interruption.js';
import { vmTarget } from './nodes.js';

/** What the cloud says about one instance (keyed by instance id). */
export interface InstanceState {
  state: NodeStatus['state'];
  reason?: NodeStatus['reason'];
  detail?: string;
}

export type InstanceStates = (handles: ClusterHandle[]) => Promise<Map<string, InstanceState>>;

const PROBE_TIMEOUT_MS = 5_000;
const RETRY_MS = 1_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class VmAccess {
  readonly home: string;
  readonly pool: SshPool;

  constructor(opts: { home: string; pool?: SshPool }) {
    this.home = opts.home;
    this.pool = opts.pool ?? sharedPool;
  }

  knownHostsFile(node: NodeHandle): string {
    const id = node.data.instance_id ?? node.id;
    return path.join(this.home, 'known_hosts.d', id.replace(/[^A-Za-z0-9._-]/g, '_'));
  }

  runner(_handle: ClusterHandle, node: NodeHandle): SshRunner {
    return new SshRunner({ target: vmTarget(node), home: node.data.dir ?? '', knownHostsFile: this.knownHostsFile(node), pool: this.pool });
  }

  /**
   * Waits until every node runs `true` over SSH, then creates its node dir. A fresh instance
   * refuses connections, or even our key, for a while as it boots (cloud-init installs the key
   * after sshd starts), so everything but a changed host key is retried until the deadline.
   * `deadlineMs` is a Date.now() time; a value below 10^12 is taken as a duration from now.
   */
  async waitForSsh(handle: ClusterHandle, nodes: NodeHandle[], deadlineMs: number): Promise<void> {
    const deadline = deadlineMs < 1e12 ? Date.now() + deadlineMs : deadlineMs;
    await Promise.all(
      nodes.map(async (node) => {
        const target = vmTarget(node);
        const dir = node.data.dir ?? '.';
        for (let attempt = 1; ; attempt++) {
          try {
            const r = await this.pool.use(target, { knownHostsFile: this.knownHostsFile(node), policy: QUICK }, (c) =>
              c.exec(bashCommand('mkdir -p -- "$1/.petrel"', [dir]), { timeoutMs: PROBE_TIMEOUT_MS * 2, onTimeout: 'fail' }),
            );
            if (r.exitCode === 0) return;
            throw new ProviderError('transient', `creating ${dir} failed: ${r.stderr.toString().trim() || `exit code ${r.exitCode}`}`);
          } catch (err) {
            const e = err instanceof ProviderError ? err : new ProviderError('transient', (err as Error).message);
            if (/host key .* changed/.test(e.message)) throw e;
            if (Date.now() + RETRY_MS >= deadline) {
              throw new ProviderError(e.kind, `${handle.clusterName}: node ${node.rank} (${node.data.instance_id ?? node.id}, ${label(target)}) is not reachable over SSH after ${attempt} attempt(s): ${e.message}`);
            }
            await sleep(RETRY_MS);
          }
        }
      }),
    );
  }

  /** Starts the spot-interruption watcher on each node (see interruption.ts); idempotent. */
  async startWatchers(handle: ClusterHandle, nodes: NodeHandle[], endpoint: InterruptionEndpoint): Promise<void> {
    await Promise.all(nodes.map((node) => startInterruptionWatcher(this.runner(handle, node), node, endpoint)));
  }

  /** Forgets the host keys of a cluster's instances (after terminate: their ids never come back). */
  forget(nodes: NodeHandle[]): void {
    for (const node of nodes) fs.rmSync(this.knownHostsFile(node), { force: true });
  }

  /**
   * Nodes and jobs of many clusters: the cloud's answer first (`instanceStates`, one call for
   * every handle), so nodes it says are not running are reported from it (preempted, with its
   * detail) without SSH; the running ones with ONE exec per instance (sshBatchStatus), which
   * also tells a node whose watcher saw an interruption notice. Never throws for one node;
   * throws what `instanceStates` throws (the cloud cannot be asked).
   */
  async batchStatus(jobs: WatchedJob[], instanceStates: InstanceStates): Promise<WatchedJobReport[]> {
    const handles = [...new Set(jobs.map((j) => j.handle))];
    const cloud = await instanceStates(handles);
    const reports: WatchedJobReport[] = jobs.map((j) => ({ nodes: new Array<NodeStatus>(j.ranks.length), jobs: new Array<DetachedJobState>(j.ranks.length) }));
    /** per instance: the (job, rank) pairs to ask its sshd about */
    const perInstance = new Map<string, { node: NodeHandle; asks: Array<{ job: number; i: number; watched: WatchedJob }> }>();
    jobs.forEach((job, j) => {
      job.ranks.forEach((rank, i) => {
        const node = job.handle.nodes.find((n) => n.rank === rank);
        const id = node?.data.instance_id;
        const state: InstanceState | undefined = !node || !id ? { state: 'gone', reason: 'terminated' } : (cloud.get(id) ?? { state: 'gone', reason: 'terminated', detail: `instance ${id} no longer exists` });
        if (state.state !== 'up' || !node || !id) {
          reports[j]!.nodes[i] = { rank, state: state.state, ...(state.reason ? { reason: state.reason } : {}), ...(state.detail ? { detail: state.detail } : {}) };
          reports[j]!.jobs[i] = { state: 'unknown' };
          return;
        }
        let entry = perInstance.get(id);
        if (!entry) perInstance.set(id, (entry = { node, asks: [] }));
        entry.asks.push({ job: j, i, watched: { handle: job.handle, key: job.key, ranks: [rank] } });
      });
    });
    await Promise.all(
      [...perInstance.values()].map(async ({ node, asks }) => {
        const answers = await sshBatchStatus(
          { pool: this.pool, knownHostsFile: this.knownHostsFile(node), timeoutMs: PROBE_TIMEOUT_MS, nodeTarget: vmTarget },
          asks.map((a) => a.watched),
        );
        asks.forEach((a, k) => {
          reports[a.job]!.nodes[a.i] = answers[k]!.nodes[0]!;
          reports[a.job]!.jobs[a.i] = answers[k]!.jobs[0]!;
        });
      }),
    );
    return reports;
  }
}
