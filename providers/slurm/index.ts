// The Slurm provider: a Petrel cluster is one sbatch allocation on a Slurm cluster the user
// already has (SkyPilot's ~/.slurm/config; config.yaml's `slurm:` adds login, account, QOS,
// partitions). A cluster's region is the Slurm cluster, its zone the partition. Slurm is
// driven through its own tools on the login host, as a Slurm user would: sbatch to allocate,
// squeue to watch, srun steps to run, scancel to stop and tear down.
//
// Assumes what Slurm sites (and SkyPilot) assume: the login host and the compute nodes share
// the user's home. Each node's Petrel home is <home>/.petrel/clusters/<cluster>/node-<rank>/, so
// two nodes never write the same files; provision checks that every node sees it.
//
// A node handle carries everything a later process needs (login host, allocation id, node
// name, node dir), so a cluster keeps working if the config is later edited.
import path from 'node:path';
import type { ClusterHandle, NodeHandle, NodeStatus } from '../../core/cluster-state.js';
import type { GpuAvailability } from '../../core/worker-ops.js';
import { clusterDirOf, isPetrelClusterDir } from '../remote-layout.js';
import { knownHostsPath } from '../ssh/known-hosts.js';
import { sharedPool, type SshPool } from '../ssh/connection.js';
import { ProviderError, type CheckResult, type Provider, type ProvisionRequest, type WatchedJob, type WatchedJobReport } from '../types.js';
import {
  ALLOCATION_SCRIPT,
  allocationName,
  BATCH_SCRIPT,
  classifySbatchError,
  goneReason,
  isHolding,
  hopelessPending,
  isWaiting,
  maxTimeOf,
  PARTITION_LIMITS_SCRIPT,
  parseSqueueLine,
  sbatchArgs,
  sbatchCommand,
  SQUEUE_FORMAT,
  type AllocationState,
} from './allocation.js';
import { slurmBatchStatus } from './batch-status.js';
import { DEFAULT_PROVISION_TIMEOUT_SECONDS, readSlurmConfig, type SlurmClusterConfig, type SlurmConfig, type SlurmLogin } from './config.js';
import { describeCluster, gpuAvailability, gresFor, SINFO_SCRIPT } from './sinfo.js';
import { LocalLogin, SshLogin, type LoginShell } from './login.js';
import { SlurmRunner } from './runner.js';

export interface SlurmProviderOptions {
  /** $PETREL_HOME */
  home: string;
  pool?: SshPool;
}

/**
 * How often provision asks whether a pending allocation started, and teardown whether Slurm
 * let it go: every 100 ms for the first seconds (an idle cluster starts a job at its next
 * scheduling pass, typically within a second or two, and that wait is most of a launch), then
 * less often, up to every second, so a long queue costs the controller little.
 */
function pollDelayMs(elapsedMs: number): number {
  return elapsedMs < 3_000 ? 100 : Math.min(1_000, 100 * 2 ** Math.ceil((elapsedMs - 3_000) / 1_000));
}
/** How long teardown waits for Slurm to finish an allocation's cleanup (SkyPilot waits 60 s too). */
const CANCEL_WAIT_MS = 60_000;

/**
 * $1 = cluster name, $2 = job name, $3 = comment. Prints `petrel:home <home>`, when an
 * allocation of this cluster already exists (a retried provision) `petrel:job <id>`, and each
 * partition's time limit as `petrel:limit <sinfo line>` (see maxTimeOf).
 */
const PREPARE_SCRIPT = [
  'dir="$HOME/.petrel/clusters/$1"',
  'mkdir -p -- "$dir" || exit 3',
  'echo "petrel:home $HOME"',
  `squeue -h -u "$(id -un)" -n "$2" -t PENDING,CONFIGURING,RUNNING,SUSPENDED,REQUEUED,REQUEUE_HOLD -o '%i|%k' | while IFS='|' read -r id comment; do`,
  '  [ "$comment" = "$3" ] && echo "petrel:job $id"',
  'done',
  `${PARTITION_LIMITS_SCRIPT} 2>/dev/null | sed 's/^/petrel:limit /'`,
  'exit 0',
].join('\n');

