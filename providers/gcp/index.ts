// The GCP provider: a Petrel node is a Compute Engine instance, a region is a GCE region, and
// the cluster lives in one zone of it. Instances are reached over SSH (providers/vm) with
// Petrel's cloud key, installed through the instance's `ssh-keys` metadata.
//
// Never two instances for one (request, rank): the instance name is derived from the cluster and
// rank, the cluster's instances are looked up by label first, and every insert carries a
// requestId derived from (request, rank), so GCE itself answers a repeated insert with the first
// one's operation. A provision that fails for a reason retrying cannot fix deletes what its
// request created before it throws.
//
// The task's ports are opened as SkyPilot opens them on GCP: a VPC firewall rule per cluster
// targeting the network tag its instances carry (firewall.ts), created before the instances and
// deleted after them.
import type { ClusterHandle, NodeHandle, NodeStatus } from '../../core/cluster-state.js';
import { nodeDirOf } from '../remote-layout.js';
import type { SshPool } from '../ssh/connection.js';
import { ProviderError, type CheckResult, type CommandRunner, type Provider, type ProvisionRequest, type WatchedJob, type WatchedJobReport } from '../types.js';
import { VmAccess, type InstanceState } from '../vm/access.js';
import { proxyCommandFor } from '../vm/settings.js';
import { ensureCloudKey } from '../vm/ssh-key.js';
import { vmNodeHandle } from '../vm/nodes.js';
import { catalogRegions, catalogZones } from '../../core/catalog/index.js';
import { planMachine, regionOfZone, zonesFor, type MachinePlan } from './catalog.js';
import { gceClients, type GceClients } from './client.js';
import { readGcpConfig, type GcpConfig } from './config.js';
import { findCredentials, NO_CREDENTIALS_HINT } from './credentials.js';
import { gceFailure } from './errors.js';
import { closePorts, firewallPorts, openPorts } from './firewall.js';
import {
  deleteInstance,
  getInstance,
  insertInstance,
  ipsOf,
  listInstances,
  startInstance,
  stopInstance,
  waitAll,
  type Instance,
  type Pending,
} from './instances.js';
import { clusterFilter, clusterTag, instanceLabels, instanceName, LABEL_CLUSTER, LABEL_REQUEST, labelValue, requestIdOf } from './names.js';
import { GceStatus } from './status.js';

export interface GcpProviderOptions {
  /** $PETREL_HOME */
  home: string;
  /** SSH connections (tests pass their own) */
  pool?: SshPool;
  /** the environment credentials and the project are read from (default process.env) */
  env?: NodeJS.ProcessEnv;
}

/** How long an operation (insert, start, stop, delete) may run. */
const OPERATION_WAIT_MS = 10 * 60_000;
/** How long an instance may take from its insert being DONE to RUNNING with an address. */
const RUNNING_WAIT_MS = 10 * 60_000;
/** How long sshd may take to let Petrel's key in after boot. */
const SSH_WAIT_MS = 5 * 60_000;
const DEFAULT_DISK_GB = 256;
const CPU_IMAGE = 'projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts';
/** Ubuntu with NVIDIA's driver, so a GPU works without a setup step. */
const GPU_IMAGE = 'projects/ubuntu-os-accelerator-images/global/images/family/ubuntu-accelerator-2204-amd64-with-nvidia-550';

/**
 * The network instances join, and their firewall rule applies to. Its `default-allow-ssh` rule
 * lets SSH (22) in, so Petrel opens only the task's ports.
 */
