// The SSH node-pool provider: machines the user already has, listed in pools under
// `ssh_node_pools:` in $PETREL_HOME/config.yaml. A cluster's region is a pool name; its nodes
// are the first N hosts of the pool (or the hosts the request names). Nothing is created or
// destroyed but a per-node directory on each host, ~/.petrel/clusters/<cluster>/node-<rank>/,
// which is that node's home (providers/remote-layout.ts): two clusters sharing a host, or two
// nodes on hosts sharing one home (NFS), never see each other's files or jobs.
//
// A node handle carries everything a later process needs to reconnect (host, port, user,
// identity_file, proxy_jump, the cluster dir), so a cluster keeps working if its pool is later
// edited; only provision and check read the config.
import type { ClusterHandle, NodeHandle, NodeStatus } from '../../core/cluster-state.js';
import crypto from 'node:crypto';
import { clusterDirOf, FILESYSTEM_ID_SCRIPT, isPetrelClusterDir, nodeDirOf } from '../remote-layout.js';
import { ProviderError, type CheckResult, type Provider, type ProvisionRequest, type WatchedJob, type WatchedJobReport } from '../types.js';
import { sshBatchStatus } from './batch-status.js';
import { parseHostString, parseProxyJump, readSshConfig, type SshConfig, type SshHostConfig, type SshPoolConfig } from './config.js';
import { label, PATIENT, QUICK, sharedPool, type ConnectPolicy, type SshPool, type SshTarget } from './connection.js';
import { TEARDOWN_SCRIPT } from './jobs.js';
import { knownHostsPath } from './known-hosts.js';
import { bashCommand, SshRunner } from './runner.js';
import { groupByFilesystem, uploadOncePerFilesystem } from './shared-upload.js';
import { shellQuote } from './shell.js';

export { closeSshConnections, sharedPool, SshPool } from './connection.js';
export { SshRunner } from './runner.js';


export interface SshProviderOptions {
  /** $PETREL_HOME */
  home: string;
  pool?: SshPool;
}

/** How long check/query wait for a host to run `true`. */
const PROBE_TIMEOUT_MS = 5_000;

export { clusterDirOf };

function targetOf(h: SshHostConfig): SshTarget {
  const t: SshTarget = { host: h.host, port: h.port, user: h.user, identityFile: h.identityFile };
  if (h.proxyJump) t.proxyJump = jumpTarget(h.proxyJump, h.user, h.identityFile);
  return t;
}

function jumpTarget(spec: string, user: string, identityFile: string): SshTarget {
  const j = parseProxyJump(spec);
  if (!j.ok) throw new ProviderError('config', `proxy_jump '${spec}': ${j.problems[0]?.message ?? 'invalid'}`);
  return { host: j.value.host, port: j.value.port, user: j.value.user ?? user, identityFile };
}

export function nodeTarget(node: NodeHandle): SshTarget {
  const d = node.data;
  if (!d.host || !d.port || !d.user || !d.identity_file) {
    throw new ProviderError('config', `node ${node.rank} (${node.id}) has no SSH connection data; was it provisioned by the ssh provider?`);
  }
  const t: SshTarget = { host: d.host, port: Number(d.port), user: d.user, identityFile: d.identity_file };
  if (d.proxy_jump) t.proxyJump = jumpTarget(d.proxy_jump, d.user, d.identity_file);
  return t;
}

export class SshProvider implements Provider {
  readonly name = 'ssh';
  private readonly pool: SshPool;

  constructor(private readonly opts: SshProviderOptions) {
    this.pool = opts.pool ?? sharedPool;
  }

  get knownHostsFile(): string {
    return knownHostsPath(this.opts.home);
  }

  private config(): SshConfig {
    return readSshConfig(this.opts.home);
  }

