// Activities of the cluster workflow: thin wrappers over a provider that add heartbeats,
// cancellation and the mapping of provider errors to typed failures.
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { ClusterHandle, NodeStatus, WorkerRef } from '../core/cluster-state.js';
import { FAILURE_TYPES } from '../core/failures.js';
import { getProvider, type ProviderContext } from '../providers/registry.js';
import { ProviderError, type CommandRunner, type DetachedJobState, type ProvisionRequest } from '../providers/types.js';
import { mapProviderErrors } from './failures.js';
import { uploadMount, type UploadDirectory } from './file-mounts.js';
import { GangWatch, NodeHealth } from './gang-watch.js';
import { releaseHosts, leaseHosts } from './host-leases.js';
import { withHeartbeats } from './heartbeats.js';
import { archivedLogPath, archiveLog, clearArchivedLogs } from './log-archive.js';
import { sealNodeKeys, withPortableKeys } from './portable-keys.js';
import { withPrice } from './pricing.js';
import { openSecrets } from './secrets.js';
import { workerIdentity } from './worker-identity.js';

export interface RunOnNodesRequest {
  handle: ClusterHandle;
  key: string;
  script: string;
  /** env of each node, by position in `ranks` */
  envByRank: Record<string, string>[];
  sealedSecrets: Record<string, string>;
  cwd?: string;
  ranks: number[];
  /** a node that does not answer for longer than this counts as lost (default 30 s) */
  unreachableGraceSeconds?: number;
}

export interface RunOnNodesResult {
  /** by position in `ranks`; null where the process vanished without an exit code */
  exitCodes: (number | null)[];
  /** the job's exit code: 0, or that of the first node seen failing (gang semantics) */
  exitCode: number | null;
  /**
   * The worker whose PETREL_HOME holds this phase's log archive (absent in results recorded
   * before workers had queues of their own). A preemption failure carries it as its second detail.
   */
  archivedBy?: WorkerRef;
}

/** Fast polls first, so short jobs finish quickly; slower later, so long jobs cost little. */
function pollDelayMs(elapsedMs: number): number {
  if (elapsedMs < 3_000) return 50;
  if (elapsedMs < 30_000) return 250;
  if (elapsedMs < 300_000) return 1_000;
  return 2_000;
}

/** Heartbeats are throttled by the SDK anyway; not calling it on every poll saves CPU at scale. */
const HEARTBEAT_EVERY_MS = 3_000;

