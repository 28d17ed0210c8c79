// SshProvider against real sshd: check, provision (pool hosts, explicit hosts, per-cluster
// node homes), query, terminate, and a pool reached through a proxy_jump bastion.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getProvider } from '../../providers/registry.js';
import { SshPool } from '../../providers/ssh/connection.js';
import { SshProvider } from '../../providers/ssh/index.js';
import type { ProvisionRequest } from '../../providers/types.js';
import type { SshRunner } from '../../providers/ssh/runner.js';
import { startSshd, writePoolConfig, type SshdCluster } from '../support/sshd.js';
import { alive, PetrelEnv, waitFor } from '../support/petrel.js';

let sshd: SshdCluster;
let home: string;
let pool: SshPool;
let provider: SshProvider;

beforeAll(async () => {
  sshd = await startSshd(3);
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-sshprov-'));
  writePoolConfig(home, sshd);
  pool = new SshPool();
  provider = new SshProvider({ home, pool });
});

afterAll(async () => {
  pool?.closeAll();
  await sshd?.stop();
  if (home) fs.rmSync(home, { recursive: true, force: true });
});

const req = (clusterName: string, numNodes: number, extra: Partial<ProvisionRequest> = {}): ProvisionRequest => ({
  clusterName,
  numNodes,
  region: 'test',
  useSpot: false,
  idempotencyKey: clusterName,
  ...extra,
});

async function finished(r: SshRunner, key: string) {
  return waitFor(`job ${key}`, async () => {
    const s = await r.status(key);
    return s.state === 'exited' || s.state === 'lost' ? s : undefined;
  });
}

const hostId = (i: number) => `${sshd.hosts[i]!.ip}:${sshd.hosts[i]!.port}`;