/** $1 = allocation id: its squeue line and its age in seconds since submission. */
const POLL_SCRIPT = [
  `line=$(${ALLOCATION_SCRIPT} 2>&1) || { echo "petrel:gone $line"; exit 0; }`,
  '[ -n "$line" ] || { echo "petrel:gone"; exit 0; }',
  'echo "petrel:state $line"',
  'submitted=$(date -d "${line##*|}" +%s 2>/dev/null) && echo "petrel:age $(( $(date +%s) - submitted ))"',
  'exit 0',
].join('\n');

/**
 * $1 = allocation id, $2 = node list, $3 = cluster dir. Creates the node dirs and checks from
 * every node, in one step, that it sees them: prints `petrel:node <rank> <name>` per node of the
 * allocation (in Slurm's order), then `petrel:sees <name>` for each node that sees the dir.
 */
const SETTLE_SCRIPT = [
  'i=0',
  'for n in $(scontrol show hostnames "$2"); do mkdir -p -- "$3/node-$i" || exit 3; echo "petrel:node $i $n"; i=$((i + 1)); done',
  'srun --overlap --jobid="$1" --nodes="$i" --ntasks="$i" --ntasks-per-node=1 --quiet bash -c \'test -d "$1/node-0" && echo "petrel:sees $SLURMD_NODENAME"\' petrel "$3" </dev/null',
  'exit 0',
].join('\n');

/** $1 = allocation id. Cancels it; prints its state until it has left the queue or finished. */
const CANCEL_SCRIPT = [
  'scancel --quiet -- "$1" 2>/dev/null',
  `squeue -h -j "$1" -t all -o '%T' 2>/dev/null`,
  'exit 0',
].join('\n');

/** $1 = job name: the ids of the user's allocations of that name still alive. */
const FIND_SCRIPT = `squeue -h -u "$(id -un)" -n "$1" -o '%i' 2>/dev/null; exit 0`;

/** $1 = a cluster dir: removed (the caller has checked it is one). */
const REMOVE_SCRIPT = 'rm -rf -- "$1"; exit 0';
/** $1 = a cluster name (checked): its dir under the login user's home, removed. */
const REMOVE_BY_NAME_SCRIPT = 'rm -rf -- "$HOME/.petrel/clusters/$1"; exit 0';

const ENDING_OR_ALIVE = new Set(['PENDING', 'CONFIGURING', 'RUNNING', 'SUSPENDED', 'COMPLETING', 'REQUEUED', 'REQUEUE_HOLD', 'STOPPED', 'SIGNALING', 'STAGE_OUT', 'RESIZING']);

export class SlurmProvider implements Provider {
  readonly name = 'slurm';
  private readonly pool: SshPool;

  constructor(private readonly opts: SlurmProviderOptions) {
    this.pool = opts.pool ?? sharedPool;
  }

  private config(): SlurmConfig {
    return readSlurmConfig(this.opts.home);
  }

  private clusterConfig(config: SlurmConfig, region: string | undefined): SlurmClusterConfig {
    const names = [...config.clusters.keys()];
    if (names.length === 0) {
      throw new ProviderError('config', `no Slurm clusters configured: add Hosts to ${config.files.sshConfig} or clusters under 'slurm:' in ${config.files.petrelConfig}`);
    }
    const name = region ?? (names.length === 1 ? names[0]! : undefined);
    if (name === undefined) throw new ProviderError('config', `choose a Slurm cluster: --infra slurm/<cluster> (clusters: ${names.join(', ')})`);
    const cluster = config.clusters.get(name);
    if (!cluster) {
      const why = config.disallowed.includes(name) ? `is not in slurm.allowed_clusters in ${config.files.petrelConfig}` : 'is not configured';
      throw new ProviderError('config', `Slurm cluster '${name}' ${why} (clusters: ${names.join(', ') || 'none'})`);
    }
    return cluster;
  }

  private loginFor(login: SlurmLogin): LoginShell {
    return login.kind === 'local' ? new LocalLogin() : new SshLogin(login, knownHostsPath(this.opts.home), this.pool);
  }

