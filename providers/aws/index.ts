// The AWS provider: a Petrel node is an EC2 instance, a region is an AWS region. Per region,
// once: Petrel's key pair and a security group (bootstrap.ts). Per cluster: one RunInstances
// per rank, on-demand or spot, tagged with the cluster, rank, attempt and user and never
// created twice for one attempt (instances.ts); then SSH (providers/vm) once they run, and on
// spot nodes the interruption watcher. Status for many clusters is one DescribeInstances per
// region (batch-status.ts) plus one SSH exec per running instance.
//
// A provision that fails for a reason retrying cannot fix (capacity, quota, configuration)
// terminates what the cluster has in the region before it throws: nothing leaks, and the
// failover loop moves on. A transient failure keeps what was created; the retry finds it by tag.
import { DescribeAvailabilityZonesCommand, StartInstancesCommand, StopInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import type { ClusterHandle, NodeHandle, NodeStatus } from '../../core/cluster-state.js';
import { catalogRegions, catalogZones, cheapestFit, zonesOffering } from '../../core/catalog/index.js';
import { nodeDirOf } from '../remote-layout.js';
import type { SshPool } from '../ssh/connection.js';
import type { SshRunner } from '../ssh/runner.js';
import { ProviderError, type CheckResult, type Provider, type ProvisionRequest, type WatchedJob, type WatchedJobReport } from '../types.js';
import { VmAccess } from '../vm/access.js';
import { vmNodeHandle } from '../vm/nodes.js';
import { proxyCommandFor } from '../vm/settings.js';
import { ensureCloudKey } from '../vm/ssh-key.js';
import { RegionDescriber } from './batch-status.js';
import { Bootstrapper } from './bootstrap.js';
import { credentialSource, describeRegions } from './check.js';
import { AwsClients } from './client.js';
import { readAwsConfig, type AwsConfig } from './config.js';
import { classifyAwsError } from './errors.js';
import { describe, findCluster, latestUbuntu, LIVE_STATES, rootDeviceOf, runInstance, UBUNTU_2204, UBUNTU_OWNER, waitForState, type Ec2Instance } from './instances.js';

export interface AwsProviderOptions {
  /** $PETREL_HOME */
  home: string;
  pool?: SshPool;
  /**
   * Own clients and caches instead of the process's shared ones (as a second worker process
   * would have). By default every AwsProvider of a process shares them, so watchers that make
   * a provider per call still share one DescribeInstances round per region and one bootstrap.
   */
  isolated?: boolean;
}

interface AwsState {
  clients: AwsClients;
  bootstrap: Bootstrapper;
  describer: RegionDescriber;
}

function newState(): AwsState {
  const clients = new AwsClients();
  return { clients, bootstrap: new Bootstrapper((r) => clients.get(r).ec2), describer: new RegionDescriber((r) => clients.get(r).ec2) };
}

let shared: AwsState | undefined;

/** Closes the shared EC2 clients (a process that wants to exit without waiting for idle sockets). */
export function closeAwsClients(): void {
  shared?.clients.destroy();
  shared = undefined;
}

/** When the catalog has no AWS regions (it always should): the regions Petrel knows best. */
const FALLBACK_REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1'];
const RUNNING_TIMEOUT_MS = 10 * 60_000;
const SSH_TIMEOUT_MS = 10 * 60_000;
const TERMINATE_TIMEOUT_MS = 5 * 60_000;

export class AwsProvider implements Provider {
  readonly name = 'aws';
  readonly nodesLocalToWorker = false;
  private readonly clients: AwsClients;
  private readonly bootstrap: Bootstrapper;
  readonly describer: RegionDescriber;
  readonly vm: VmAccess;

  constructor(private readonly opts: AwsProviderOptions) {
    const state = opts.isolated ? newState() : (shared ??= newState());
    this.clients = state.clients;
    this.bootstrap = state.bootstrap;
    this.describer = state.describer;
    this.vm = new VmAccess({ home: opts.home, ...(opts.pool ? { pool: opts.pool } : {}) });
  }

  private config(): AwsConfig {
    return readAwsConfig(this.opts.home);
  }

  async check(): Promise<CheckResult> {
    const source = credentialSource();
    if (!source) {
      return {
        provider: this.name,
        enabled: false,
        detail: 'no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with ~/.aws/credentials or ~/.aws/config (an instance role is not looked for)',
      };
    }
    try {
      this.config();
    } catch (err) {
      return { provider: this.name, enabled: false, detail: (err as Error).message };
    }
    const home = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
    const r = await describeRegions(this.clients.get(home).ec2, await this.regions(), (region) => this.clients.get(region).ec2);
    return { provider: this.name, enabled: r.ok, detail: `credentials from ${source}; ${r.lines.join('; ')}` };
  }

  async regions(): Promise<string[]> {
    const r = catalogRegions('aws');
    return r.length ? r : FALLBACK_REGIONS;
  }

  async zones(region: string | undefined): Promise<Array<string | undefined>> {
    return region ? catalogZones('aws', region) : [];
  }

  async provision(req: ProvisionRequest): Promise<ClusterHandle> {
    nodeDirOf(req.clusterName, 0); // a name that could never be a directory of ours fails here
    const config = this.config();
    const region = req.region ?? (await this.regions())[0]!;
    const { ec2, once } = this.clients.get(region);
    const instanceType = this.instanceType(req, region);
    const zone = req.zone ?? (await this.firstZone(region, instanceType, req));
    const where = `aws ${region}/${zone}`;
    const key = await ensureCloudKey(this.opts.home);
    const image = await this.image(req.imageId, region);
    const setup = await this.bootstrap.setup({
      region,
      publicKey: key.publicKey,
      ports: req.ports ?? [],
      ...(config.vpcName ? { vpcName: config.vpcName } : {}),
      ...(config.securityGroupName ? { securityGroupName: config.securityGroupName } : {}),
    });
    let subnetId: string | undefined;
    if (setup.subnets) {
      subnetId = setup.subnets.get(zone);
      if (!subnetId) throw new ProviderError('capacity', `${where}: VPC '${config.vpcName}' has no subnet in ${zone}`, 'zone');
    }

    /** instances the cluster had before this call: a failed provision leaves them alone */
    let before: Set<string> | undefined;
    try {
      const existing = await findCluster(ec2, req.clusterName, where);
      before = new Set(existing.filter((i) => i.request !== req.idempotencyKey).map((i) => i.instanceId));
      const byRank = new Map<number, Ec2Instance>();
      for (const i of existing) {
        if (i.rank === undefined || i.rank >= req.numNodes) continue;
        // The attempt's own instance first; then one a stop left (resumed below).
        const had = byRank.get(i.rank);
        if (!had || (i.request === req.idempotencyKey && had.request !== req.idempotencyKey)) byRank.set(i.rank, i);
      }
      for (const i of byRank.values()) {
        if (i.instanceType && i.instanceType !== instanceType) {
          throw new ProviderError('config', `${where}: cluster ${req.clusterName} already has instance ${i.instanceId} of type ${i.instanceType} (not ${instanceType}); tear it down first (petrel down ${req.clusterName})`);
        }
      }
      const rootDevice = req.diskSizeGb !== undefined || config.diskEncrypted ? (image.rootDevice ?? (await rootDeviceOf(ec2, image.imageId))) : undefined;
      // allSettled: a node still being created when another fails must exist before the cleanup looks.
      const settled = await Promise.allSettled(
        Array.from({ length: req.numNodes }, (_, rank) => rank)
          .filter((rank) => !byRank.has(rank))
          .map((rank) =>
            runInstance(
              once,
              {
                cluster: req.clusterName,
                rank,
                idempotencyKey: req.idempotencyKey,
                ...(req.user ? { user: req.user } : {}),
                labels: { ...config.labels, ...(req.labels ?? {}) },
                instanceType,
                imageId: image.imageId,
                ...(rootDevice ? { rootDevice } : {}),
                ...(req.diskSizeGb !== undefined ? { diskSizeGb: req.diskSizeGb } : {}),
                diskEncrypted: config.diskEncrypted,
                zone,
                ...(subnetId ? { subnetId } : {}),
                securityGroupId: setup.securityGroupId,
                keyName: setup.keyName,
                spot: req.useSpot,
                noPublicIp: config.access.useInternalIps,
              },
              where,
            ).then((inst) => ({ ...inst, rank })),
          ),
      );
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      for (const r of settled) if (r.status === 'fulfilled') byRank.set(r.value.rank!, r.value);
      const stopped = [...byRank.values()].filter((i) => i.state === 'stopped' || i.state === 'stopping');
      if (stopped.length) await this.startStopped(region, stopped.map((i) => i.instanceId), where);
      const ids = [...byRank.values()].sort((a, b) => a.rank! - b.rank!).map((i) => i.instanceId);
      const running = await waitForState(ec2, ids, 'running', RUNNING_TIMEOUT_MS, where);
      const handle = this.handleOf(req.clusterName, region, zone, running, config, key.privateKeyFile, req.useSpot);
      await this.vm.waitForSsh(handle, handle.nodes, Date.now() + SSH_TIMEOUT_MS);
      if (req.useSpot) await this.vm.startWatchers(handle, handle.nodes, { kind: 'aws', baseUrl: config.metadataEndpoint });
      return handle;
    } catch (err) {
      const e = classifyAwsError(err, where);
      if (e.kind !== 'transient' && before !== undefined) await this.removeCreated(region, req.clusterName, before).catch(() => undefined);
      throw e;
    }
  }

  private instanceType(req: ProvisionRequest, region: string): string {
    if (req.instanceType) return req.instanceType;
    const fit = cheapestFit('aws', {
      ...(req.accelerators ? { accelerators: req.accelerators } : {}),
      ...(req.cpus ? { cpus: req.cpus } : {}),
      ...(req.memoryGb ? { memoryGb: req.memoryGb } : {}),
      useSpot: req.useSpot,
      region,
      ...(req.zone ? { zone: req.zone } : {}),
    });
    if (!fit) {
      const what = Object.entries(req.accelerators ?? {}).map(([k, v]) => `${k}:${v}`).join(', ') || 'these resources';
      throw new ProviderError('capacity', `aws ${region}: no instance type in the catalog offers ${what}${req.useSpot ? ' as spot' : ''} here`, 'region');
    }
    return fit.row.instanceType;
  }

  /** The first zone of the region offering the type (catalog), else the first zone EC2 lists. */
  private async firstZone(region: string, instanceType: string, req: ProvisionRequest): Promise<string> {
    const known = zonesOffering('aws', instanceType, region, req.accelerators);
    if (known[0]) return known[0];
    try {
      const r = await this.clients.get(region).ec2.send(new DescribeAvailabilityZonesCommand({ Filters: [{ Name: 'state', Values: ['available'] }] }));
      const z = r.AvailabilityZones?.map((a) => a.ZoneName).filter((n): n is string => !!n).sort()[0];
      if (z) return z;
    } catch (err) {
      throw classifyAwsError(err, `aws ${region}: DescribeAvailabilityZones`);
    }
    throw new ProviderError('capacity', `aws ${region}: no available zone`, 'region');
  }

  private async image(imageId: ProvisionRequest['imageId'], region: string): Promise<{ imageId: string; rootDevice?: string }> {
    const raw = typeof imageId === 'string' ? imageId : imageId?.[region];
    if (raw?.startsWith('docker:')) throw new ProviderError('config', `image_id '${raw}': container images are not supported on AWS yet; give an AMI id (ami-...)`, 'cloud');
    if (raw) return { imageId: raw };
    const ubuntu = await latestUbuntu(this.clients.get(region).ec2, `aws ${region}`);
    if (!ubuntu) {
      throw new ProviderError('config', `aws ${region}: no Ubuntu 22.04 image found (owner ${UBUNTU_OWNER}, name ${UBUNTU_2204}); set the task's image_id to an AMI of ${region}`, 'region');
    }
    return ubuntu;
  }

  private handleOf(cluster: string, region: string, zone: string, instances: Ec2Instance[], config: AwsConfig, identityFile: string, spot: boolean): ClusterHandle {
    const proxyCommand = proxyCommandFor(config.access, region);
    const nodes = instances
      .filter((i) => i.rank !== undefined)
      .sort((a, b) => a.rank! - b.rank!)
      .map((i) => {
        const node = vmNodeHandle(
          cluster,
          { rank: i.rank!, instanceId: i.instanceId, ...(i.privateIp ? { privateIp: i.privateIp } : {}), ...(i.publicIp ? { publicIp: i.publicIp } : {}) },
          { sshUser: config.access.sshUser, identityFile, useInternalIps: config.access.useInternalIps, ...(proxyCommand ? { proxyCommand } : {}) },
        );
        node.data.region = region;
        if (i.zone) node.data.zone = i.zone;
        if (i.instanceType) node.data.instance_type = i.instanceType;
        if (spot || i.spot) node.data.spot = 'true';
        return node;
      });
    const type = instances[0]?.instanceType;
    return { provider: this.name, clusterName: cluster, region, zone, ...(type ? { label: `${type}${spot ? ' spot' : ''}` } : {}), nodes };
  }

  async query(handle: ClusterHandle): Promise<NodeStatus[]> {
    const [report] = await this.batchStatus([{ handle, key: 'petrel-query', ranks: handle.nodes.map((n) => n.rank) }]);
    return report!.nodes;
  }

  async batchStatus(jobs: WatchedJob[]): Promise<WatchedJobReport[]> {
    return this.vm.batchStatus(jobs, (handles) => this.describer.states(handles));
  }

  runner(handle: ClusterHandle, node: NodeHandle): SshRunner {
    return this.vm.runner(handle, node);
  }

  async stop(handle: ClusterHandle): Promise<void> {
    const region = this.regionOf(handle);
    const where = `aws ${region}`;
    const ids = await this.clusterIds(region, handle);
    if (ids.length === 0) return;
    try {
      await this.clients.get(region).ec2.send(new StopInstancesCommand({ InstanceIds: ids }));
    } catch (err) {
      throw classifyAwsError(err, `${where}: StopInstances`);
    }
    this.describer.invalidate(region);
    await waitForState(this.clients.get(region).ec2, ids, 'stopped', RUNNING_TIMEOUT_MS, where);
  }

  /** Starts a stopped cluster again: new addresses, the same node dirs and disks. */
  async start(handle: ClusterHandle): Promise<ClusterHandle> {
    const region = this.regionOf(handle);
    const config = this.config();
    const key = await ensureCloudKey(this.opts.home);
    const where = `aws ${region}`;
    const ids = handle.nodes.map((n) => n.data.instance_id).filter((id): id is string => !!id);
    if (ids.length === 0) throw new ProviderError('config', `cluster ${handle.clusterName} has no instances to start`);
    await this.startStopped(region, ids, where);
    const running = await waitForState(this.clients.get(region).ec2, ids, 'running', RUNNING_TIMEOUT_MS, where);
    const spot = handle.nodes.some((n) => n.data.spot === 'true');
    const next = this.handleOf(handle.clusterName, region, handle.zone ?? running[0]?.zone ?? '', running, config, key.privateKeyFile, spot);
    await this.vm.waitForSsh(next, next.nodes, Date.now() + SSH_TIMEOUT_MS);
    // A stop ended the watchers with the machine.
    if (spot) await this.vm.startWatchers(next, next.nodes, { kind: 'aws', baseUrl: config.metadataEndpoint });
    return next;
  }

  private async startStopped(region: string, ids: string[], where: string): Promise<void> {
    const ec2 = this.clients.get(region).ec2;
    // A stopping instance cannot be started yet.
    await waitForState(ec2, ids, 'stopped', RUNNING_TIMEOUT_MS, where).catch(() => undefined);
    try {
      await ec2.send(new StartInstancesCommand({ InstanceIds: ids }));
    } catch (err) {
      throw classifyAwsError(err, `${where}: StartInstances`);
    }
    this.describer.invalidate(region);
  }

  /**
   * Terminates every instance of the cluster in its region — the handle's and any the tag
   * lookup finds (a retried provision's) — and waits until EC2 says they are terminated.
   * Idempotent; a handle without region is looked for in every region Petrel uses.
   */
  async terminate(handle: ClusterHandle): Promise<void> {
    const regions = handle.region ? [handle.region] : await this.regions();
    await Promise.all(regions.map((r) => this.removeCluster(r, handle.clusterName, handle.nodes)));
    this.vm.forget(handle.nodes);
  }

  /** Terminates the cluster's instances but those in `keep` (found by tag: a node whose creation answer was lost is found too). */
  private async removeCreated(region: string, cluster: string, keep: Set<string>): Promise<void> {
    const where = `aws ${region}`;
    const ec2 = this.clients.get(region).ec2;
    const ids = (await findCluster(ec2, cluster, where)).map((i) => i.instanceId).filter((id) => !keep.has(id));
    if (ids.length === 0) return;
    try {
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: ids }));
    } catch (err) {
      throw classifyAwsError(err, `${where}: TerminateInstances`);
    }
    this.describer.invalidate(region);
    await waitForState(ec2, ids, 'terminated', TERMINATE_TIMEOUT_MS, where);
  }

  private async removeCluster(region: string, cluster: string, nodes: NodeHandle[]): Promise<void> {
    const where = `aws ${region}`;
    const ec2 = this.clients.get(region).ec2;
    const ids = await this.clusterIds(region, { clusterName: cluster, nodes });
    if (ids.length === 0) return;
    const terminate = async (list: string[]) => {
      try {
        await ec2.send(new TerminateInstancesCommand({ InstanceIds: list }));
      } catch (err) {
        throw classifyAwsError(err, `${where}: TerminateInstances`);
      }
    };
    try {
      await terminate(ids);
    } catch (err) {
      // One went between our look and the call: terminate those that still exist.
      if (!(err instanceof ProviderError) || !/InvalidInstanceID\.NotFound/.test(err.message)) throw err;
      const left = await this.clusterIds(region, { clusterName: cluster, nodes });
      if (left.length) await terminate(left);
    }
    this.describer.invalidate(region);
    await waitForState(ec2, ids, 'terminated', TERMINATE_TIMEOUT_MS, where);
  }

  /** The live instances of a cluster: its nodes' (still existing) and those its tag finds. */
  private async clusterIds(region: string, handle: Pick<ClusterHandle, 'clusterName' | 'nodes'>): Promise<string[]> {
    const where = `aws ${region}`;
    const ec2 = this.clients.get(region).ec2;
    const tagged = await findCluster(ec2, handle.clusterName, where);
    const fromNodes = handle.nodes.map((n) => n.data.instance_id).filter((id): id is string => !!id);
    const ids = new Set(tagged.map((i) => i.instanceId));
    if (fromNodes.some((id) => !ids.has(id))) {
      for (const i of await describe(ec2, [{ Name: 'instance-id', Values: fromNodes }, { Name: 'instance-state-name', Values: LIVE_STATES }], where)) ids.add(i.instanceId);
    }
    return [...ids];
  }

  private regionOf(handle: ClusterHandle): string {
    const r = handle.region ?? handle.nodes[0]?.data.region;
    if (!r) throw new ProviderError('config', `cluster ${handle.clusterName} has no region`);
    return r;
  }

  /** Closes an isolated provider's clients (the shared ones: closeAwsClients). */
  close(): void {
    if (this.opts.isolated) this.clients.destroy();
  }
}