const NETWORK = 'global/networks/default';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class GcpProvider implements Provider {
  readonly name = 'gcp';
  readonly nodesLocalToWorker = false;
  private readonly access: VmAccess;
  private readonly status = new GceStatus();
  private readonly env: NodeJS.ProcessEnv;

  constructor(private readonly opts: GcpProviderOptions) {
    this.access = new VmAccess({ home: opts.home, ...(opts.pool ? { pool: opts.pool } : {}) });
    this.env = opts.env ?? process.env;
  }

  private config(): GcpConfig {
    return readGcpConfig(this.opts.home);
  }

  private clients(config = this.config()): GceClients {
    return gceClients(config, this.env);
  }

  async check(): Promise<CheckResult> {
    const no = (detail: string): CheckResult => ({ provider: this.name, enabled: false, detail });
    let config: GcpConfig;
    try {
      config = this.config();
      if (!findCredentials(this.env)) return no(NO_CREDENTIALS_HINT);
    } catch (err) {
      return no((err as Error).message);
    }
    let c: GceClients;
    try {
      c = this.clients(config);
    } catch (err) {
      return no((err as Error).message);
    }
    // One cheap call that needs the permission Petrel needs most: listing instances.
    const zone = catalogZones('gcp', catalogRegions('gcp')[0] ?? '')[0] ?? 'us-central1-a';
    try {
      await c.instances.list({ project: c.project, zone, maxResults: 1 }, { autoPaginate: false });
    } catch (err) {
      return no(`project ${c.project}, credentials from ${c.credentials.source}: ${gceFailure(c.where, 'listing instances', err).message}`);
    }
    const endpoint = config.apiEndpoint ? `, API at ${config.apiEndpoint.url}` : '';
    return { provider: this.name, enabled: true, detail: `project ${c.project}, credentials from ${c.credentials.source}${endpoint}` };
  }

  async regions(): Promise<Array<string | undefined>> {
    return catalogRegions('gcp');
  }

  async zones(region: string | undefined): Promise<Array<string | undefined>> {
    return region ? catalogZones('gcp', region) : [];
  }

  async provision(req: ProvisionRequest): Promise<ClusterHandle> {
    nodeDirOf(req.clusterName, 0); // a name that could never be a directory of ours fails here
    const config = this.config();
    const c = this.clients(config);
    const region = req.region ?? (req.zone ? regionOfZone(req.zone) : catalogRegions('gcp')[0]);
    if (!region) throw new ProviderError('config', 'no GCP region: the catalog lists none');
    const plan = planMachine(req, region);
    const zone = req.zone ?? zonesFor(plan, region)[0];
    if (!zone) throw new ProviderError('capacity', `${c.where}: no zone of ${region} offers ${plan.machineType}`, 'region');
    const ports = firewallPorts(req.ports ?? []); // a malformed port fails here, before anything is created
    const image = imageFor(req, region, plan);
    const key = await ensureCloudKey(this.opts.home);
    const where = `${c.where}/${zone}`;
    const deadline = Date.now() + OPERATION_WAIT_MS;
    let openedRule = false;

    try {
      // The rule first, so the ports are open once the instances run.
      if (ports.length) {
        openedRule = (await openPorts(c, { cluster: req.clusterName, ports, network: NETWORK, requestId: requestIdOf(req.idempotencyKey, req.clusterName, 'firewall'), deadlineMs: deadline })) === 'created';
      }
      // This cluster's instances that exist already (a retried provision, a stopped cluster).
      const existing = new Map((await listInstances(c, zone, clusterFilter(req.clusterName))).map((i) => [i.name ?? '', i]));
      const pending: Pending[] = [];
      const inserts = await Promise.allSettled(
        Array.from({ length: req.numNodes }, async (_, rank) => {
          const name = instanceName(req.clusterName, rank);
          if (existing.has(name)) return;
          const body = instanceBody({ req, config, plan, zone, rank, name, image, sshUser: config.access.sshUser, publicKey: key.publicKey });
          const r = await insertInstance(c, zone, body, requestIdOf(req.idempotencyKey, req.clusterName, rank));
          if (r !== 'exists') {
            pending.push(r);
            return;
          }
          // The name is taken: by this cluster (a concurrent try the list did not show yet) it is
          // adopted below; by anything else it is not ours to use, nor to delete.
          const other = await getInstance(c, zone, name);
          if (other && other.labels?.[LABEL_CLUSTER] !== labelValue(req.clusterName)) {
            throw new ProviderError('config', `${where}: an instance named ${name} exists that is not part of Petrel cluster ${req.clusterName}; rename or delete it, or use another cluster name`);
          }
        }),
      );
      const refused = inserts.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (refused) {
        await waitAll(c, pending, deadline).catch(() => undefined); // let accepted inserts finish, so cleanup finds them
        throw refused.reason;
      }
      await waitAll(c, pending, deadline, true);
      const instances = await this.waitRunning(c, zone, req.clusterName, req.numNodes, Date.now() + RUNNING_WAIT_MS);
      const access = { sshUser: config.access.sshUser, identityFile: key.privateKeyFile, useInternalIps: config.access.useInternalIps, ...optional('proxyCommand', proxyCommandFor(config.access, region)) };
      const nodes = instances.map((inst, rank) => this.node(req.clusterName, rank, inst, zone, c.project, access, req.useSpot));
      const handle: ClusterHandle = { provider: this.name, clusterName: req.clusterName, region, zone, label: `${zone} ${plan.machineType}${req.useSpot ? ' spot' : ''}`, nodes };
      await this.access.waitForSsh(handle, nodes, Date.now() + SSH_WAIT_MS);
      if (req.useSpot) await this.access.startWatchers(handle, nodes, { kind: 'gcp', baseUrl: config.metadataEndpoint });
      this.status.invalidate(c, zone);
      return handle;
    } catch (err) {
      const e = gceFailure(where, 'provisioning', err);
      // Refused or without capacity: nothing this request created stays. (A transient failure
      // keeps it for the retry, which adopts it; teardown removes it otherwise.)
      if (e.kind !== 'transient') {
        const cleaned = await this.deleteCluster(c, [zone], req.clusterName, (i) => i.labels?.[LABEL_REQUEST] === labelValue(req.idempotencyKey)).then(
          () => true,
          () => false,
        );
        // The rule goes with the instances; one an earlier launch made stays with the cluster.
        if (openedRule && cleaned) await closePorts(c, req.clusterName, Date.now() + OPERATION_WAIT_MS).catch(() => undefined);
      }
      throw e;
    }
  }

  private node(cluster: string, rank: number, inst: Instance, zone: string, project: string, access: { sshUser: string; identityFile: string; useInternalIps: boolean; proxyCommand?: string }, spot: boolean): NodeHandle {
    const node = vmNodeHandle(cluster, { rank, instanceId: inst.name ?? '', ...ipsOf(inst) }, access);
    node.data.zone = zone;
    node.data.project = project;
    if (inst.id) node.data.gce_id = String(inst.id);
    if (spot) node.data.spot = 'true';
    return node;
  }

  /**
   * Polls the cluster's instances until all run with an address: a stopped one (a cluster
   * being resumed) is started, one that vanished is a transient failure (the retry recreates it).
   */
  private async waitRunning(c: GceClients, zone: string, cluster: string, numNodes: number, deadline: number): Promise<Instance[]> {
    const started = new Set<string>();
    for (;;) {
      const got = await Promise.all(Array.from({ length: numNodes }, (_, rank) => getInstance(c, zone, instanceName(cluster, rank))));
      const toStart: Pending[] = [];
      let ready = true;
      for (const [rank, inst] of got.entries()) {
        const name = instanceName(cluster, rank);
        if (!inst) throw new ProviderError('transient', `${c.where}/${zone}: instance ${name} disappeared while starting`);
        if (inst.status === 'RUNNING' && ipsOf(inst).privateIp) continue;
        ready = false;
        if (inst.status === 'TERMINATED' && !started.has(name)) {
          started.add(name);
          toStart.push(await startInstance(c, zone, name));
        }
      }
      if (ready) return got as Instance[];
      if (toStart.length) await waitAll(c, toStart, deadline);
      if (Date.now() >= deadline) throw new ProviderError('transient', `${c.where}/${zone}: cluster ${cluster}'s instances are not all RUNNING yet (${got.map((i) => `${i?.name}: ${i?.status}`).join(', ')})`);
      await sleep(200);
    }
  }

  async query(handle: ClusterHandle): Promise<NodeStatus[]> {
    const [report] = await this.batchStatus([{ handle, key: 'petrel-query', ranks: handle.nodes.map((n) => n.rank) }]);
    return report!.nodes;
  }

  async batchStatus(jobs: WatchedJob[]): Promise<WatchedJobReport[]> {
    return this.access.batchStatus(jobs, (handles) => this.instanceStates(handles));
  }

  /** What GCE says about the instances of `handles` (one list per zone, shared; see status.ts). */
  instanceStates(handles: ClusterHandle[]): Promise<Map<string, InstanceState>> {
    return this.status.states(this.clients(), handles);
  }

  runner(handle: ClusterHandle, node: NodeHandle): CommandRunner {
    return this.access.runner(handle, node);
  }

  async stop(handle: ClusterHandle): Promise<void> {
    const c = this.clients();
    const pending: Pending[] = [];
    for (const n of handle.nodes) {
      const zone = n.data.zone ?? handle.zone;
      if (!zone || !n.data.instance_id) continue;
      const p = await stopInstance(c, zone, n.data.instance_id);
      if (p) pending.push(p);
    }
    await waitAll(c, pending, Date.now() + OPERATION_WAIT_MS);
    for (const z of new Set(pending.map((p) => p.zone))) this.status.invalidate(c, z);
  }

  async start(handle: ClusterHandle): Promise<ClusterHandle> {
    const config = this.config();
    const c = this.clients(config);
    const zone = handle.zone ?? handle.nodes[0]?.data.zone;
    if (!zone) throw new ProviderError('config', `cluster ${handle.clusterName} has no zone recorded; it cannot be started`);
    const key = await ensureCloudKey(this.opts.home);
    const instances = await this.waitRunning(c, zone, handle.clusterName, handle.nodes.length, Date.now() + RUNNING_WAIT_MS);
    const spot = handle.nodes.some((n) => n.data.spot === 'true');
    const access = { sshUser: config.access.sshUser, identityFile: key.privateKeyFile, useInternalIps: config.access.useInternalIps, ...optional('proxyCommand', proxyCommandFor(config.access, handle.region)) };
    // A started instance usually has a new external IP: the handle is rebuilt from GCE's answer.
    const nodes = instances.map((inst, rank) => this.node(handle.clusterName, rank, inst, zone, c.project, access, spot));
    const next: ClusterHandle = { ...handle, nodes };
    await this.access.waitForSsh(next, nodes, Date.now() + SSH_WAIT_MS);
    if (spot) await this.access.startWatchers(next, nodes, { kind: 'gcp', baseUrl: config.metadataEndpoint });
    this.status.invalidate(c, zone);
    return next;
  }

  /**
   * Deletes every instance of the cluster (those of the handle, and any other carrying its
   * label: a handle without nodes, a provision whose result was never seen) and waits until GCE
   * has removed them, then the cluster's firewall rule. Already gone is fine.
   */
  async terminate(handle: ClusterHandle): Promise<void> {
    const c = this.clients();
    const zones = new Set<string>();
    for (const n of handle.nodes) if (n.data.zone ?? handle.zone) zones.add(n.data.zone ?? handle.zone!);
    if (handle.zone) zones.add(handle.zone);
    if (zones.size === 0) {
      const regions = handle.region ? [handle.region] : catalogRegions('gcp');
      for (const r of regions) for (const z of catalogZones('gcp', r)) zones.add(z);
    }
    const named = handle.nodes.map((n) => ({ zone: n.data.zone ?? handle.zone ?? '', name: n.data.instance_id ?? '' })).filter((x) => x.zone && x.name);
    await this.deleteCluster(c, [...zones], handle.clusterName, () => true, named);
    // After the instances: deleting it first would cut off a node that still serves its ports.
    await closePorts(c, handle.clusterName, Date.now() + OPERATION_WAIT_MS);
    this.access.forget(handle.nodes);
  }

  private async deleteCluster(c: GceClients, zones: string[], cluster: string, mine: (i: Instance) => boolean, named: Array<{ zone: string; name: string }> = []): Promise<void> {
    const deadline = Date.now() + OPERATION_WAIT_MS;
    await Promise.all(
      zones.map(async (zone) => {
        const found = (await listInstances(c, zone, clusterFilter(cluster))).filter(mine).map((i) => i.name ?? '');
        const names = [...new Set([...found, ...named.filter((n) => n.zone === zone).map((n) => n.name)])];
        const pending = (await Promise.all(names.map((name) => deleteInstance(c, zone, name)))).filter((p): p is Pending => p !== undefined);
        await waitAll(c, pending, deadline);
        this.status.invalidate(c, zone);
        // DONE means deleted; a second look catches one another process created meanwhile.
        const left = (await listInstances(c, zone, clusterFilter(cluster))).filter(mine);
        if (left.length) throw new ProviderError('transient', `${c.where}/${zone}: ${left.map((i) => `${i.name} (${i.status})`).join(', ')} still exist after deletion`);
      }),
    );
  }
}