  /** The login of a provisioned cluster, from its handle (the config may have changed since). */
  private loginOf(node: NodeHandle): LoginShell {
    const d = node.data;
    if (d.login === 'local') return new LocalLogin();
    if (d.login === 'ssh' && d.host && d.port && d.user && d.identity_file) {
      return this.loginFor({ kind: 'ssh', alias: d.login_alias ?? d.host, host: d.host, port: Number(d.port), user: d.user, identityFile: d.identity_file, ...(d.proxy_jump ? { proxyJump: d.proxy_jump } : {}), ...(d.proxy_command ? { proxyCommand: d.proxy_command } : {}) });
    }
    throw new ProviderError('config', `node ${node.rank} (${node.id}) has no Slurm login data; was it provisioned by the slurm provider?`);
  }

  async check(): Promise<CheckResult> {
    let config: SlurmConfig;
    try {
      config = this.config();
    } catch (err) {
      return { provider: this.name, enabled: false, detail: (err as Error).message };
    }
    if (config.clusters.size === 0) {
      return { provider: this.name, enabled: false, detail: `no Slurm clusters in ${config.files.sshConfig} or under 'slurm:' in ${config.files.petrelConfig}` };
    }
    const lines = await Promise.all(
      [...config.clusters.values()].map(async (cluster) => {
        try {
          const r = await this.loginFor(cluster.login).exec(SINFO_SCRIPT, [], { timeoutMs: 20_000, quick: true });
          if (r.exitCode !== 0) return { ok: false, line: `cluster ${cluster.name}: ${r.stderr.trim() || `sinfo exited with ${r.exitCode}`}` };
          return { ok: true, line: `cluster ${cluster.name}: ${describeCluster(r.stdout, cluster.partitions)}` };
        } catch (err) {
          return { ok: false, line: `cluster ${cluster.name}: ${(err as Error).message}` };
        }
      }),
    );
    const notes = config.disallowed.length ? [`not in allowed_clusters: ${config.disallowed.join(', ')}`] : [];
    return { provider: this.name, enabled: lines.some((l) => l.ok), detail: [...lines.map((l) => l.line), ...notes].join('; ') };
  }

  async gpus(): Promise<{ gpus: GpuAvailability[]; problems: string[] }> {
    const config = this.config();
    const answers = await Promise.all(
      [...config.clusters.values()].map(async (cluster) => {
        try {
          const r = await this.loginFor(cluster.login).exec(SINFO_SCRIPT, [], { timeoutMs: 20_000, quick: true });
          if (r.exitCode !== 0) return { gpus: [], problems: [`slurm/${cluster.name}: ${r.stderr.trim() || `sinfo exited with ${r.exitCode}`}`] };
          return { gpus: gpuAvailability(r.stdout, cluster.name, cluster.partitions), problems: [] };
        } catch (err) {
          return { gpus: [], problems: [`slurm/${cluster.name}: ${(err as Error).message}`] };
        }
      }),
    );
    return { gpus: answers.flatMap((a) => a.gpus), problems: answers.flatMap((a) => a.problems) };
  }

  /** The Slurm clusters (allowed ones, in config order). */
  async regions(): Promise<string[]> {
    try {
      return [...this.config().clusters.keys()];
    } catch {
      return [];
    }
  }

  /** A cluster's partitions Petrel may use, in preference order; [undefined] = Slurm's default partition. */
  async zones(region: string | undefined): Promise<Array<string | undefined>> {
    try {
      return this.clusterConfig(this.config(), region).partitions ?? [undefined];
    } catch {
      return [undefined];
    }
  }

