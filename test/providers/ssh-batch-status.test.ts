// SshProvider.batchStatus against real sshd: the nodes and jobs of many clusters at once, one
// exec per host (counted twice: by a pool that counts the execs it hands out, and by the
// "Starting session: command" lines each sshd logs), with the same answers as query() and
// runner.status(). Hosts with homes of their own, a pair sharing one home (NFS), a host
// without SFTP; hosts that are down, frozen, or whose key changed. Also prints (asserts
// nothing about) how long 300 jobs on 3 hosts take.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterHandle, NodeHandle } from '../../core/cluster-state.js';
import { nodeDirOf } from '../../providers/remote-layout.js';
import { SshPool, type ConnectContext, type Connection, type SshTarget } from '../../providers/ssh/connection.js';
import { SshProvider } from '../../providers/ssh/index.js';
import type { DetachedJobState, WatchedJob, WatchedJobReport } from '../../providers/types.js';
import { alive, waitFor } from '../support/petrel.js';
import { startSshd, type SshdCluster, type SshdHost } from '../support/sshd.js';

/** A pool that counts the execs run on its connections, per host (ip:port). */
class CountingPool extends SshPool {
  readonly execs = new Map<string, number>();

  override use<T>(target: SshTarget, ctx: ConnectContext, fn: (c: Connection) => Promise<T>): Promise<T> {
    return super.use(target, ctx, (c) => {
      const counted = new Proxy(c, {
        get: (t, prop) => {
          if (prop === 'exec') {
            return (...args: Parameters<Connection['exec']>) => {
              const host = `${target.host}:${target.port}`;
              this.execs.set(host, (this.execs.get(host) ?? 0) + 1);
              return t.exec(...args);
            };
          }
          const v = Reflect.get(t, prop, t) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
        },
      });
      return fn(counted);
    });
  }

  /** execs per host since the last call */
  take(): Record<string, number> {
    const out = Object.fromEntries(this.execs);
    this.execs.clear();
    return out;
  }
}

/** three hosts with homes of their own */
let own: SshdCluster;
/** two hosts serving one user with one home */
let shared: SshdCluster;
/** one host whose sshd has no SFTP subsystem */
let nosftp: SshdCluster;
let home: string;
let pool: CountingPool;
let provider: SshProvider;

const A = (i: number) => own.hosts[i]!;
const S = (i: number) => shared.hosts[i]!;
const N = () => nosftp.hosts[0]!;
const id = (h: SshdHost) => `${h.ip}:${h.port}`;

beforeAll(async () => {
  own = await startSshd(3);
  shared = await startSshd(2, { sharedUser: true });
  nosftp = await startSshd(1, { sftp: false });
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-sshbatch-'));
  const entry = (c: SshdCluster, h: SshdHost) => `      - {ip: ${h.ip}, port: ${h.port}, user: ${h.user}, identity_file: ${c.clientKey}}`;
  fs.writeFileSync(
    path.join(home, 'config.yaml'),
    [
      'ssh_node_pools:',
      '  mix:',
      '    user: nobody-by-default',
      `    identity_file: ${own.clientKey}`,
      '    hosts:',
      ...own.hosts.map((h) => entry(own, h)),
      ...shared.hosts.map((h) => entry(shared, h)),
      ...nosftp.hosts.map((h) => entry(nosftp, h)),
      '',
    ].join('\n'),
  );
  pool = new CountingPool();
  provider = new SshProvider({ home, pool });
});

afterAll(async () => {
  pool?.closeAll();
  await own?.stop();
  await shared?.stop();
  await nosftp?.stop();
  if (home) fs.rmSync(home, { recursive: true, force: true });
});

function provision(name: string, hosts: SshdHost[]): Promise<ClusterHandle> {
  return provider.provision({ clusterName: name, numNodes: hosts.length, region: 'mix', useSpot: false, idempotencyKey: name, hosts: hosts.map(id) });
}