  /** Connects (per `policy`) and runs `true` within PROBE_TIMEOUT_MS; with `sftp`, also says whether the host has SFTP. */
  private async probe(target: SshTarget, policy: ConnectPolicy, sftp = false): Promise<{ sftp?: boolean }> {
    return this.pool.use(target, { knownHostsFile: this.knownHostsFile, policy }, async (c) => {
      const r = await c.exec('true', { timeoutMs: PROBE_TIMEOUT_MS, onTimeout: 'fail' });
      if (r.exitCode !== 0) throw new ProviderError('transient', `${label(target)}: 'true' exited with ${r.exitCode}`);
      return sftp ? { sftp: (await c.sftpIfAvailable()) !== undefined } : {};
    });
  }

  async check(): Promise<CheckResult> {
    let config: SshConfig;
    try {
      config = this.config();
    } catch (err) {
      return { provider: this.name, enabled: false, detail: (err as Error).message };
    }
    if (config.pools.size === 0) {
      return { provider: this.name, enabled: false, detail: `no ssh_node_pools in ${config.file}` };
    }
    const reports = await Promise.all(
      [...config.pools.values()].map(async (pool) => {
        const results = await Promise.all(
          pool.hosts.map(async (h) => {
            try {
              const { sftp } = await this.probe(targetOf(h), QUICK, true);
              return { host: label(h), ok: true, why: '', noSftp: sftp === false };
            } catch (err) {
              return { host: label(h), ok: false, why: (err as Error).message, noSftp: false };
            }
          }),
        );
        const up = results.filter((r) => r.ok);
        const down = [...new Set(results.filter((r) => !r.ok).map((r) => r.why))];
        const noSftp = results.filter((r) => r.noSftp).map((r) => r.host);
        const line =
          `pool ${pool.name}: ${up.length}/${results.length} hosts answer` +
          (up.length ? ` (${up.map((r) => r.host).join(', ')})` : '') +
          (noSftp.length ? `; no SFTP subsystem on ${noSftp.join(', ')}: using exec transfers` : '') +
          (down.length ? `; ${down.join('; ')}` : '');
        return { up: up.length, line };
      }),
    );
    return { provider: this.name, enabled: reports.some((r) => r.up > 0), detail: reports.map((r) => r.line).join('; ') };
  }

  /** The pool names: a cluster's region. */
  async regions(): Promise<string[]> {
    try {
      return [...this.config().pools.keys()];
    } catch {
      return [];
    }
  }

  /** Hosts of the pool that answer right now: a dead host is never leased. */
  async leasableHosts(region: string | undefined): Promise<{ pool: string; hosts: string[] }> {
    const pool = this.poolFor(this.config(), region);
    const answering = await Promise.all(
      pool.hosts.map(async (h) => {
        try {
          await this.probe(targetOf(h), QUICK);
          return true;
        } catch {
          return false;
        }
      }),
    );
    return { pool: pool.name, hosts: pool.hosts.filter((_, i) => answering[i]).map(label) };
  }

  async provision(req: ProvisionRequest): Promise<ClusterHandle> {
    const config = this.config();
    const pool = this.poolFor(config, req.region);
    const hosts = this.pickHosts(pool, req);
    const failures: ProviderError[] = [];
    /** per rank: the id of the filesystem holding that host's home */
    const filesystems: string[] = [];
    await Promise.all(
      hosts.map(async (h, rank) => {
        const dir = nodeDirOf(req.clusterName, rank);
        try {
          const r = await this.pool.use(targetOf(h), { knownHostsFile: this.knownHostsFile, policy: PATIENT }, (c) =>
            c.exec(bashCommand(FILESYSTEM_ID_SCRIPT, [dir, crypto.randomUUID()]), { timeoutMs: 30_000, onTimeout: 'fail' }),
          );
          const fsid = r.stdout.toString().trim();
          if (r.exitCode !== 0 || !fsid) {
            throw new ProviderError('transient', `cannot create ${dir} on ${label(h)}: ${r.stderr.toString().trim() || `exit code ${r.exitCode}`}`);
          }
          filesystems[rank] = fsid;
        } catch (err) {
          failures.push(err instanceof ProviderError ? err : new ProviderError('transient', `${label(h)}: ${(err as Error).message}`));
        }
      }),
    );
    if (failures.length) {
      // A configuration problem blocks the whole pool; otherwise the hosts may come back.
      const kind = failures.some((f) => f.kind === 'config') ? 'config' : 'transient';
      throw new ProviderError(kind, `pool ${pool.name}: ${failures.map((f) => f.message).join('; ')}`);
    }
    const nodes: NodeHandle[] = hosts.map((h, rank) => {
      const data: Record<string, string> = {
        pool: pool.name,
        host: h.host,
        port: String(h.port),
        user: h.user,
        identity_file: h.identityFile,
        dir: nodeDirOf(req.clusterName, rank),
      };
      if (h.proxyJump) data.proxy_jump = h.proxyJump;
      return { rank, id: `${req.clusterName}-${rank}`, ip: h.host, data, filesystem: filesystems[rank] };
    });
    return { provider: this.name, clusterName: req.clusterName, region: pool.name, ...(req.zone ? { zone: req.zone } : {}), nodes };
  }