  async provision(req: ProvisionRequest): Promise<ClusterHandle> {
    clusterDirOf(req.clusterName); // a name that could never be a directory of ours fails here
    const cluster = this.clusterConfig(this.config(), req.region);
    if (req.zone && cluster.partitions && !cluster.partitions.includes(req.zone)) {
      throw new ProviderError('config', `partition '${req.zone}' is not among slurm.${cluster.name}.partitions (${cluster.partitions.join(', ')})`);
    }
    const login = this.loginFor(cluster.login);
    const where = `slurm/${cluster.name}${req.zone ? `/${req.zone}` : ''}`;
    const name = allocationName(req.clusterName);
    const comment = `petrel:${req.idempotencyKey}`;

    const prep = await login.exec(PREPARE_SCRIPT, [req.clusterName, name, comment], { timeoutMs: 30_000 });
    if (prep.exitCode !== 0) throw loginFailure(where, login, prep.stderr, prep.exitCode);
    const home = /^petrel:home (.+)$/m.exec(prep.stdout)?.[1];
    if (!home || !home.startsWith('/')) throw new ProviderError('transient', `${where}: cannot tell the home directory on ${login.label}`);
    const clusterDir = path.posix.join(home, '.petrel/clusters', req.clusterName);
    try {
      return await this.allocate(req, cluster, login, where, clusterDir, home, prep.stdout);
    } catch (err) {
      // Refused, or cancelled for want of capacity: nothing of the cluster is left but its dir.
      // (A transient failure may leave an allocation the retry finds; teardown removes both.)
      if (err instanceof ProviderError && err.kind !== 'transient') await login.exec(REMOVE_SCRIPT, [clusterDir], { timeoutMs: 60_000 }).catch(() => undefined);
      throw err;
    }
  }

  /** The allocation's sbatch options for a request, then the allocation itself. */
  private async allocate(
    req: ProvisionRequest,
    cluster: SlurmClusterConfig,
    login: LoginShell,
    where: string,
    clusterDir: string,
    home: string,
    /** PREPARE_SCRIPT's answer */
    prepared: string,
  ): Promise<ClusterHandle> {
    const gres = req.accelerators && Object.keys(req.accelerators).length ? await this.gres(login, cluster, req.accelerators, req.zone) : undefined;
    const limits = [...prepared.matchAll(/^petrel:limit (.*)$/gm)].map((m) => m[1]).join('\n');
    const timeLimit = maxTimeOf(limits, req.zone, cluster.sbatchArgs);
    const args = sbatchArgs(
      { clusterName: req.clusterName, idempotencyKey: req.idempotencyKey, numNodes: req.numNodes, partition: req.zone, cpus: req.cpus, memoryGb: req.memoryGb, gres, outputDir: clusterDir, timeLimit },
      cluster,
    );
    return this.hold(login, {
      args,
      found: /^petrel:job (\d+)$/m.exec(prepared)?.[1],
      where,
      clusterDir,
      numNodes: req.numNodes,
      provisionTimeoutSeconds: cluster.provisionTimeoutSeconds,
      base: { provider: this.name, clusterName: req.clusterName, region: cluster.name, ...(req.zone ? { zone: req.zone } : {}) },
      loginData: this.loginData(cluster.login),
      filesystem: `slurm:${cluster.name}:${home}`,
    });
  }

