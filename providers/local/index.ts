// The local provider: the embedded default. A node is a directory under $PETREL_HOME and
// its jobs are local process groups, so every provider path (provision, detached jobs,
// preemption, teardown) can be exercised on one machine without any cloud.
import fs from 'node:fs';
import path from 'node:path';
import type { ClusterHandle, NodeHandle, NodeStatus } from '../../core/cluster-state.js';
import { ProviderError, type CheckResult, type Provider, type ProvisionRequest, type WatchedJob, type WatchedJobReport } from '../types.js';
import { localRegions, readLocalConfig, type LocalConfig } from './config.js';
import { killAllJobs } from './detached-jobs.js';
import { localBatchStatus } from './batch-status.js';
import { clusterDir, GONE_MARKER, JOBS_DIR, nodeDir, STOPPED_MARKER, UNREACHABLE_MARKER, unreachableIndexDir, unreachableIndexName } from './paths.js';
import { nodeStatusOf } from './node-status.js';
import { LocalRunner } from './runner.js';


export interface LocalProviderOptions {
  home: string;
}

export class LocalProvider implements Provider {
  readonly name = 'local';
  /** The directories are on the worker's machine, under its PETREL_HOME. */
  readonly nodesLocalToWorker = true;

  constructor(private readonly opts: LocalProviderOptions) {}

  async check(): Promise<CheckResult> {
    let config: LocalConfig;
    try {
      config = readLocalConfig(this.opts.home);
    } catch (err) {
      return { provider: this.name, enabled: false, detail: (err as Error).message };
    }
    if (config.broken_credentials) return { provider: this.name, enabled: false, detail: 'credentials rejected (local.broken_credentials is set)' };
    return { provider: this.name, enabled: true, detail: `regions ${localRegions(config).join(', ')}; nodes are directories under ${clusterDir(this.opts.home, '')}` };
  }

  async regions(): Promise<string[]> {
    return localRegions(this.config());
  }

  async provision(req: ProvisionRequest): Promise<ClusterHandle> {
    const config = this.config();
    this.assertCredentials(config);
    const region = req.region ?? localRegions(config)[0]!;
    if (!localRegions(config).includes(region)) {
      throw new ProviderError('config', `local has no region '${region}' (regions: ${localRegions(config).join(', ')})`);
    }
    if (config.unavailable_regions?.includes(region)) {
      throw new ProviderError('capacity', `no capacity in local/${region} (local.unavailable_regions)`, 'region');
    }
    await delay(config.provision_delay_seconds);
    const nodes: NodeHandle[] = [];
    for (let rank = 0; rank < req.numNodes; rank++) {
      const dir = nodeDir(this.opts.home, req.clusterName, rank);
      fs.mkdirSync(path.join(dir, 'home'), { recursive: true });
      // Resuming a stopped node; a gone node stays gone until the cluster is torn down.
      fs.rmSync(path.join(dir, STOPPED_MARKER), { force: true });
      nodes.push({ rank, id: `${req.clusterName}-${rank}`, ip: '127.0.0.1', data: { dir } });
    }
    return { provider: this.name, clusterName: req.clusterName, region, zone: req.zone, nodes };
  }

  async query(handle: ClusterHandle): Promise<NodeStatus[]> {
    return handle.nodes.map((node) => nodeStatusOf(this.dirOf(handle, node), node.rank));
  }

  async batchStatus(jobs: WatchedJob[]): Promise<WatchedJobReport[]> {
    return localBatchStatus(this.opts.home, jobs);
  }

  async stop(handle: ClusterHandle): Promise<void> {
    for (const node of handle.nodes) {
      const dir = this.dirOf(handle, node);
      if (!fs.existsSync(dir)) continue;
      killAllJobs(path.join(dir, JOBS_DIR), 'SIGKILL');
      fs.writeFileSync(path.join(dir, STOPPED_MARKER), new Date().toISOString());
    }
  }

  async start(handle: ClusterHandle): Promise<ClusterHandle> {
    for (const node of handle.nodes) fs.rmSync(path.join(this.dirOf(handle, node), STOPPED_MARKER), { force: true });
    return handle;
  }

  async terminate(handle: ClusterHandle): Promise<void> {
    await delay(this.config().terminate_delay_seconds);
    // By what is on disk, not by the handle: a handle may be partial or empty.
    const root = clusterDir(this.opts.home, handle.clusterName);
    const nodeDirs = fs.existsSync(root) ? fs.readdirSync(root).filter((d) => d.startsWith('node-')) : [];
    for (const dir of nodeDirs) killAllJobs(path.join(root, dir, JOBS_DIR), 'SIGKILL');
    fs.rmSync(root, { recursive: true, force: true });
  }

  runner(handle: ClusterHandle, node: NodeHandle): LocalRunner {
    return new LocalRunner(this.dirOf(handle, node));
  }

  /**
   * What a cloud reclaiming a spot machine looks like: every process on the node dies at
   * once and the node reports gone/preempted from then on.
   */
  async preempt(handle: ClusterHandle, ranks?: number[]): Promise<number[]> {
    const hit: number[] = [];
    for (const node of handle.nodes) {
      if (ranks && !ranks.includes(node.rank)) continue;
      const dir = this.dirOf(handle, node);
      if (!fs.existsSync(dir)) continue;
      fs.writeFileSync(path.join(dir, GONE_MARKER), new Date().toISOString());
      killAllJobs(path.join(dir, JOBS_DIR), 'SIGKILL');
      hit.push(node.rank);
    }
    return hit;
  }

  /** A node that stops answering for a while (a network blip), without losing its processes. */
  async makeUnreachable(handle: ClusterHandle, rank: number, seconds: number): Promise<void> {
    const node = handle.nodes.find((n) => n.rank === rank);
    if (!node) return;
    const until = new Date(Date.now() + seconds * 1000).toISOString();
    fs.writeFileSync(path.join(this.dirOf(handle, node), UNREACHABLE_MARKER), until);
    fs.mkdirSync(unreachableIndexDir(this.opts.home), { recursive: true });
    fs.writeFileSync(path.join(unreachableIndexDir(this.opts.home), unreachableIndexName(handle.clusterName, rank)), until);
  }

  private config(): LocalConfig {
    try {
      return readLocalConfig(this.opts.home);
    } catch (err) {
      throw new ProviderError('config', (err as Error).message);
    }
  }

  private assertCredentials(config: LocalConfig): void {
    if (config.broken_credentials) throw new ProviderError('config', 'local: credentials rejected (local.broken_credentials is set in config.yaml)');
  }

  private dirOf(handle: ClusterHandle, node: NodeHandle): string {
    return node.data.dir ?? nodeDir(this.opts.home, handle.clusterName, node.rank);
  }
}

function delay(seconds: number | undefined): Promise<void> {
  return seconds ? new Promise((r) => setTimeout(r, seconds * 1000)) : Promise.resolve();
}