  private poolFor(config: SshConfig, region: string | undefined): SshPoolConfig {
    const names = [...config.pools.keys()];
    if (names.length === 0) throw new ProviderError('config', `no ssh_node_pools in ${config.file}`);
    const name = region ?? (names.length === 1 ? names[0]! : undefined);
    if (name === undefined) {
      throw new ProviderError('config', `choose an SSH node pool as the region (pools in ${config.file}: ${names.join(', ')})`);
    }
    const pool = config.pools.get(name);
    if (!pool) throw new ProviderError('config', `no SSH node pool '${name}' in ${config.file} (pools: ${names.join(', ')})`);
    return pool;
  }

  private pickHosts(pool: SshPoolConfig, req: ProvisionRequest): SshHostConfig[] {
    if (req.hosts && req.hosts.length > 0) {
      if (req.hosts.length !== req.numNodes) {
        throw new ProviderError('config', `${req.numNodes} node(s) requested but ${req.hosts.length} host(s) named`);
      }
      return req.hosts.map((spec) => {
        const parsed = parseHostString(spec);
        if (!parsed.ok) throw new ProviderError('config', `host '${spec}': ${parsed.problems[0]?.message ?? 'invalid'}`);
        const { ip, port } = parsed.value;
        const matches = pool.hosts.filter((h) => h.host === ip && (port === undefined || h.port === port));
        if (matches.length === 0) {
          throw new ProviderError('config', `host '${spec}' is not in pool ${pool.name} (hosts: ${pool.hosts.map(label).join(', ')})`);
        }
        if (matches.length > 1) throw new ProviderError('config', `host '${spec}' is ambiguous in pool ${pool.name}; add the port`);
        return matches[0]!;
      });
    }
    if (pool.hosts.length < req.numNodes) {
      throw new ProviderError(
        'capacity',
        `pool ${pool.name} has ${pool.hosts.length} host(s); ${req.numNodes} node(s) requested`,
        'region',
      );
    }
    return pool.hosts.slice(0, req.numNodes);
  }

  async query(handle: ClusterHandle): Promise<NodeStatus[]> {
    return Promise.all(
      handle.nodes.map(async (node): Promise<NodeStatus> => {
        const target = nodeTarget(node);
        let out: string;
        try {
          const r = await this.pool.use(target, { knownHostsFile: this.knownHostsFile, policy: QUICK }, (c) =>
            c.exec(`test -d ${shellQuote(node.data.dir ?? '.')} && echo up || echo gone`, { timeoutMs: PROBE_TIMEOUT_MS, onTimeout: 'fail' }),
          );
          out = r.stdout.toString().trim();
        } catch (err) {
          if (err instanceof ProviderError && err.kind === 'config') throw err;
          return { rank: node.rank, state: 'gone', reason: 'unreachable' };
        }
        return out === 'up' ? { rank: node.rank, state: 'up' } : { rank: node.rank, state: 'gone', reason: 'terminated' };
      }),
    );
  }