async function start(h: ClusterHandle, rank: number, key: string, script: string): Promise<void> {
  await provider.runner(h, h.nodes[rank]!).startDetached({ key, script, env: {} });
}

async function settled(h: ClusterHandle, rank: number, key: string, want: DetachedJobState['state']): Promise<void> {
  const r = provider.runner(h, h.nodes[rank]!);
  await waitFor(`${h.clusterName}/${rank} ${key} ${want}`, async () => (await r.status(key)).state === want || undefined);
}

/** The node's directory on the machine (as root, through the test host's home). */
function nodeDir(host: SshdHost, cluster: string, rank: number): string {
  return path.join(host.home, nodeDirOf(cluster, rank));
}

/** "Starting session: command" lines in each host's sshd log: one per exec channel. */
function sshdExecs(hosts: SshdHost[]): number[] {
  return hosts.map((h) => (fs.readFileSync(h.log, 'utf8').match(/Starting session: command /g) ?? []).length);
}

/** What query() and every node's runner.status() say, in a report's shape. */
async function oneByOne(job: WatchedJob): Promise<WatchedJobReport> {
  const all = await provider.query(job.handle);
  return {
    nodes: job.ranks.map((r) => all.find((s) => s.rank === r)!),
    jobs: await Promise.all(job.ranks.map((r) => provider.runner(job.handle, job.handle.nodes.find((n) => n.rank === r)!).status(job.key))),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length) {
    const p = todo.pop()!;
    for (const [child, pp] of parent) {
      if (pp !== p) continue;
      out.push(child);
      todo.push(child);
    }
  }
  return out;
}

const up = (rank: number) => ({ rank, state: 'up' });
const terminated = (rank: number) => ({ rank, state: 'gone', reason: 'terminated' });
const unreachable = (rank: number) => ({ rank, state: 'gone', reason: 'unreachable' });
const running = { state: 'running' };
const lost = { state: 'lost' };
const unknown = { state: 'unknown' };
const exited = (exitCode: number) => ({ state: 'exited', exitCode });