  /**
   * Submits the allocation (unless one was found: a retried provision or start), waits until it
   * runs, and settles its nodes. Rank 0 keeps the sbatch options, so a stopped cluster can ask
   * for the same allocation again.
   */
  private async hold(login: LoginShell, spec: HoldSpec): Promise<ClusterHandle> {
    const { where, clusterDir } = spec;
    let jobId = spec.found;
    if (!jobId) {
      const r = await login.exec(sbatchCommand(spec.args), [], { stdin: BATCH_SCRIPT, timeoutMs: 60_000 });
      jobId = /^(\d+)/.exec(r.stdout.trim())?.[1];
      if (r.exitCode !== 0 || !jobId) {
        const c = classifySbatchError(r.stderr || r.stdout || `sbatch exited with ${r.exitCode}`);
        throw new ProviderError(c.kind, `${where}: ${c.message}`, c.scope);
      }
    }

    const running = await this.waitUntilRunning(login, jobId, spec.provisionTimeoutSeconds, where);
    const settle = await login.exec(SETTLE_SCRIPT, [jobId, running.nodeList, clusterDir], { timeoutMs: 120_000 });
    const names = [...settle.stdout.matchAll(/^petrel:node (\d+) (\S+)$/gm)].map((m) => m[2]!);
    const seeing = new Set([...settle.stdout.matchAll(/^petrel:sees (\S+)$/gm)].map((m) => m[1]!));
    if (names.length !== spec.numNodes) {
      throw new ProviderError('transient', `${where}: Slurm job ${jobId} holds ${names.length} node(s) (${running.nodeList}), ${spec.numNodes} requested`);
    }
    const blind = names.filter((n) => !seeing.has(n));
    if (blind.length > 0) {
      await this.cancel(login, jobId);
      const why = settle.stderr.trim() ? `: ${settle.stderr.trim().split('\n').slice(-2).join('; ')}` : '';
      throw new ProviderError('config', `${where}: node(s) ${blind.join(', ')} of Slurm job ${jobId} cannot see ${clusterDir} on the login host's home; Petrel needs the home shared between the login host and the compute nodes${why}`);
    }
    const nodes: NodeHandle[] = names.map((node, rank) => ({
      rank,
      id: `${jobId}/${node}`,
      ip: node,
      data: { ...spec.loginData, slurm_job_id: jobId!, node, dir: `${clusterDir}/node-${rank}`, ...(rank === 0 ? { sbatch_args: JSON.stringify(spec.args) } : {}) },
      filesystem: spec.filesystem,
    }));
    return { ...spec.base, label: `Slurm job ${jobId}`, nodes };
  }

  /**
   * Autostop's stop: the allocation is cancelled, so the nodes go back to the site, while the
   * cluster's files stay on the shared home, as a stopped VM keeps its disk.
   */
  async stop(handle: ClusterHandle): Promise<void> {
    if (handle.nodes.length === 0) return;
    const login = this.loginOf(handle.nodes[0]!);
    for (const id of allocationsOf(handle)) await this.cancel(login, id);
  }

  /** A stopped cluster started again: a new allocation with the same options (the nodes may differ). */
  async start(handle: ClusterHandle): Promise<ClusterHandle> {
    const first = handle.nodes[0];
    const args = parseStoredArgs(first?.data.sbatch_args);
    if (!first || !first.data.dir || !args) throw new ProviderError('config', `cluster ${handle.clusterName} has no stored Slurm request to start it again with`);
    const login = this.loginOf(first);
    const where = `slurm/${handle.region ?? '?'}${handle.zone ? `/${handle.zone}` : ''}`;
    const comment = args.find((a) => a.startsWith('--comment='))?.slice('--comment='.length) ?? '';
    const prep = await login.exec(PREPARE_SCRIPT, [handle.clusterName, allocationName(handle.clusterName), comment], { timeoutMs: 30_000 });
    if (prep.exitCode !== 0) throw loginFailure(where, login, prep.stderr, prep.exitCode);
    let timeout = DEFAULT_PROVISION_TIMEOUT_SECONDS;
    try {
      timeout = this.clusterConfig(this.config(), handle.region).provisionTimeoutSeconds;
    } catch {
      // the cluster left the config since: its handle still says how to reach it
    }
    const loginData = Object.fromEntries(Object.entries(first.data).filter(([k]) => LOGIN_KEYS.has(k)));
    return this.hold(login, {
      args,
      found: /^petrel:job (\d+)$/m.exec(prep.stdout)?.[1],
      where,
      clusterDir: path.posix.dirname(first.data.dir),
      numNodes: handle.nodes.length,
      provisionTimeoutSeconds: timeout,
      base: { provider: this.name, clusterName: handle.clusterName, ...(handle.region ? { region: handle.region } : {}), ...(handle.zone ? { zone: handle.zone } : {}) },
      loginData,
      filesystem: first.filesystem ?? '',
    });
  }

  private loginData(login: SlurmLogin): Record<string, string> {
    if (login.kind === 'local') return { login: 'local' };
    return {
      login: 'ssh',
      login_alias: login.alias,
      host: login.host,
      port: String(login.port),
      user: login.user,
      identity_file: login.identityFile,
      ...(login.proxyJump ? { proxy_jump: login.proxyJump } : {}),
      ...(login.proxyCommand ? { proxy_command: login.proxyCommand } : {}),
    };
  }