  /**
   * Nodes and jobs of many clusters with one exec per host (providers/ssh/batch-status.ts): the
   * answers query() and each node's runner.status() would give, an unreachable host's nodes
   * `gone`/`unreachable` and their jobs `unknown`. Throws only what query() throws: a
   * configuration problem (key refused, host key changed, a handle without SSH data).
   */
  async batchStatus(jobs: WatchedJob[]): Promise<WatchedJobReport[]> {
    return sshBatchStatus({ pool: this.pool, knownHostsFile: this.knownHostsFile, timeoutMs: PROBE_TIMEOUT_MS, nodeTarget }, jobs);
  }

  /**
   * On each node, kills the jobs that node started and removes its node directory (and the
   * cluster directory once no node of the cluster is left in it). A host that does not answer
   * is skipped (there is nothing we could do there); a configuration problem (key refused,
   * host key changed) is reported so the user can fix it and retry. A handle without nodes (a
   * provision whose result was never seen) removes the cluster's directories on every host of
   * its pool: no job can have started there, so there is nothing to kill.
   */
  async terminate(handle: ClusterHandle): Promise<void> {
    if (handle.nodes.length === 0) return this.removeByName(handle);
    const problems: ProviderError[] = [];
    // Nodes on one filesystem one after another, so the last sees it is the last.
    const inTurn = async (group: NodeHandle[], fn: (node: NodeHandle) => Promise<void>) => {
      for (const node of group) await fn(node);
    };
    await Promise.all(
      groupByFilesystem(handle.nodes).map((group) => inTurn(group, async (node) => {
        try {
          const target = nodeTarget(node);
          const dir = node.data.dir ?? clusterDirOf(handle.clusterName);
          // We only ever remove what provision created: never a home directory by mistake.
          if (!isPetrelClusterDir(dir)) {
            throw new ProviderError('config', `node ${node.rank}: refusing to remove '${dir}', which is not a Petrel cluster directory`);
          }
          const r = await this.pool.use(target, { knownHostsFile: this.knownHostsFile, policy: QUICK }, (c) =>
            c.exec(bashCommand(TEARDOWN_SCRIPT, [dir, clusterDirOf(handle.clusterName)]), { timeoutMs: 60_000, onTimeout: 'fail' }),
          );
          if (r.exitCode !== 0) {
            problems.push(new ProviderError('transient', `cleaning up ${dir} on ${label(target)}: ${r.stderr.toString().trim() || `exit code ${r.exitCode}`}`));
          }
        } catch (err) {
          if (err instanceof ProviderError && err.kind === 'config') problems.push(err);
          // unreachable: already gone as far as we can tell
        }
      })),
    );
    if (problems.length) {
      const kind = problems.some((p) => p.kind === 'config') ? 'config' : 'transient';
      throw new ProviderError(kind, problems.map((p) => p.message).join('; '));
    }
  }

  async uploadToNodes(handle: ClusterHandle, nodes: NodeHandle[], localDir: string, remoteDir: string): Promise<void> {
    await uploadOncePerFilesystem(handle, nodes, localDir, remoteDir, (node) => this.runner(handle, node));
  }

  private async removeByName(handle: ClusterHandle): Promise<void> {
    let pool: SshPoolConfig;
    try {
      pool = this.poolFor(this.config(), handle.region);
    } catch {
      return; // no such pool any more: nothing of it can be reached
    }
    const dir = clusterDirOf(handle.clusterName);
    await Promise.all(
      pool.hosts.map((h) =>
        this.pool
          .use(targetOf(h), { knownHostsFile: this.knownHostsFile, policy: QUICK }, (c) =>
            c.exec(`rm -rf -- ${shellQuote(dir)}`, { timeoutMs: 60_000, onTimeout: 'fail' }),
          )
          .catch(() => undefined),
      ),
    );
  }

  runner(handle: ClusterHandle, node: NodeHandle): SshRunner {
    return new SshRunner({
      target: nodeTarget(node),
      home: node.data.dir ?? clusterDirOf(handle.clusterName),
      knownHostsFile: this.knownHostsFile,
      pool: this.pool,
    });
  }
}