function optional<K extends string, V>(key: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [key]: v }) as { [P in K]?: V };
}

/** The boot image: the task's image_id (for this region), else Ubuntu (with NVIDIA's driver for GPUs). */
function imageFor(req: ProvisionRequest, region: string, plan: MachinePlan): string {
  const id = typeof req.imageId === 'string' ? req.imageId : req.imageId?.[region];
  if (typeof req.imageId === 'object' && id === undefined) {
    throw new ProviderError('config', `image_id names no image for GCP region ${region} (it has: ${Object.keys(req.imageId).join(', ')})`, 'region');
  }
  if (id?.startsWith('docker:')) throw new ProviderError('config', `image_id ${id}: running tasks in containers on GCP VMs is not supported yet; use a VM image (projects/<p>/global/images/<name> or .../family/<family>)`);
  return id ?? (plan.row?.accelerator ? GPU_IMAGE : CPU_IMAGE);
}

function instanceBody(o: { req: ProvisionRequest; config: GcpConfig; plan: MachinePlan; zone: string; rank: number; name: string; image: string; sshUser: string; publicKey: string }): Instance {
  const { req, config, plan, zone } = o;
  const gpu = Boolean(plan.row?.accelerator ?? plan.guestAccelerator);
  return {
    name: o.name,
    machineType: `zones/${zone}/machineTypes/${plan.machineType}`,
    labels: instanceLabels({ cluster: req.clusterName, rank: o.rank, requestKey: req.idempotencyKey, ...optional('user', req.user), ...optional('taskLabels', req.labels), configLabels: config.labels }),
    scheduling: req.useSpot
      ? { provisioningModel: 'SPOT', instanceTerminationAction: config.terminationAction, automaticRestart: false, onHostMaintenance: 'TERMINATE' }
      : { provisioningModel: 'STANDARD', automaticRestart: true, onHostMaintenance: gpu ? 'TERMINATE' : 'MIGRATE' },
    ...(plan.guestAccelerator ? { guestAccelerators: [{ acceleratorType: `zones/${zone}/acceleratorTypes/${plan.guestAccelerator.apiName}`, acceleratorCount: plan.guestAccelerator.count }] } : {}),
    disks: [{ boot: true, autoDelete: true, type: 'PERSISTENT', initializeParams: { sourceImage: o.image, diskSizeGb: String(req.diskSizeGb ?? DEFAULT_DISK_GB) } }],
    tags: { items: [clusterTag(req.clusterName)] },
    networkInterfaces: [{ network: NETWORK, accessConfigs: config.access.useInternalIps ? [] : [{ name: 'External NAT', type: 'ONE_TO_ONE_NAT' }] }],
    metadata: { items: [{ key: 'ssh-keys', value: `${o.sshUser}:${o.publicKey}` }] },
  };
}