export function createClusterActivities(ctx: ProviderContext) {
  const provider = (name: string) => withPortableKeys(getProvider(name, ctx), ctx.home);
  const me = workerIdentity(ctx.home);

  async function provisionCluster(req: ProvisionRequest & { provider: string }): Promise<ClusterHandle> {
    // Provisioning happens before any job of this cluster runs, so its archive can only be stale.
    clearArchivedLogs(ctx.home, req.clusterName);
    // This worker provisioned the nodes: what only it can reach (local node directories) goes
    // through its own task queue.
    const handle = sealNodeKeys(withPrice(await provisionNodes(req), req), ctx.home);
    return { ...handle, worker: me };
  }

  function provisionNodes(req: ProvisionRequest & { provider: string }): Promise<ClusterHandle> {
    return withHeartbeats(() =>
      mapProviderErrors(async () => {
        const p = provider(req.provider);
        if (!p.leasableHosts) return p.provision(req);
        const { pool, hosts } = await p.leasableHosts(req.region);
        const leased = await leaseHosts({ cloud: req.provider, pool, cluster: req.clusterName, count: req.numNodes, hosts });
        try {
          return await p.provision({ ...req, region: pool, hosts: leased });
        } catch (err) {
          // Hand the hosts back: a retry leases again from those that answer then.
          await releaseHosts(req.provider, pool, req.clusterName);
          if (err instanceof ProviderError && err.kind === 'transient') throw new ProviderError('capacity', err.message, 'region');
          throw err;
        }
      }),
    );
  }

  /** The workdir to ~/sky_workdir and every file mount to its destination, on every node. */
  async function syncWorkdir(req: { handle: ClusterHandle; localDir?: string; fileMounts?: Record<string, string> }): Promise<void> {
    await withHeartbeats(() =>
      mapProviderErrors(async () => {
        const p = provider(req.handle.provider);
        const { handle } = req;
        // Providers that know which nodes share a filesystem send the files once per filesystem.
        const uploads: UploadDirectory[] = p.uploadToNodes
          ? [(local, remote) => p.uploadToNodes!(handle, handle.nodes, local, remote)]
          : handle.nodes.map((n) => {
              const runner = p.runner(handle, n);
              return (local, remote) => runner.upload(local, remote);
            });
        await Promise.all(
          uploads.map(async (upload) => {
            if (req.localDir) await upload(req.localDir, 'sky_workdir');
            for (const [dest, source] of Object.entries(req.fileMounts ?? {})) await uploadMount(upload, source, dest);
          }),
        );
      }),
    );
  }

  async function queryCluster(handle: ClusterHandle): Promise<NodeStatus[]> {
    return mapProviderErrors(() => provider(handle.provider).query(handle));
  }

  async function stopCluster(handle: ClusterHandle): Promise<void> {
    await mapProviderErrors(async () => {
      const p = provider(handle.provider);
      if (p.stop) await p.stop(handle);
    });
  }

  async function startCluster(handle: ClusterHandle): Promise<ClusterHandle> {
    return mapProviderErrors(async () => {
      const p = provider(handle.provider);
      return p.start ? { ...sealNodeKeys({ ...(await p.start(handle)), ...(handle.price ? { price: handle.price } : {}) }, ctx.home), worker: handle.worker } : handle;
    });
  }

  async function terminateCluster(handle: ClusterHandle): Promise<void> {
    await withHeartbeats(() =>
      mapProviderErrors(async () => {
        const p = provider(handle.provider);
        await p.terminate(handle);
        if (p.leasableHosts && handle.region) await releaseHosts(handle.provider, handle.region, handle.clusterName);
      }),
    );
  }

  async function signalJob(req: { handle: ClusterHandle; key: string; signal: 'SIGTERM' | 'SIGKILL' }): Promise<void> {
    await mapProviderErrors(async () => {
      const p = provider(req.handle.provider);
      await Promise.all(req.handle.nodes.map((n) => p.runner(req.handle, n).signal(req.key, req.signal)));
    });
  }

  /**
   * Starts (or re-attaches to) a detached job on each node and waits for all of them.
   * Gang semantics: the first node to fail stops the others. A retried attempt after a
   * worker crash finds the job already started and only watches it.
   */
  async function runOnNodes(req: RunOnNodesRequest): Promise<RunOnNodesResult> {
    return mapProviderErrors(async () => {
      const p = provider(req.handle.provider);
      const secrets = openSecrets(ctx.home, req.sealedSecrets);
      const runners: CommandRunner[] = req.ranks.map((rank) => {
        const node = req.handle.nodes.find((n) => n.rank === rank);
        if (!node) throw ApplicationFailure.nonRetryable(`node ${rank} is not part of the cluster`, FAILURE_TYPES.config);
        return p.runner(req.handle, node);
      });
      await Promise.all(
        runners.map((r, i) =>
          r.startDetached({ key: req.key, script: req.script, env: { ...req.envByRank[i], ...secrets }, cwd: req.cwd }),
        ),
      );
      const activity = Context.current();
      const started = Date.now();
      let lastHeartbeat = 0;
      const gang = new GangWatch(runners.length);
      const health = new NodeHealth(p, req.handle, (req.unreachableGraceSeconds ?? 30) * 1000);
      try {
        for (;;) {
          // A node that cannot be asked is no verdict: the node-health check decides.
          gang.record(await Promise.all(runners.map((r) => r.status(req.key).catch((): DetachedJobState => ({ state: 'running' })))));
          // What a killed wrapper left behind in its process group goes too.
          await Promise.all(gang.lostNow.map((i) => runners[i]!.signal(req.key, 'SIGKILL').catch(() => undefined)));
          const loss = await health.check(gang.lostNow.length > 0);
          if (loss) {
            await Promise.all(runners.map((r) => r.signal(req.key, 'SIGKILL').catch(() => undefined)));
            throw ApplicationFailure.create({ type: FAILURE_TYPES.preempted, message: loss.message, nonRetryable: true, details: [loss.nodes, me] });
          }
          await Promise.all(gang.takeNodesToStop().map((i) => runners[i]!.signal(req.key, 'SIGTERM')));
          if (gang.allDone) break;
          if (Date.now() - lastHeartbeat >= HEARTBEAT_EVERY_MS) {
            activity.heartbeat({ key: req.key });
            lastHeartbeat = Date.now();
          }
          await activity.sleep(pollDelayMs(Date.now() - started));
        }
      } catch (err) {
        if (err instanceof CancelledFailure) await Promise.all(runners.map((r) => r.signal(req.key, 'SIGTERM').catch(() => undefined)));
        throw err;
      } finally {
        // Whatever the ending (also a preemption), keep the output past the cluster's teardown.
        await Promise.all(
          runners.map((r, i) => archiveLog(r, archivedLogPath(ctx.home, req.handle.clusterName, req.key, req.ranks[i]!), req.key).catch(() => undefined)),
        );
      }
      return { exitCodes: gang.exitCodes, exitCode: gang.exitCode, archivedBy: me };
    });
  }

  return {
    provisionCluster,
    syncWorkdir,
    queryCluster,
    stopCluster,
    startCluster,
    terminateCluster,
    signalJob,
    runOnNodes,
  };
}

export type ClusterActivities = ReturnType<typeof createClusterActivities>;