  /** --gres for the task's accelerators, matched against the GPU types the cluster has. */
  private async gres(login: LoginShell, cluster: SlurmClusterConfig, accelerators: Record<string, number>, partition: string | undefined): Promise<string> {
    const r = await login.exec(SINFO_SCRIPT, [], { timeoutMs: 20_000 });
    if (r.exitCode !== 0) throw new ProviderError('transient', `slurm/${cluster.name}: sinfo failed: ${r.stderr.trim() || `exit code ${r.exitCode}`}`);
    const g = gresFor(r.stdout, accelerators, partition);
    if (!g.ok) throw new ProviderError('capacity', `slurm/${cluster.name}${partition ? `/${partition}` : ''}: ${g.message}`, partition ? 'zone' : 'region');
    return g.gres;
  }

  /**
   * Polls until the allocation runs. Still pending after provision_timeout_seconds (counted from
   * Slurm's own submit time, so a retried provision does not start the clock again) is a
   * capacity error for the partition: the allocation is cancelled and the job fails over.
   */
  private async waitUntilRunning(login: LoginShell, jobId: string, provisionTimeoutSeconds: number, where: string): Promise<AllocationState> {
    const started = Date.now();
    for (;;) {
      const r = await login.exec(POLL_SCRIPT, [jobId], { timeoutMs: 30_000 });
      if (r.exitCode !== 0) throw loginFailure(where, login, r.stderr, r.exitCode);
      const stateLine = /^petrel:state (.*)$/m.exec(r.stdout)?.[1];
      const s = stateLine ? parseSqueueLine(stateLine) : undefined;
      if (!s) {
        const why = /^petrel:gone ?(.*)$/m.exec(r.stdout)?.[1]?.trim();
        throw new ProviderError('transient', `${where}: Slurm job ${jobId} disappeared while starting${why ? ` (${why})` : ''}`);
      }
      if (isHolding(s)) return s;
      if (!isWaiting(s)) throw new ProviderError('transient', `${where}: Slurm job ${jobId} ended while starting (${s.state}${s.reason && s.reason !== 'None' ? `, ${s.reason}` : ''})`);
      const hopeless = hopelessPending(s.reason);
      if (hopeless) {
        await this.cancel(login, jobId);
        throw new ProviderError(hopeless.kind, `${where}: Slurm will never start job ${jobId}: pending with reason ${s.reason} (${hopeless.why})`, hopeless.kind === 'capacity' ? 'zone' : undefined);
      }
      const age = Number(/^petrel:age (-?\d+)$/m.exec(r.stdout)?.[1] ?? 0);
      if (age >= provisionTimeoutSeconds) {
        await this.cancel(login, jobId);
        throw new ProviderError(
          'capacity',
          `${where}: Slurm job ${jobId} still ${s.state} after ${age} s (reason ${s.reason}; provision_timeout_seconds is ${provisionTimeoutSeconds})`,
          'zone',
        );
      }
      await sleep(pollDelayMs(Date.now() - started));
    }
  }

  /** scancel, then wait until Slurm has finished with the allocation. */
  private async cancel(login: LoginShell, jobId: string): Promise<void> {
    const started = Date.now();
    const deadline = started + CANCEL_WAIT_MS;
    for (;;) {
      const r = await login.exec(CANCEL_SCRIPT, [jobId], { timeoutMs: 30_000 });
      if (r.exitCode !== 0) throw new ProviderError('transient', `cancelling Slurm job ${jobId} via ${login.label}: ${r.stderr.trim() || `exit code ${r.exitCode}`}`);
      const state = r.stdout.trim();
      if (!ENDING_OR_ALIVE.has(state)) return;
      if (Date.now() > deadline) throw new ProviderError('transient', `Slurm job ${jobId} is still ${state} ${CANCEL_WAIT_MS / 1000} s after scancel`);
      await sleep(pollDelayMs(Date.now() - started));
    }
  }