describe('ssh provider', () => {
  it('is registered as "ssh"', () => {
    expect(getProvider('ssh', { home })).toBeInstanceOf(SshProvider);
  });

  it('check reports each pool and which hosts answer', async () => {
    fs.appendFileSync(path.join(home, 'config.yaml'), '      - {ip: 127.0.0.9, port: 1, user: nobody}\n');
    try {
      const r = await provider.check();
      expect(r.enabled).toBe(true);
      expect(r.detail).toContain(`pool test: 3/4 hosts answer (${hostId(0)}, ${hostId(1)}, ${hostId(2)}); cannot reach 127.0.0.9:1: connection refused`);
      expect(await provider.regions()).toEqual(['test']);
    } finally {
      writePoolConfig(home, sshd);
    }
  });

  it('`petrel check ssh` lists the pool (as the worker sees it) and exits without waiting for idle connections to close', async () => {
    const env = await PetrelEnv.create();
    try {
      writePoolConfig(env.home, sshd);
      // The worker answers `check` (with its config and keys): it runs before the clock starts.
      await env.ok(['server', 'start']);
      const started = Date.now();
      const r = await env.run(['check', 'ssh']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`pool test: 3/3 hosts answer (${hostId(0)}, ${hostId(1)}, ${hostId(2)})`);
      // pooled connections stay open 30 s when idle (in the worker), but nothing keeps the CLI alive
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await env.destroy();
    }
  });

  it('provisions the first N hosts, each node job in its own node dir; provision is idempotent', async () => {
    const handle = await provider.provision(req('c1', 2));
    expect(handle).toMatchObject({ provider: 'ssh', clusterName: 'c1', region: 'test' });
    expect(handle.nodes).toEqual(
      [0, 1].map((i) => ({
        rank: i,
        id: `c1-${i}`,
        ip: sshd.hosts[i]!.ip,
        data: {
          pool: 'test',
          host: sshd.hosts[i]!.ip,
          port: String(sshd.hosts[i]!.port),
          user: sshd.hosts[i]!.user,
          identity_file: sshd.clientKey,
          dir: `.petrel/clusters/c1/node-${i}`,
        },
        filesystem: fs.readFileSync(path.join(sshd.hosts[i]!.home, '.petrel/filesystem-id'), 'utf8'),
      })),
    );
    // hosts with homes of their own are on different filesystems
    expect(handle.nodes[0]!.filesystem).not.toBe(handle.nodes[1]!.filesystem);
    expect(await provider.provision(req('c1', 2))).toEqual(handle);
    expect(await provider.query(handle)).toEqual([
      { rank: 0, state: 'up' },
      { rank: 1, state: 'up' },
    ]);

    const spec = { key: '1-run', script: 'pwd; ls -A; echo $RANK > rank.txt', env: {} };
    for (const node of handle.nodes) {
      const r = provider.runner(handle, node);
      await r.upload(makeDir({ [`only-on-${node.rank}.txt`]: 'x' }), '.');
      await r.startDetached({ ...spec, env: { RANK: String(node.rank) } });
    }
    for (const node of handle.nodes) {
      const r = provider.runner(handle, node);
      expect(await finished(r, '1-run')).toEqual({ state: 'exited', exitCode: 0 });
      const dir = path.join(sshd.hosts[node.rank]!.home, `.petrel/clusters/c1/node-${node.rank}`);
      expect((await r.readLog('1-run', 0)).data).toBe(`${dir}\n.petrel\nonly-on-${node.rank}.txt\n`);
      expect(fs.readFileSync(path.join(dir, 'rank.txt'), 'utf8')).toBe(`${node.rank}\n`);
    }
    // the other host's home was never touched
    expect(fs.existsSync(path.join(sshd.hosts[2]!.home, '.petrel'))).toBe(false);
    await provider.terminate(handle);
  });

  it('two clusters on one host keep their files and jobs apart', async () => {
    const a = await provider.provision(req('a', 1));
    const b = await provider.provision(req('b', 1));
    const ra = provider.runner(a, a.nodes[0]!);
    const rb = provider.runner(b, b.nodes[0]!);
    // the same job key in both clusters runs twice, once in each
    expect(await ra.startDetached({ key: '1-run', script: 'echo A > who.txt; cat ../../b/node-0/who.txt 2>/dev/null; sleep 300', env: {} })).toEqual({ alreadyStarted: false });
    expect(await rb.startDetached({ key: '1-run', script: 'echo B > who.txt; exit 7', env: {} })).toEqual({ alreadyStarted: false });
    expect(await finished(rb, '1-run')).toEqual({ state: 'exited', exitCode: 7 });
    expect(await ra.status('1-run')).toEqual({ state: 'running' });
    const base = path.join(sshd.hosts[0]!.home, '.petrel/clusters');
    expect(fs.readFileSync(path.join(base, 'a/node-0/who.txt'), 'utf8')).toBe('A\n');
    expect(fs.readFileSync(path.join(base, 'b/node-0/who.txt'), 'utf8')).toBe('B\n');

    // terminating b leaves a (and its running job) alone
    await provider.terminate(b);
    expect(fs.existsSync(path.join(base, 'b'))).toBe(false);
    expect(await ra.status('1-run')).toEqual({ state: 'running' });
    expect(await provider.query(b)).toEqual([{ rank: 0, state: 'gone', reason: 'terminated' }]);
    await provider.terminate(a);
  });

  it('terminate kills every job process group and removes the cluster dir; it is idempotent', async () => {
    const handle = await provider.provision(req('t', 3));
    const pids: number[] = [];
    for (const node of handle.nodes) {
      const r = provider.runner(handle, node);
      await r.startDetached({ key: 'long', script: 'sleep 300 & echo $! > sleep.pid; wait', env: {} });
      await r.startDetached({ key: 'other', script: 'sleep 301', env: {} });
      const file = path.join(sshd.hosts[node.rank]!.home, `.petrel/clusters/t/node-${node.rank}/sleep.pid`);
      pids.push(await waitFor('sleep pid', () => (fs.existsSync(file) ? Number(fs.readFileSync(file, 'utf8')) : undefined)));
    }
    await provider.terminate(handle);
    await waitFor('jobs dead', () => pids.every((p) => !alive(p)) || undefined, 5_000);
    for (const i of [0, 1, 2]) {
      expect(fs.existsSync(path.join(sshd.hosts[i]!.home, '.petrel/clusters/t'))).toBe(false);
      expect(sshd.userProcesses(i).filter((pid) => /sleep 30/.test(cmd(pid)))).toEqual([]);
    }
    await provider.terminate(handle);
    expect((await provider.query(handle)).map((s) => s.state)).toEqual(['gone', 'gone', 'gone']);
  });

  it('terminate of a handle without nodes (a provision whose result was never seen) removes the cluster on every host of the pool', async () => {
    const handle = await provider.provision(req('unseen', 2));
    for (const i of [0, 1]) expect(fs.existsSync(path.join(sshd.hosts[i]!.home, `.petrel/clusters/unseen/node-${i}`))).toBe(true);
    await provider.terminate({ ...handle, nodes: [] });
    for (const i of [0, 1, 2]) expect(fs.existsSync(path.join(sshd.hosts[i]!.home, '.petrel/clusters/unseen'))).toBe(false);
  });

  it('terminate never removes anything but a cluster directory', async () => {
    const handle = await provider.provision(req('safe', 1));
    const forged = { ...handle, nodes: [{ ...handle.nodes[0]!, data: { ...handle.nodes[0]!.data, dir: '.' } }] };
    await expect(provider.terminate(forged)).rejects.toMatchObject({ kind: 'config', message: expect.stringContaining("refusing to remove '.'") });
    expect(fs.existsSync(path.join(sshd.hosts[0]!.home, '.petrel/clusters/safe'))).toBe(true);
    await provider.terminate(handle);
    expect(fs.existsSync(path.join(sshd.hosts[0]!.home, '.petrel/clusters/safe'))).toBe(false);
  });

  it('uses the hosts a request names, and refuses hosts outside the pool', async () => {
    const handle = await provider.provision(req('pick', 2, { hosts: [hostId(2), sshd.hosts[0]!.ip] }));
    expect(handle.nodes.map((n) => [n.rank, n.ip])).toEqual([
      [0, sshd.hosts[2]!.ip],
      [1, sshd.hosts[0]!.ip],
    ]);
    await provider.terminate(handle);
    await expect(provider.provision(req('pick', 1, { hosts: ['10.1.2.3'] }))).rejects.toMatchObject({
      kind: 'config',
      message: `host '10.1.2.3' is not in pool test (hosts: ${hostId(0)}, ${hostId(1)}, ${hostId(2)})`,
    });
  });

  it('says what is wrong with the request: too many nodes, unknown pool', async () => {
    await expect(provider.provision(req('big', 4))).rejects.toMatchObject({
      kind: 'capacity',
      scope: 'region',
      message: 'pool test has 3 host(s); 4 node(s) requested',
    });
    await expect(provider.provision(req('x', 1, { region: 'nope' }))).rejects.toMatchObject({
      kind: 'config',
      message: `no SSH node pool 'nope' in ${path.join(home, 'config.yaml')} (pools: test)`,
    });
  });

  it('reaches a pool through a proxy_jump bastion', async () => {
    const jumpHome = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-sshjump-'));
    const jumpPool = new SshPool();
    try {
      const bastion = sshd.hosts[0]!;
      const node = sshd.hosts[1]!;
      fs.writeFileSync(
        path.join(jumpHome, 'config.yaml'),
        [
          'ssh_node_pools:',
          '  behind:',
          `    user: ${node.user}`,
          `    identity_file: ${sshd.clientKey}`,
          `    proxy_jump: ${bastion.user}@${bastion.ip}:${bastion.port}`,
          `    hosts: ['${node.ip}:${node.port}']`,
          '',
        ].join('\n'),
      );
      const p = new SshProvider({ home: jumpHome, pool: jumpPool });
      const handle = await p.provision({ clusterName: 'j', numNodes: 1, region: 'behind', useSpot: false, idempotencyKey: 'j' });
      expect(handle.nodes[0]!.data.proxy_jump).toBe(`${bastion.user}@${bastion.ip}:${bastion.port}`);
      const r = p.runner(handle, handle.nodes[0]!);
      expect((await r.run('whoami')).stdout).toBe(`${node.user}\n`);
      // one connection to the bastion, one tunnelled through it
      expect(jumpPool.connectsTotal).toBe(2);
      // both host keys were recorded
      expect(fs.readFileSync(path.join(jumpHome, 'known_hosts'), 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ')[0])).toEqual([
        `[${bastion.ip}]:${bastion.port}`,
        `[${node.ip}]:${node.port}`,
      ]);
      // without the bastion the node is out of reach, although its own sshd is fine
      jumpPool.closeAll();
      await sshd.kill(0);
      expect(await p.query(handle)).toEqual([{ rank: 0, state: 'gone', reason: 'unreachable' }]);
      await sshd.restart(0);
      expect(await p.query(handle)).toEqual([{ rank: 0, state: 'up' }]);
      await p.terminate(handle);
    } finally {
      jumpPool.closeAll();
      fs.rmSync(jumpHome, { recursive: true, force: true });
    }
  });
});

function cmd(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

function makeDir(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(home, 'src-'));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}
