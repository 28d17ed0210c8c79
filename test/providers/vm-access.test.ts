// providers/vm: what cloud VM providers share, tested alone — access settings with file:line:col
// problems, node handles and ProxyCommand tokens, the cloud key pair, and (against a real
// OpenSSH server reached through a ProxyCommand, as cloud instances are in the cloud tests)
// waiting for SSH, per-instance host keys, batched status, and the spot-interruption watcher
// polling a loopback metadata stand-in (IMDSv2 and GCE flavours).
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterHandle, NodeHandle } from '../../core/cluster-state.js';
import { readConfigSection } from '../../core/spec/config-section.js';
import { formatSpecError } from '../../core/spec/errors.js';
import { YamlProblems } from '../../core/spec/yaml-locations.js';
import { SshPool } from '../../providers/ssh/connection.js';
import { VmAccess } from '../../providers/vm/access.js';
import { DEFAULT_METADATA_URL } from '../../providers/vm/interruption.js';
import { expandProxyCommand, vmNodeHandle, vmTarget } from '../../providers/vm/nodes.js';
import { proxyCommandFor, readVmAccess } from '../../providers/vm/settings.js';
import { ensureCloudKey } from '../../providers/vm/ssh-key.js';
import { waitFor } from '../support/petrel.js';
import { TCP_RELAY } from '../support/moto.js';
import { startSshd, type SshdCluster } from '../support/sshd.js';


function access(yaml: string, cloud: 'aws' | 'gcp' = 'aws') {
  const lines = new LineCounter();
  const doc = parseDocument(yaml, { lineCounter: lines, prettyErrors: false, logLevel: 'silent' });
  const errors = new YamlProblems('/home/u/.petrel/config.yaml', doc, lines);
  const section = readConfigSection(doc, errors, cloud, 'settings')!;
  const settings = readVmAccess(section, errors, cloud, cloud === 'aws' ? 'ubuntu' : 'gcpuser');
  return { settings, problems: errors.list.map(formatSpecError).sort() };
}

describe('vm access settings', () => {
  it("reads SkyPilot's ssh_proxy_command (one, or per region) and use_internal_ips, and Petrel's ssh_user", () => {
    expect(access('aws: {}\n').settings).toEqual({ sshUser: 'ubuntu', useInternalIps: false });
    expect(access('gcp:\n  use_internal_ips: true\n', 'gcp').settings).toEqual({ sshUser: 'gcpuser', useInternalIps: true });
    const one = access('aws:\n  ssh_proxy_command: ssh -W %h:%p jump\n  ssh_user: ec2-user\n').settings;
    expect(one).toEqual({ sshUser: 'ec2-user', useInternalIps: false, sshProxyCommand: 'ssh -W %h:%p jump' });
    expect(proxyCommandFor(one, 'eu-west-1')).toBe('ssh -W %h:%p jump');
    const per = access("aws:\n  ssh_proxy_command:\n    us-east-1: ssh -W %h:%p east\n    eu-west-1: null\n").settings;
    expect(proxyCommandFor(per, 'us-east-1')).toBe('ssh -W %h:%p east');
    expect(proxyCommandFor(per, 'eu-west-1')).toBeUndefined();
    expect(proxyCommandFor(per, undefined)).toBeUndefined();
  });

  it('reports bad values with file, line, column and field', () => {
    const r = access('aws:\n  use_internal_ips: yes please\n  ssh_proxy_command: ssh -W %x bastion\n  ssh_user: "a b"\n');
    expect(r.problems).toEqual([
      "/home/u/.petrel/config.yaml:2:21: aws.use_internal_ips: expected true or false, got 'yes please'",
      "/home/u/.petrel/config.yaml:3:22: aws.ssh_proxy_command: '%x' is not a token Petrel expands (only %h, %p, %r, %n and %%); or a mapping of region to command",
      "/home/u/.petrel/config.yaml:4:13: aws.ssh_user: expected a login user name (default 'ubuntu'), got 'a b'",
    ]);
    expect(access('gcp:\n  ssh_proxy_command:\n    us-central1: 42\n', 'gcp').problems).toEqual([
      "/home/u/.petrel/config.yaml:3:18: gcp.ssh_proxy_command.us-central1: expected a command (e.g. 'ssh -W %h:%p bastion'), got 42",
    ]);
  });
});