describe('ssh batchStatus', () => {
  let c1: ClusterHandle;
  let c2: ClusterHandle;
  let c3: ClusterHandle;
  let s1: ClusterHandle;
  let n1: ClusterHandle;
  let watched: WatchedJob[];

  beforeAll(async () => {
    c1 = await provision('c1', [A(0), A(1), A(2)]);
    c2 = await provision('c2', [A(0), A(1)]);
    c3 = await provision('c3', [A(2)]);
    s1 = await provision('s1', [S(0), S(1)]);
    n1 = await provision('n1', [N()]);
    // the shared pair really is one home
    expect(s1.nodes[0]!.filesystem).toBe(s1.nodes[1]!.filesystem);

    await start(c1, 0, 'run', 'sleep 300');
    await start(c1, 1, 'run', 'exit 0');
    await start(c1, 2, 'run', 'exit 3');
    await start(c2, 0, 'k', 'sleep 300');
    await start(c2, 1, 'k', 'sleep 300');
    await start(c2, 0, 'e', 'true');
    await start(c2, 1, 'e', 'true');
    await start(c3, 0, 'x', 'true');
    await start(s1, 0, 'run', 'exit 5');
    await start(s1, 1, 'run', 'sleep 300');
    await start(n1, 0, 'run', 'exit 0');
    await start(n1, 0, 'long', 'sleep 300');

    // a killed wrapper (it never wrote an exit code): lost
    await settled(c2, 0, 'k', 'running');
    const pid = Number(fs.readFileSync(path.join(nodeDir(A(0), 'c2', 0), '.petrel/jobs/k/pid'), 'utf8'));
    process.kill(-pid, 'SIGKILL');
    await waitFor('killed wrapper to die', () => !alive(pid) || undefined);

    // a job dir with no pid yet: running within the start grace, lost long after it
    for (const [key, age] of [['fresh', 0], ['stuck', 3600]] as const) {
      const dir = path.join(nodeDir(A(1), 'c2', 1), '.petrel/jobs', key);
      fs.mkdirSync(dir);
      fs.chownSync(dir, A(1).uid, A(1).uid);
      const t = Date.now() / 1000 - age;
      fs.utimesSync(dir, t, t);
    }

    await settled(c1, 0, 'run', 'running');
    await settled(c1, 1, 'run', 'exited');
    await settled(c1, 2, 'run', 'exited');
    await settled(c2, 1, 'k', 'running');
    await settled(c2, 0, 'e', 'exited');
    await settled(c2, 1, 'e', 'exited');
    await settled(c3, 0, 'x', 'exited');
    await settled(s1, 0, 'run', 'exited');
    await settled(s1, 1, 'run', 'running');
    await settled(n1, 0, 'run', 'exited');
    await settled(n1, 0, 'long', 'running');
    // c3's node directory goes away behind our back (a teardown by another worker, say)
    fs.rmSync(nodeDir(A(2), 'c3', 0), { recursive: true });

    watched = [
      { handle: c1, key: 'run', ranks: [0, 1, 2] },
      { handle: c2, key: 'k', ranks: [0, 1] },
      { handle: c2, key: 'e', ranks: [1, 0] },
      { handle: c2, key: 'fresh', ranks: [1] },
      { handle: c2, key: 'stuck', ranks: [1] },
      { handle: c2, key: 'never-started', ranks: [0] },
      { handle: c3, key: 'x', ranks: [0] },
      { handle: s1, key: 'run', ranks: [0, 1] },
      { handle: n1, key: 'run', ranks: [0] },
      { handle: n1, key: 'long', ranks: [0] },
    ];
  });

  it('answers every node and job of many clusters on six hosts with one exec per host, as query() and runner.status() would', async () => {
    const hosts = [A(0), A(1), A(2), S(0), S(1), N()];
    await sleep(300); // sshd writes its log lines a little after the channel opened
    const logged = sshdExecs(hosts);
    pool.take();
    const t0 = Date.now();
    const reports = await provider.batchStatus(watched);
    const took = Date.now() - t0;
    const counted = pool.take();
    await sleep(300);
    const loggedAfter = sshdExecs(hosts);

    expect(reports).toEqual([
      { nodes: [up(0), up(1), up(2)], jobs: [running, exited(0), exited(3)] },
      { nodes: [up(0), up(1)], jobs: [lost, running] },
      { nodes: [up(1), up(0)], jobs: [exited(0), exited(0)] },
      { nodes: [up(1)], jobs: [running] },
      { nodes: [up(1)], jobs: [lost] },
      { nodes: [up(0)], jobs: [unknown] },
      // the node dir is gone, and with it the job dir: the script has nothing to go on
      { nodes: [terminated(0)], jobs: [unknown] },
      // one home, two nodes: each its own job
      { nodes: [up(0), up(1)], jobs: [exited(5), running] },
      { nodes: [up(0)], jobs: [exited(0)] },
      { nodes: [up(0)], jobs: [running] },
    ]);
    // exactly one exec on each of the six hosts, by our count and by sshd's
    expect(counted).toEqual(Object.fromEntries(hosts.map((h) => [id(h), 1])));
    expect(loggedAfter.map((n, i) => n - logged[i]!)).toEqual([1, 1, 1, 1, 1, 1]);
    console.log(`batchStatus: ${watched.length} job phases, ${watched.reduce((n, w) => n + w.ranks.length, 0)} (job, rank) pairs on 6 hosts in ${took} ms; execs per host: ${JSON.stringify(counted)}`);

    // the same answers, one node and one job at a time
    for (const [i, w] of watched.entries()) {
      if (w.key === 'fresh') continue; // a fresh dir ages while we ask; checked above
      expect(await oneByOne(w), `${w.handle.clusterName} ${w.key}`).toEqual(reports[i]);
    }
  });

  it('an empty batch asks nobody', async () => {
    pool.take();
    expect(await provider.batchStatus([])).toEqual([]);
    expect(pool.take()).toEqual({});
  });

  it('a stopped host: its nodes unreachable, their jobs unknown, the others answered, nothing thrown, within seconds', async () => {
    const open = pool.size;
    await own.kill(2);
    try {
      // The pool learns of the closed connection from the socket, a moment later on a busy
      // machine; until then its exec would be counted (and fail as stale, then be retried).
      await waitFor('the pool to drop the stopped host\'s connection', () => (pool.size < open ? true : undefined), 5_000, 20).catch(() => undefined);
      pool.take();
      const t0 = Date.now();
      const reports = await provider.batchStatus([watched[0]!, watched[6]!, watched[7]!]);
      const took = Date.now() - t0;
      expect(reports).toEqual([
        { nodes: [up(0), up(1), unreachable(2)], jobs: [running, exited(0), unknown] },
        { nodes: [unreachable(0)], jobs: [unknown] },
        { nodes: [up(0), up(1)], jobs: [exited(5), running] },
      ]);
      // connection refused: QUICK's two attempts, no waiting on timeouts
      expect(took).toBeLessThan(3_000);
      expect(pool.take()).toEqual({ [id(A(0))]: 1, [id(A(1))]: 1, [id(S(0))]: 1, [id(S(1))]: 1 });
    } finally {
      await own.restart(2);
    }
    // back: its sshd is up again (the host lost its processes, so c1's rank-2 job stays exited)
    expect((await provider.batchStatus([watched[0]!]))[0]).toEqual({ nodes: [up(0), up(1), up(2)], jobs: [running, exited(0), exited(3)] });
  });

  it('a frozen host (open connection, then a new one) is unreachable within the probe timeout, the others unaffected', async () => {
    // warm connection to host 1 first: the freeze must hit an open, pooled connection
    await provider.batchStatus([watched[1]!]);
    const frozen = [A(1).pid, ...descendants(A(1).pid)];
    for (const p of frozen) process.kill(p, 'SIGSTOP');
    try {
      for (const how of ['pooled connection', 'new connection']) {
        if (how === 'new connection') pool.closeAll();
        const t0 = Date.now();
        const reports = await provider.batchStatus([watched[1]!, watched[7]!]);
        const took = Date.now() - t0;
        console.log(`frozen host, ${how}: answered in ${took} ms`);
        expect(reports, how).toEqual([
          { nodes: [up(0), unreachable(1)], jobs: [lost, unknown] },
          { nodes: [up(0), up(1)], jobs: [exited(5), running] },
        ]);
        // pooled: the 5 s probe timeout; new: QUICK's two 3 s handshakes
        expect(took, how).toBeLessThan(how === 'pooled connection' ? 6_500 : 8_500);
      }
    } finally {
      for (const p of frozen) {
        try {
          process.kill(p, 'SIGCONT');
        } catch {
          // gone
        }
      }
    }
    await waitFor('host 1 to answer again', async () => {
      const [r] = await provider.batchStatus([watched[1]!]);
      return r!.nodes[1]!.state === 'up' || undefined;
    });
  });

  it('a host whose key changed is unreachable for the batch (the other hosts answer); query() fails with the config error', async () => {
    await own.restart(0, { newHostKey: true });
    pool.closeAll();
    try {
      const [changed, other] = await provider.batchStatus([watched[0]!, watched[7]!]);
      // c1's rank 0 is on the reinstalled host; ranks 1 and 2 are on hosts that still answer.
      expect(changed!.nodes).toEqual([{ rank: 0, state: 'gone', reason: 'unreachable' }, { rank: 1, state: 'up' }, { rank: 2, state: 'up' }]);
      expect(changed!.jobs[0]).toEqual({ state: 'unknown' });
      expect(other!.nodes.every((n) => n.state === 'up')).toBe(true);
      await expect(provider.query(c1)).rejects.toMatchObject({ kind: 'config', message: expect.stringContaining(`host key of ${id(A(0))} changed`) });
    } finally {
      // forget the old key again so the host can be used after this test
      const kh = path.join(home, 'known_hosts');
      fs.writeFileSync(kh, fs.readFileSync(kh, 'utf8').split('\n').filter((l) => !l.startsWith(`[${A(0).ip}]:${A(0).port} `)).join('\n'));
    }
  });

  it('300 jobs on 3 hosts: one exec per host (timing printed, not asserted)', async () => {
    // 100 one-node clusters per host, each with one job: a third exited, a third running (the
    // pid of a real running job), a third lost. Built on disk directly: starting 300 jobs
    // would only slow the test down, and the status script reads nothing else.
    const hosts = [A(0), A(1), A(2)];
    const tpl = await provision('tpl', hosts);
    for (const rank of hosts.keys()) await start(tpl, rank, 'live', 'sleep 300');
    const livePids = await Promise.all(
      hosts.map((h, rank) =>
        waitFor('live pid', () => {
          const f = path.join(nodeDir(h, 'tpl', rank), '.petrel/jobs/live/pid');
          return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trim() : undefined;
        }),
      ),
    );
    const jobs: WatchedJob[] = [];
    const want: WatchedJobReport[] = [];
    for (let i = 0; i < 300; i++) {
      const hi = i % 3;
      const h = hosts[hi]!;
      const name = `t${i}`;
      const dir = path.join(h.home, nodeDirOf(name, 0), '.petrel/jobs/run');
      fs.mkdirSync(dir, { recursive: true });
      const kind = Math.floor(i / 3) % 3;
      if (kind === 0) fs.writeFileSync(path.join(dir, 'exit_code'), String(i % 7));
      fs.writeFileSync(path.join(dir, 'pid'), `${kind === 2 ? 2_000_000_000 : livePids[hi]}\n`);
      fs.chownSync(path.join(h.home, '.petrel/clusters', name), h.uid, h.uid);
      const node: NodeHandle = { ...tpl.nodes[hi]!, rank: 0, id: `${name}-0`, data: { ...tpl.nodes[hi]!.data, dir: nodeDirOf(name, 0) } };
      jobs.push({ handle: { ...tpl, clusterName: name, nodes: [node] }, key: 'run', ranks: [0] });
      want.push({ nodes: [up(0)], jobs: [kind === 0 ? exited(i % 7) : kind === 1 ? running : lost] });
    }

    const cold = new CountingPool();
    const coldProvider = new SshProvider({ home, pool: cold });
    try {
      let t0 = Date.now();
      expect(await coldProvider.batchStatus(jobs)).toEqual(want);
      const coldMs = Date.now() - t0;
      expect(cold.take()).toEqual(Object.fromEntries(hosts.map((h) => [id(h), 1])));
      const warm: number[] = [];
      for (let k = 0; k < 5; k++) {
        t0 = Date.now();
        await coldProvider.batchStatus(jobs);
        warm.push(Date.now() - t0);
      }
      expect(cold.take()).toEqual(Object.fromEntries(hosts.map((h) => [id(h), 5])));
      // for scale: the same answers one runner.status() at a time (SFTP reads on an open session)
      t0 = Date.now();
      await Promise.all(jobs.map((j) => coldProvider.runner(j.handle, j.handle.nodes[0]!).status('run')));
      const oneByOneMs = Date.now() - t0;
      warm.sort((a, b) => a - b);
      console.log(
        `300 jobs on 3 hosts: batchStatus ${coldMs} ms with new connections, ${warm[2]} ms median warm (${warm.join(', ')}); ` +
          `300 runner.status() calls in parallel: ${oneByOneMs} ms`,
      );
    } finally {
      cold.closeAll();
      await provider.terminate(tpl);
    }
  });
});