  async query(handle: ClusterHandle): Promise<NodeStatus[]> {
    const [report] = await this.batchStatus([{ handle, key: 'petrel-query', ranks: handle.nodes.map((n) => n.rank) }]);
    return report!.nodes;
  }

  async batchStatus(jobs: WatchedJob[]): Promise<WatchedJobReport[]> {
    return slurmBatchStatus(jobs, (node) => this.loginOf(node));
  }

  /**
   * Cancels the allocation and waits until Slurm has let it go, then removes the cluster's
   * directory. A handle without nodes (a provision whose result was never seen) cancels the
   * allocations named after the cluster. Unlike an SSH host, a login host that does not answer
   * fails the teardown (retried): the allocation would otherwise keep its nodes.
   */
  async terminate(handle: ClusterHandle): Promise<void> {
    if (handle.nodes.length === 0) return this.terminateByName(handle);
    const login = this.loginOf(handle.nodes[0]!);
    for (const id of allocationsOf(handle)) await this.cancel(login, id);
    for (const dir of new Set(handle.nodes.map((n) => path.posix.dirname(n.data.dir ?? '')))) {
      // Only ever what provision created: never a home directory by mistake.
      if (!isPetrelClusterDir(dir)) throw new ProviderError('config', `refusing to remove '${dir}', which is not a Petrel cluster directory`);
      await login.exec(REMOVE_SCRIPT, [dir], { timeoutMs: 60_000 });
    }
  }

  private async terminateByName(handle: ClusterHandle): Promise<void> {
    let cluster: SlurmClusterConfig;
    try {
      cluster = this.clusterConfig(this.config(), handle.region);
    } catch {
      return; // no such cluster any more: nothing of it can be reached
    }
    const login = this.loginFor(cluster.login);
    const r = await login.exec(FIND_SCRIPT, [allocationName(handle.clusterName)], { timeoutMs: 30_000 });
    if (r.exitCode !== 0) throw loginFailure(`slurm/${cluster.name}`, login, r.stderr, r.exitCode);
    for (const id of r.stdout.split('\n').map((l) => l.trim()).filter((l) => /^\d+$/.test(l))) await this.cancel(login, id);
    await login.exec(REMOVE_BY_NAME_SCRIPT, [path.posix.basename(clusterDirOf(handle.clusterName))], { timeoutMs: 60_000 });
  }

  runner(handle: ClusterHandle, node: NodeHandle): SlurmRunner {
    const { slurm_job_id: jobId, node: nodeName, dir } = node.data;
    if (!jobId || !nodeName || !dir) throw new ProviderError('config', `node ${node.rank} (${node.id}) has no Slurm allocation data`);
    return new SlurmRunner(this.loginOf(node), { jobId, node: nodeName, dir, clusterName: handle.clusterName });
  }
}

interface HoldSpec {
  args: string[];
  /** an allocation already submitted for this request */
  found: string | undefined;
  /** `slurm/<cluster>[/<partition>]`, for messages */
  where: string;
  clusterDir: string;
  numNodes: number;
  provisionTimeoutSeconds: number;
  base: Pick<ClusterHandle, 'provider' | 'clusterName' | 'region' | 'zone'>;
  loginData: Record<string, string>;
  filesystem: string;
}

/** Node data saying how to reach the login node (see loginData). */
const LOGIN_KEYS = new Set(['login', 'login_alias', 'host', 'port', 'user', 'identity_file', 'proxy_jump', 'proxy_command']);

/** The Slurm jobs holding a cluster's nodes (one, unless a handle was pieced together). */
function allocationsOf(handle: ClusterHandle): Set<string> {
  return new Set(handle.nodes.map((n) => n.data.slurm_job_id).filter((id): id is string => !!id));
}

function parseStoredArgs(text: string | undefined): string[] | undefined {
  if (!text) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) && v.every((a) => typeof a === 'string') ? v : undefined;
  } catch {
    return undefined;
  }
}

function loginFailure(where: string, login: LoginShell, stderr: string, code: number): ProviderError {
  return new ProviderError('transient', `${where}: the login host (${login.label}) failed: ${stderr.trim() || `exit code ${code}`}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