describe('vm node handles', () => {
  const inst = { rank: 1, instanceId: 'i-0abc', privateIp: '10.0.0.7', publicIp: '54.214.1.2' };
  const base = { sshUser: 'ubuntu', identityFile: '/k/petrel-cloud', useInternalIps: false };

  it('connect to the public IP, or the private one with use_internal_ips or without a public IP; the node dir is per rank', () => {
    const h = vmNodeHandle('c1', inst, { ...base, proxyCommand: 'ssh -W %h:%p jump' });
    expect(h).toEqual({
      rank: 1,
      id: 'i-0abc',
      ip: '54.214.1.2',
      data: {
        host: '54.214.1.2',
        port: '22',
        user: 'ubuntu',
        identity_file: '/k/petrel-cloud',
        instance_id: 'i-0abc',
        dir: '.petrel/clusters/c1/node-1',
        private_ip: '10.0.0.7',
        public_ip: '54.214.1.2',
        proxy_command: 'ssh -W %h:%p jump',
      },
    });
    expect(vmNodeHandle('c1', inst, { ...base, useInternalIps: true }).data.host).toBe('10.0.0.7');
    expect(vmNodeHandle('c1', { rank: 0, instanceId: 'i-1', privateIp: '10.0.0.8' }, base).data.host).toBe('10.0.0.8');
    expect(() => vmNodeHandle('c1', { rank: 0, instanceId: 'i-2' }, base)).toThrow(/no IP address/);
  });

  it("expands ProxyCommand tokens as OpenSSH does (the handle keeps the template)", () => {
    expect(expandProxyCommand('ssh -W %h:%p -l %r jump # %n 100%% %z', { host: '10.0.0.7', port: 22, user: 'ubuntu' })).toBe(
      'ssh -W 10.0.0.7:22 -l ubuntu jump # 10.0.0.7 100% %z',
    );
    const h = vmNodeHandle('c1', inst, { ...base, useInternalIps: true, proxyCommand: 'ssh -W %h:%p %r@jump' });
    expect(vmTarget(h)).toEqual({ host: '10.0.0.7', port: 22, user: 'ubuntu', identityFile: '/k/petrel-cloud', proxyCommand: 'ssh -W 10.0.0.7:22 ubuntu@jump' });
    expect(vmTarget(vmNodeHandle('c1', inst, base)).proxyCommand).toBeUndefined();
  });
});

describe('cloud key', () => {
  it('is created once (ed25519, private key 0600) and reused, also by concurrent callers', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-vmkey-'));
    const keys = await Promise.all([1, 2, 3, 4].map(() => ensureCloudKey(home)));
    expect(new Set(keys.map((k) => k.publicKey)).size).toBe(1);
    const k = keys[0]!;
    expect(k.privateKeyFile).toBe(path.join(home, 'keys', 'petrel-cloud'));
    expect(k.publicKey).toMatch(/^ssh-ed25519 AAAA\S+ petrel$/);
    expect(fs.statSync(k.privateKeyFile).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(k.privateKeyFile, 'utf8')).toContain('OPENSSH PRIVATE KEY');
    expect(await ensureCloudKey(home)).toEqual(k);
    expect(fs.readdirSync(path.join(home, 'keys')).sort()).toEqual(['petrel-cloud', 'petrel-cloud.pub']);
  });
});

// ---- against a real sshd ----------------------------------------------------------------------

/** A loopback metadata service for many instances: /<instance id>/... as IMDSv2 or GCE serves it. */
interface MetadataStandIn {
  url: string;
  notices: Map<string, string>;
  /** requests seen, as "METHOD path [token]" */
  log: string[];
  close(): Promise<void>;
}

async function metadataStandIn(): Promise<MetadataStandIn> {
  const notices = new Map<string, string>();
  const log: string[] = [];
  const server = http.createServer((req, res) => {
    const m = /^\/([^/]+)(\/.*)$/.exec(req.url ?? '');
    const id = m?.[1] ?? '';
    const rest = m?.[2] ?? '';
    log.push(`${req.method} ${req.url}`);
    if (rest === '/latest/api/token' && req.method === 'PUT') {
      if (!req.headers['x-aws-ec2-metadata-token-ttl-seconds']) return void res.writeHead(400).end();
      return void res.writeHead(200).end(`token-${id}`);
    }
    if (rest === '/latest/meta-data/spot/instance-action') {
      if (req.headers['x-aws-ec2-metadata-token'] !== `token-${id}`) return void res.writeHead(401).end();
      const n = notices.get(id);
      return void (n ? res.writeHead(200, { 'content-type': 'application/json' }).end(n) : res.writeHead(404).end());
    }
    if (rest === '/computeMetadata/v1/instance/preempted') {
      if (req.headers['metadata-flavor'] !== 'Google') return void res.writeHead(403).end();
      return void res.writeHead(200).end(notices.has(id) ? 'TRUE' : 'FALSE');
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/{instance_id}`,
    notices,
    log,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('vm access over SSH', () => {
  let sshd: SshdCluster;
  let home: string;
  let pool: SshPool;
  let vm: VmAccess;
  let meta: MetadataStandIn;
  let proxy: string;

  beforeAll(async () => {
    sshd = await startSshd(1);
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-vmaccess-'));
    pool = new SshPool();
    vm = new VmAccess({ home, pool });
    meta = await metadataStandIn();
    const h = sshd.hosts[0]!;
    // Every instance address leads to the one loopback sshd; %h/%p are what OpenSSH would pass.
    proxy = `${process.execPath} ${TCP_RELAY} ${h.ip} ${h.port} %h %p`;
  });

  afterAll(async () => {
    pool?.closeAll();
    await meta?.close();
    await sshd?.stop();
  });

  const handleOf = (cluster: string, ids: string[]): ClusterHandle => ({
    provider: 'aws',
    clusterName: cluster,
    region: 'us-east-1',
    nodes: ids.map((instanceId, rank) =>
      vmNodeHandle(cluster, { rank, instanceId, publicIp: `54.214.0.${rank + 1}` }, { sshUser: sshd.hosts[0]!.user, identityFile: sshd.clientKey, proxyCommand: proxy, useInternalIps: false }),
    ),
  });

  const allUp = async (handles: ClusterHandle[]) => new Map(handles.flatMap((h) => h.nodes.map((n) => [n.data.instance_id!, { state: 'up' as const }])));

  it('waitForSsh reaches the nodes through the ProxyCommand and creates their node dirs', async () => {
    const handle = handleOf('w1', ['i-w1a', 'i-w1b']);
    await vm.waitForSsh(handle, handle.nodes, 30_000);
    for (const rank of [0, 1]) expect(fs.statSync(path.join(sshd.hosts[0]!.home, `.petrel/clusters/w1/node-${rank}/.petrel`)).isDirectory()).toBe(true);
    // host keys are kept per instance: each instance met its own first time
    expect(fs.readdirSync(path.join(home, 'known_hosts.d')).sort()).toEqual(['i-w1a', 'i-w1b']);
  });

  it('a new instance on an address another instance had is accepted; a changed key on the same instance is refused', async () => {
    const first = handleOf('hk1', ['i-hk-old']);
    await vm.waitForSsh(first, first.nodes, 30_000);
    const h = sshd.hosts[0]!;
    await sshd.restart(0, { newHostKey: true });
    pool.closeAll();
    // Same address (54.214.0.1), other instance: no key recorded for it yet.
    const second = handleOf('hk2', ['i-hk-new']);
    await vm.waitForSsh(second, second.nodes, 30_000);
    // The old instance now presents another key: refused at once, however long the deadline.
    const started = Date.now();
    await expect(vm.waitForSsh(first, first.nodes, 60_000)).rejects.toThrow(/host key of 54\.214\.0\.1:22 changed/);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(h.port).toBe(sshd.hosts[0]!.port);
  });

  it('waitForSsh gives up at the deadline when the node cannot be reached', async () => {
    const handle = handleOf('dead', ['i-dead']);
    handle.nodes[0]!.data.proxy_command = `${process.execPath} ${TCP_RELAY} 127.0.0.1 1`;
    const started = Date.now();
    const err = await vm.waitForSsh(handle, handle.nodes, 3_000).then(() => undefined, (e: unknown) => e as Error);
    expect(err?.message).toMatch(/dead: node 0 \(i-dead, 54\.214\.0\.1:22\) is not reachable over SSH after \d+ attempt\(s\)/);
    expect(Date.now() - started).toBeLessThan(8_000);
  });

  it('batchStatus reports nodes the cloud says are not running from its answer, without SSH; running ones over SSH', async () => {
    const handle = handleOf('bs1', ['i-bs-a', 'i-bs-b']);
    await vm.waitForSsh(handle, handle.nodes, 30_000);
    const r0 = vm.runner(handle, handle.nodes[0]!);
    await r0.startDetached({ key: '1-run', script: 'echo hi; exit 3', env: {} });
    await waitFor('job to end', async () => ((await r0.status('1-run')).state === 'exited' ? true : undefined));
    const connects = pool.connectsTotal;
    const reports = await vm.batchStatus([{ handle, key: '1-run', ranks: [0, 1] }], async (handles) => {
      expect(handles).toEqual([handle]);
      return new Map([
        ['i-bs-a', { state: 'up' as const }],
        ['i-bs-b', { state: 'gone' as const, reason: 'preempted' as const, detail: 'Server.SpotInstanceTermination: Spot instance termination' }],
      ]);
    });
    expect(reports).toEqual([
      {
        nodes: [
          { rank: 0, state: 'up' },
          { rank: 1, state: 'gone', reason: 'preempted', detail: 'Server.SpotInstanceTermination: Spot instance termination' },
        ],
        jobs: [{ state: 'exited', exitCode: 3 }, { state: 'unknown' }],
      },
    ]);
    // an instance the cloud no longer lists is gone
    const none = await vm.batchStatus([{ handle, key: '1-run', ranks: [1] }], async () => new Map());
    expect(none[0]!.nodes).toEqual([{ rank: 1, state: 'gone', reason: 'terminated', detail: 'instance i-bs-b no longer exists' }]);
    expect(pool.connectsTotal - connects).toBeLessThanOrEqual(1);
  });

  for (const kind of ['aws', 'gcp'] as const) {
    it(`the ${kind} interruption watcher sees the notice, marks the node, SIGTERMs the running job (143); batchStatus says preempted`, async () => {
      const cluster = `int-${kind}`;
      const ids = [`i-${kind}-x`, `i-${kind}-y`];
      const handle = handleOf(cluster, ids);
      await vm.waitForSsh(handle, handle.nodes, 30_000);
      const runners = handle.nodes.map((n) => vm.runner(handle, n));
      // The job traps TERM to checkpoint, as training scripts do, then exits 143.
      const script = "trap 'echo checkpointing; sleep 0.2; echo saved; exit 143' TERM; echo started; while :; do sleep 0.1; done";
      for (const r of runners) await r.startDetached({ key: '1-run', script, env: {} });
      await vm.startWatchers(handle, handle.nodes, { kind, baseUrl: meta.url });
      await vm.startWatchers(handle, handle.nodes, { kind, baseUrl: meta.url }); // idempotent
      const homeDir = sshd.hosts[0]!.home;
      const pidOf = (rank: number) => Number(fs.readFileSync(path.join(homeDir, `.petrel/clusters/${cluster}/node-${rank}/.petrel/watcher.pid`), 'utf8'));
      await waitFor('watchers to poll', () => ids.every((id) => meta.log.some((l) => l.includes(`/${id}/`))) || undefined, 15_000);
      const watchers = [pidOf(0), pidOf(1)];
      expect(watchers.every((p) => fs.existsSync(`/proc/${p}`))).toBe(true);

      const before = await vm.batchStatus([{ handle, key: '1-run', ranks: [0, 1] }], allUp);
      expect(before[0]).toEqual({ nodes: [{ rank: 0, state: 'up' }, { rank: 1, state: 'up' }], jobs: [{ state: 'running' }, { state: 'running' }] });

      meta.notices.set(ids[0]!, '{"action": "terminate", "time": "2026-12-04T16:20:00Z"}');
      await waitFor('the job to end', async () => ((await runners[0]!.status('1-run')).state === 'exited' ? true : undefined), 15_000);
      expect(await runners[0]!.status('1-run')).toEqual({ state: 'exited', exitCode: 143 });
      // (bash may also report the interrupted `sleep` as "Terminated")
      expect((await runners[0]!.readLog('1-run', 0)).data).toMatch(/^started\n(Terminated\n)?checkpointing\nsaved\n$/);
      const notice = kind === 'aws' ? 'EC2 instance-action terminate at 2026-12-04T16:20:00Z' : 'GCE instance/preempted is TRUE';
      expect(fs.readFileSync(path.join(homeDir, `.petrel/clusters/${cluster}/node-0/.petrel/interrupted`), 'utf8')).toBe(`${notice}\n`);

      const after = await vm.batchStatus([{ handle, key: '1-run', ranks: [0, 1] }], allUp);
      expect(after[0]).toEqual({
        nodes: [{ rank: 0, state: 'gone', reason: 'preempted', detail: `spot interruption notice: ${notice}` }, { rank: 1, state: 'up' }],
        jobs: [{ state: 'exited', exitCode: 143 }, { state: 'running' }],
      });
      // The watcher that acted is done; the other still watches until its node dir goes.
      await waitFor('the watcher to exit', () => !fs.existsSync(`/proc/${watchers[0]}`) || undefined, 5_000);
      expect(fs.existsSync(`/proc/${watchers[1]}`)).toBe(true);
      await runners[1]!.signal('1-run', 'SIGKILL');
      fs.rmSync(path.join(homeDir, `.petrel/clusters/${cluster}`), { recursive: true, force: true });
      await waitFor('the other watcher to exit with its node dir', () => !fs.existsSync(`/proc/${watchers[1]}`) || undefined, 10_000);
    });
  }

  it('defaults to the real metadata addresses', () => {
    expect(DEFAULT_METADATA_URL).toEqual({ aws: 'http://169.254.169.254', gcp: 'http://metadata.google.internal' });
  });
});

export type { NodeHandle };
