// The AWS provider against moto's EC2 server (pinned, with Petrel's fault, interruption and
// ClientToken hooks: test/support/moto/moto_petrel.py) and a real OpenSSH server on loopback.
// Instances are reached through `aws.ssh_proxy_command` (a TCP relay to the one sshd): the
// addresses moto hands out are never connected to. Spot interruption notices come from the
// same moto process, which serves each instance's metadata at /<instance id>/latest/...
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateSubnetCommand, CreateVpcCommand, DescribeInstancesCommand, DescribeKeyPairsCommand, DescribeSecurityGroupsCommand, DescribeVolumesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterHandle } from '../../core/cluster-state.js';
import { AwsProvider, closeAwsClients } from '../../providers/aws/index.js';
import { clientToken } from '../../providers/aws/instances.js';
import { classifyAwsError } from '../../providers/aws/errors.js';
import { SshPool } from '../../providers/ssh/connection.js';
import type { SshRunner } from '../../providers/ssh/runner.js';
import type { ProvisionRequest } from '../../providers/types.js';
import { ensureCloudKey } from '../../providers/vm/ssh-key.js';
import { waitFor } from '../support/petrel.js';
import { failure } from '../support/provider-errors.js';
import { MOTO_AMI, startMoto, TCP_RELAY, useAwsTestEnv, type Moto } from '../support/moto.js';
import { startSshd, type SshdCluster } from '../support/sshd.js';

// Nothing may leave loopback: no metadata probes, explicit credentials, moto as the endpoint.
useAwsTestEnv();


let moto: Moto;
let sshd: SshdCluster;
let home: string;
let pool: SshPool;
let aws: AwsProvider;
let ec2: EC2Client;
let configText: string;

beforeAll(async () => {
  moto = await startMoto();
  process.env.AWS_ENDPOINT_URL_EC2 = moto.url;
  sshd = await startSshd(1);
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-aws-'));
  // Petrel's cloud key is what the instances accept: here, the loopback sshd standing in for them.
  const key = await ensureCloudKey(home);
  fs.appendFileSync(sshd.authorizedKeys, `${key.publicKey}\n`);
  const h = sshd.hosts[0]!;
  configText = [
    'aws:',
    `  ssh_user: ${h.user}`,
    `  ssh_proxy_command: ${process.execPath} ${TCP_RELAY} ${h.ip} ${h.port} %h %p`,
    `  instance_metadata_endpoint: ${moto.metadataUrl}`,
    '  labels: {team: ml}',
    '',
  ].join('\n');
  fs.writeFileSync(path.join(home, 'config.yaml'), configText);
  pool = new SshPool();
  aws = new AwsProvider({ home, pool });
  ec2 = new EC2Client({ region: 'us-east-1' });
});

afterAll(async () => {
  closeAwsClients();
  ec2?.destroy();
  pool?.closeAll();
  await moto?.stop();
  await sshd?.stop();
});

const req = (clusterName: string, extra: Partial<ProvisionRequest> = {}): ProvisionRequest => ({
  clusterName,
  numNodes: 1,
  region: 'us-east-1',
  useSpot: false,
  idempotencyKey: `${clusterName}-attempt-1`,
  user: 'alice',
  instanceType: 'm6i.large',
  imageId: MOTO_AMI,
  ...extra,
});

async function instancesOf(cluster: string, region = 'us-east-1') {
  return (await moto.inventory()).filter((i) => i.region === region && i.tags['petrel-cluster'] === cluster);
}

async function describeCalls(region = 'us-east-1'): Promise<number> {
  return (await moto.calls()).filter((c) => c.action === 'DescribeInstances' && c.region === region).length;
}

async function finished(r: SshRunner, key: string) {
  return waitFor(`job ${key}`, async () => {
    const s = await r.status(key);
    return s.state === 'exited' || s.state === 'lost' ? s : undefined;
  }, 20_000);
}

function withEnv<T>(env: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(env)) (v === undefined ? delete process.env[k] : (process.env[k] = v));
  return fn().finally(() => {
    for (const [k, v] of Object.entries(saved)) (v === undefined ? delete process.env[k] : (process.env[k] = v));
  });
}

describe('aws provider: check and config', () => {
  it('without credentials: disabled, and no call is made', async () => {
    const before = (await moto.calls()).length;
    const r = await withEnv({ AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined }, () => aws.check());
    expect(r).toEqual({ provider: 'aws', enabled: false, detail: expect.stringMatching(/^no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/) });
    expect((await moto.calls()).length).toBe(before);
  });

  it('with credentials: which regions answer; refused credentials say so', async () => {
    const r = await aws.check();
    expect(r.enabled).toBe(true);
    expect(r.detail).toMatch(/^credentials from AWS_ACCESS_KEY_ID in the environment; us-east-1: 6 zones; us-west-2: \d+ zones; eu-west-1: 3 zones/);
    await moto.faults([{ action: 'DescribeRegions', status: 401, code: 'AuthFailure', message: 'AWS was not able to validate the provided access credentials' }]);
    const bad = await aws.check();
    expect(bad).toEqual({ provider: 'aws', enabled: false, detail: 'credentials from AWS_ACCESS_KEY_ID in the environment; cannot use the credentials: AuthFailure: AWS was not able to validate the provided access credentials' });
  });

  it('regions come from the catalog', async () => {
    expect(await aws.regions()).toEqual(['us-east-1', 'us-west-2', 'eu-west-1', 'ap-northeast-1']);
  });

  it('bad aws settings fail the provision with file:line:col, refusing SkyPilot keys Petrel does not implement', async () => {
    const file = path.join(home, 'config.yaml');
    fs.writeFileSync(file, `${configText}  use_ssm: true\n  disk_encripted: true\n  labels: {'aws:x': y}\n`.replace('  labels: {team: ml}\n', ''));
    try {
      const err = await failure(aws.provision(req('cfg')));
      expect(err.kind).toBe('config');
      expect(err.scope).toBe('cloud');
      expect(err.message.split('\n')).toEqual([
        `${file}:5:3: aws.use_ssm: SkyPilot's aws.use_ssm is not supported by Petrel: Petrel reaches nodes over SSH (use ssh_proxy_command for private subnets); remove it`,
        `${file}:6:3: aws.disk_encripted: unknown field; did you mean 'disk_encrypted'? (fields: ssh_proxy_command, use_internal_ips, ssh_user, vpc_name, security_group_name, labels, disk_encrypted, instance_metadata_endpoint)`,
        `${file}:7:12: aws.labels['aws:x']: 'aws:x' cannot be an AWS tag name (up to 128 letters, digits, spaces and _.:/=+-@; not starting with 'aws:' or Petrel's own 'petrel-')`,
      ]);
      expect(await instancesOf('cfg')).toEqual([]);
    } finally {
      fs.writeFileSync(file, configText);
    }
  });

  it("without image_id: the newest Ubuntu 22.04 of the region, and a config error naming image_id when there is none", async () => {
    const err = await failure(aws.provision(req('noimg', { imageId: undefined })));
    expect(err.kind).toBe('config');
    expect(err.message).toBe("aws us-east-1: no Ubuntu 22.04 image found (owner 099720109477, name ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-amd64-server-*); set the task's image_id to an AMI of us-east-1");
    expect(await instancesOf('noimg')).toEqual([]);
  });
});

describe('aws provider: launches', () => {
  let od: ClusterHandle;

  it('bootstraps the region (key pair, security group with SSH and the task ports) and launches on-demand with tags', async () => {
    const started = Date.now();
    od = await aws.provision(req('od1', { ports: ['8080', '10022-10040'], labels: { project: 'x' } }));
    console.log(`provision -> running + SSH (on-demand, 1 node): ${Date.now() - started} ms`);
    const key = await ensureCloudKey(home);
    const pairs = (await ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs ?? [];
    expect(pairs.map((p) => p.KeyName)).toEqual([expect.stringMatching(/^petrel-[0-9a-f]{16}$/)]);
    const [inst] = await instancesOf('od1');
    expect(inst).toMatchObject({
      state: 'running',
      tags: { 'petrel-cluster': 'od1', 'petrel-node-rank': '0', 'petrel-request': 'od1-attempt-1', 'petrel-user': 'alice', Name: 'petrel-od1-0', team: 'ml', project: 'x' },
    });
    const d = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [inst!.instanceId] }))).Reservations![0]!.Instances![0]!;
    expect(d.InstanceType).toBe('m6i.large');
    expect(d.KeyName).toBe(pairs[0]!.KeyName);
    expect(d.InstanceLifecycle).toBeUndefined();
    expect(d.Placement?.AvailabilityZone).toBe('us-east-1a');
    const sg = (await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [d.SecurityGroups![0]!.GroupId!] }))).SecurityGroups![0]!;
    expect(sg.GroupName).toMatch(/^petrel-ports-[0-9a-f]{12}$/);
    expect((sg.IpPermissions ?? []).map((p) => [p.IpProtocol, p.FromPort, p.ToPort, p.IpRanges?.map((r) => r.CidrIp)]).sort()).toEqual([
      ['tcp', 10022, 10040, ['0.0.0.0/0']],
      ['tcp', 22, 22, ['0.0.0.0/0']],
      ['tcp', 8080, 8080, ['0.0.0.0/0']],
    ]);
    expect(key.publicKey).toMatch(/^ssh-ed25519 /);

    expect(od).toMatchObject({ provider: 'aws', clusterName: 'od1', region: 'us-east-1', zone: 'us-east-1a', label: 'm6i.large' });
    expect(od.nodes[0]).toMatchObject({ rank: 0, id: inst!.instanceId, data: { instance_id: inst!.instanceId, host: d.PublicIpAddress, dir: '.petrel/clusters/od1/node-0', user: sshd.hosts[0]!.user } });
    const r = await aws.runner(od, od.nodes[0]!).run('pwd; echo hello');
    expect(r).toMatchObject({ exitCode: 0, stdout: `${sshd.hosts[0]!.home}/.petrel/clusters/od1/node-0\nhello\n` });
    // no spot, no watcher
    expect(fs.existsSync(path.join(sshd.hosts[0]!.home, '.petrel/clusters/od1/node-0/.petrel/watcher.pid'))).toBe(false);
    expect(await aws.query(od)).toEqual([{ rank: 0, state: 'up' }]);

    // A second cluster without ports shares the region's key pair and gets the SSH-only group.
    const ssh = await aws.provision(req('od2'));
    const d2 = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [ssh.nodes[0]!.id] }))).Reservations![0]!.Instances![0]!;
    expect(d2.SecurityGroups?.map((g) => g.GroupName)).toEqual(['petrel-ssh']);
    expect(((await ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs ?? []).length).toBe(1);
    await Promise.all([aws.terminate(ssh), aws.terminate(od)]);
  });

  it('launches a 2-node spot cluster: ranks tagged, each node its own dir, runner and detached jobs work', async () => {
    const started = Date.now();
    const h = await aws.provision(req('spot2', { numNodes: 2, useSpot: true }));
    console.log(`provision -> running + SSH + watchers (spot, 2 nodes): ${Date.now() - started} ms`);
    const insts = await instancesOf('spot2');
    expect(insts.map((i) => i.tags['petrel-node-rank']).sort()).toEqual(['0', '1']);
    const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: insts.map((i) => i.instanceId) }));
    for (const i of described.Reservations!.flatMap((r) => r.Instances!)) expect(i.InstanceLifecycle).toBe('spot');
    expect(h.label).toBe('m6i.large spot');
    expect(h.nodes.map((n) => [n.rank, n.data.dir, n.data.spot])).toEqual([
      [0, '.petrel/clusters/spot2/node-0', 'true'],
      [1, '.petrel/clusters/spot2/node-1', 'true'],
    ]);
    for (const node of h.nodes) {
      const r = aws.runner(h, node);
      expect(await r.startDetached({ key: '1-run', script: 'echo rank $RANK; exit $RANK', env: { RANK: String(node.rank) } })).toEqual({ alreadyStarted: false });
    }
    for (const node of h.nodes) {
      const r = aws.runner(h, node);
      expect(await finished(r, '1-run')).toEqual({ state: 'exited', exitCode: node.rank });
      expect((await r.readLog('1-run', 0)).data).toBe(`rank ${node.rank}\n`);
    }
    // The interruption watcher runs on each spot node.
    for (const rank of [0, 1]) expect(fs.existsSync(path.join(sshd.hosts[0]!.home, `.petrel/clusters/spot2/node-${rank}/.petrel/watcher.pid`))).toBe(true);
    await aws.terminate(h);
  });

  it('batched status: one DescribeInstances per region for many clusters and 1,000 watched jobs', async () => {
    const handles = await Promise.all(['b1', 'b2', 'b3', 'b4'].map((c) => aws.provision(req(c))));
    const west = await aws.provision(req('bw', { region: 'us-west-2', zone: 'us-west-2a' }));
    const runners = handles.map((h) => aws.runner(h, h.nodes[0]!));
    await Promise.all(runners.map((r) => r.startDetached({ key: 'j-0', script: 'exit 7', env: {} })));
    await Promise.all(runners.map((r) => finished(r, 'j-0')));
    await new Promise((r) => setTimeout(r, 2_100)); // older than any cached answer
    const [east0, west0] = [await describeCalls('us-east-1'), await describeCalls('us-west-2')];
    const jobs = Array.from({ length: 1000 }, (_, i) => ({ handle: [...handles, west][i % 5]!, key: `j-${Math.floor(i / 5)}`, ranks: [0] }));
    // Five watchers asking at once share one round, also through providers made per call.
    const t0 = Date.now();
    const reports = await Promise.all([0, 1, 2, 3, 4].map((i) => (i % 2 ? new AwsProvider({ home, pool }) : aws).batchStatus(jobs)));
    console.log(`batchStatus of 1,000 jobs on 5 clusters in 2 regions, 5 callers at once: ${Date.now() - t0} ms`);
    expect(await describeCalls('us-east-1')).toBe(east0 + 1);
    expect(await describeCalls('us-west-2')).toBe(west0 + 1);
    const first = reports[0]!;
    expect(first).toHaveLength(1000);
    expect(first[0]).toEqual({ nodes: [{ rank: 0, state: 'up' }], jobs: [{ state: 'exited', exitCode: 7 }] });
    expect(first[4]).toEqual({ nodes: [{ rank: 0, state: 'up' }], jobs: [{ state: 'unknown' }] });
    expect(first[5]).toEqual({ nodes: [{ rank: 0, state: 'up' }], jobs: [{ state: 'unknown' }] });
    // Within two seconds the answer is reused; after, asked again (once).
    await aws.batchStatus(jobs);
    expect(await describeCalls('us-east-1')).toBe(east0 + 1);
    await new Promise((r) => setTimeout(r, 2_100));
    await aws.batchStatus(jobs);
    expect(await describeCalls('us-east-1')).toBe(east0 + 2);
    await Promise.all([...handles, west].map((h) => aws.terminate(h)));
    expect(await instancesOf('bw', 'us-west-2')).toEqual([]);
  });
});

describe('aws provider: network, disks, concurrency', () => {
  it('vpc_name and use_internal_ips: the subnet of the VPC in the zone, no public address, SSH to the private one', async () => {
    const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.42.0.0/16', TagSpecifications: [{ ResourceType: 'vpc', Tags: [{ Key: 'Name', Value: 'ml-private' }] }] }));
    const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpc.Vpc!.VpcId!, CidrBlock: '10.42.1.0/24', AvailabilityZone: 'us-east-1b' }));
    const file = path.join(home, 'config.yaml');
    fs.writeFileSync(file, `${configText}  vpc_name: ml-private\n  use_internal_ips: true\n`);
    let h: ClusterHandle | undefined;
    try {
      h = await aws.provision(req('vpc1', { zone: 'us-east-1b' }));
      const d = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [h.nodes[0]!.id] }))).Reservations![0]!.Instances![0]!;
      expect(d.SubnetId).toBe(subnet.Subnet!.SubnetId);
      expect(d.PublicIpAddress).toBeUndefined();
      expect(d.PrivateIpAddress).toMatch(/^10\.42\.1\./);
      expect(h.nodes[0]!.data.host).toBe(d.PrivateIpAddress);
      // (launched with a network interface: moto lists its groups there only)
      const sg = (await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [d.NetworkInterfaces![0]!.Groups![0]!.GroupId!] }))).SecurityGroups![0]!;
      expect([sg.GroupName, sg.VpcId]).toEqual(['petrel-ssh', vpc.Vpc!.VpcId]);
      expect((await aws.runner(h, h.nodes[0]!).run('echo via the proxy')).stdout).toBe('via the proxy\n');
      // a zone where the VPC has no subnet: no capacity there, try another zone
      const err = await failure(aws.provision(req('vpc2', { zone: 'us-east-1c' })));
      expect([err.kind, err.scope, err.message]).toEqual(['capacity', 'zone', "aws us-east-1/us-east-1c: VPC 'ml-private' has no subnet in us-east-1c"]);
    } finally {
      fs.writeFileSync(file, configText);
      await aws.terminate(h ?? { provider: 'aws', clusterName: 'vpc1', region: 'us-east-1', nodes: [] });
    }
  });

  it('disk_size sizes the root volume', async () => {
    const h = await aws.provision(req('disk1', { diskSizeGb: 256 }));
    const vols = await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [h.nodes[0]!.id] }] }));
    expect(vols.Volumes?.map((v) => v.Size)).toContain(256);
    await aws.terminate(h);
  });

  it('two workers bootstrapping one region at once: one key pair, one security group, each rule once', async () => {
    // another worker process: its own clients and caches
    const other = new AwsProvider({ home, pool, isolated: true });
    try {
      const [a, b] = await Promise.all([aws.provision(req('cc1', { ports: ['9000-9001'] })), other.provision(req('cc2', { ports: ['9000-9001'] }))]);
      const groups = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [a.nodes[0]!.id, b.nodes[0]!.id] }))).Reservations!.flatMap((r) => r.Instances!).map((i) => i.SecurityGroups![0]!.GroupId);
      expect(new Set(groups).size).toBe(1);
      const sg = (await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [groups[0]!] }))).SecurityGroups![0]!;
      expect((sg.IpPermissions ?? []).map((p) => `${p.FromPort}-${p.ToPort}`).sort()).toEqual(['22-22', '9000-9001']);
      expect(((await ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs ?? []).length).toBe(1);
      await Promise.all([aws.terminate(a), other.terminate(b)]);
    } finally {
      other.close();
    }
  });
});

describe('aws provider: never two instances for one attempt', () => {
  it('provision again with the same attempt returns the same instances', async () => {
    const a = await aws.provision(req('idem', { numNodes: 2 }));
    const b = await aws.provision(req('idem', { numNodes: 2 }));
    expect(b.nodes.map((n) => n.id)).toEqual(a.nodes.map((n) => n.id));
    expect((await instancesOf('idem')).length).toBe(2);
    await aws.terminate(a);
  });

  it('a RunInstances whose answer was lost after it created the instance: the retry finds it by tag', async () => {
    await moto.faults([{ action: 'RunInstances', match: { ClientToken: clientToken('lost-attempt-1', 0) }, status: 500, code: 'InternalError', message: 'connection reset after the instance was created', after: true, times: 1 }]);
    const err = await failure(aws.provision(req('lost')));
    expect(err.kind).toBe('transient');
    expect(err.message).toContain('InternalError: connection reset after the instance was created');
    const created = await instancesOf('lost');
    expect(created).toHaveLength(1); // the instance exists though its creation was never seen
    const runs = (await moto.calls()).filter((c) => c.action === 'RunInstances').length;
    const h = await aws.provision(req('lost'));
    expect(h.nodes.map((n) => n.id)).toEqual([created[0]!.instanceId]);
    expect(await instancesOf('lost')).toHaveLength(1);
    expect((await moto.calls()).filter((c) => c.action === 'RunInstances').length).toBe(runs); // none made
    await aws.terminate(h);
  });

  it('ClientToken: one per (attempt, rank), at most 64 characters', () => {
    const t = clientToken('wf-1/attempt-2', 0);
    expect(t).toMatch(/^petrel-[0-9a-f]{56}$/);
    expect(t.length).toBeLessThanOrEqual(64);
    expect(clientToken('wf-1/attempt-2', 0)).toBe(t);
    expect(new Set([t, clientToken('wf-1/attempt-2', 1), clientToken('wf-1/attempt-3', 0)]).size).toBe(3);
  });
});

describe('aws provider: failures', () => {
  it('no capacity: a capacity error for the zone, with EC2 code and message, and nothing left running', async () => {
    // The second node finds no capacity: the first, already created, is removed again.
    await moto.faults([{ action: 'RunInstances', match: { ClientToken: clientToken('ice-attempt-1', 1) }, status: 500, code: 'InsufficientInstanceCapacity', message: 'We currently do not have sufficient m6i.large capacity in the Availability Zone you requested (us-east-1a).' }]);
    const err = await failure(aws.provision(req('ice', { numNodes: 2, useSpot: true })));
    expect(err.kind).toBe('capacity');
    expect(err.scope).toBe('zone');
    expect(err.message).toContain('aws us-east-1/us-east-1a: RunInstances m6i.large (spot) for node 1: InsufficientInstanceCapacity: We currently do not have sufficient m6i.large capacity');
    expect(await instancesOf('ice')).toEqual([]);
    // RunInstances is never retried by the SDK (Temporal decides): one call per rank.
    expect((await moto.calls()).filter((c) => c.action === 'RunInstances').length).toBeGreaterThan(0);
    await moto.faults([]);
  });

  it("a failed provision of an existing cluster removes only what it created", async () => {
    const h = await aws.provision(req('grow'));
    await moto.faults([{ action: 'RunInstances', match: { ClientToken: clientToken('grow-attempt-2', 2) }, status: 500, code: 'InsufficientInstanceCapacity', message: 'no more' }]);
    const err = await failure(aws.provision(req('grow', { numNodes: 3, idempotencyKey: 'grow-attempt-2' })));
    expect([err.kind, err.scope]).toEqual(['capacity', 'zone']);
    expect((await instancesOf('grow')).map((i) => i.instanceId)).toEqual([h.nodes[0]!.id]);
    await moto.faults([]);
    await aws.terminate(h);
  });

  it('quota: a quota error for the region', async () => {
    await moto.faults([{ action: 'RunInstances', status: 400, code: 'VcpuLimitExceeded', message: 'You have requested more vCPU capacity than your current vCPU limit of 32 allows' }]);
    const before = (await moto.calls()).filter((c) => c.action === 'RunInstances').length;
    const err = await failure(aws.provision(req('quota')));
    expect([err.kind, err.scope]).toEqual(['quota', 'region']);
    expect(err.message).toContain('VcpuLimitExceeded: You have requested more vCPU capacity');
    expect((await moto.calls()).filter((c) => c.action === 'RunInstances').length).toBe(before + 1);
    expect(await instancesOf('quota')).toEqual([]);
  });

  it('a server-side capacity error is not retried by the SDK', async () => {
    await moto.faults([{ action: 'RunInstances', status: 500, code: 'InsufficientInstanceCapacity', message: 'none left', times: 5 }]);
    const before = (await moto.calls()).filter((c) => c.action === 'RunInstances').length;
    const err = await failure(aws.provision(req('ice500')));
    expect([err.kind, err.scope]).toEqual(['capacity', 'zone']);
    expect((await moto.calls()).filter((c) => c.action === 'RunInstances').length).toBe(before + 1);
    await moto.faults([]);
  });

  it('refused credentials: a config error for the whole cloud', async () => {
    await moto.faults([{ action: 'RunInstances', status: 403, code: 'UnauthorizedOperation', message: 'You are not authorized to perform this operation.' }]);
    const err = await failure(aws.provision(req('auth')));
    expect([err.kind, err.scope]).toEqual(['config', 'cloud']);
    expect(err.message).toContain('UnauthorizedOperation: You are not authorized to perform this operation.');
    expect(await instancesOf('auth')).toEqual([]);
    await moto.faults([]);
  });

  it('classifies the other EC2 errors as SkyPilot does', () => {
    const e = (name: string, status = 400) => classifyAwsError(Object.assign(new Error('m'), { name, $metadata: { httpStatusCode: status } }), 'w');
    expect(['SpotMaxPriceTooLow', 'Unsupported', 'InsufficientFreeAddressesInSubnet'].map((n) => [e(n).kind, e(n).scope])).toEqual(Array(3).fill(['capacity', 'zone']));
    expect(['InstanceLimitExceeded', 'MaxSpotInstanceCountExceeded'].map((n) => [e(n).kind, e(n).scope])).toEqual(Array(2).fill(['quota', 'region']));
    expect(['AuthFailure', 'InvalidClientTokenId', 'OptInRequired'].map((n) => [e(n, 401).kind, e(n, 401).scope])).toEqual(Array(3).fill(['config', 'cloud']));
    expect([e('RequestLimitExceeded', 503).kind, e('SomethingNew', 502).kind, classifyAwsError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), 'w').kind]).toEqual(['transient', 'transient', 'transient']);
  });
});

describe('aws provider: spot interruption', () => {
  it('the notice SIGTERMs the job (143) and the node reads preempted before and after the instance ends', async () => {
    const h = await aws.provision(req('intr', { useSpot: true }));
    const r = aws.runner(h, h.nodes[0]!);
    await r.startDetached({ key: '1-run', script: "trap 'echo checkpoint saved; exit 143' TERM; while :; do sleep 0.1; done", env: {} });
    await new Promise((res) => setTimeout(res, 2_100));
    expect(await aws.batchStatus([{ handle: h, key: '1-run', ranks: [0] }])).toEqual([{ nodes: [{ rank: 0, state: 'up' }], jobs: [{ state: 'running' }] }]);

    const noticeAt = Date.now();
    await moto.interrupt(h.nodes[0]!.id, 'us-east-1', 8);
    expect(await finished(r, '1-run')).toEqual({ state: 'exited', exitCode: 143 });
    console.log(`interruption notice -> job SIGTERMed: ${Date.now() - noticeAt} ms`);
    expect((await r.readLog('1-run', 0)).data).toContain('checkpoint saved');
    const during = await aws.batchStatus([{ handle: h, key: '1-run', ranks: [0] }]);
    expect(during).toEqual([{ nodes: [{ rank: 0, state: 'gone', reason: 'preempted', detail: 'spot interruption notice: EC2 instance-action terminate at 2026-01-01T00:00:00Z' }], jobs: [{ state: 'exited', exitCode: 143 }] }]);
    // still running as far as EC2 is concerned
    expect((await instancesOf('intr'))[0]?.state).toBe('running');

    await waitFor('the instance to be terminated', async () => ((await instancesOf('intr')).length === 0 ? true : undefined), 20_000, 250);
    await new Promise((res) => setTimeout(res, 2_100));
    const after = await aws.query(h);
    expect(after).toEqual([{ rank: 0, state: 'gone', reason: 'preempted', detail: expect.stringContaining('Server.SpotInstanceTermination') }]);
    await aws.terminate(h);
  });
});

describe('aws provider: stop, start, terminate', () => {
  it('stop and start: the node comes back with its files', async () => {
    const h = await aws.provision(req('ss1'));
    await aws.runner(h, h.nodes[0]!).run('echo kept > file.txt');
    await aws.stop(h);
    expect((await instancesOf('ss1'))[0]?.state).toBe('stopped');
    await new Promise((res) => setTimeout(res, 2_100));
    expect(await aws.query(h)).toEqual([{ rank: 0, state: 'stopped', detail: expect.stringContaining('EC2:') }]);
    const back = await aws.start(h);
    expect(back.nodes.map((n) => n.id)).toEqual(h.nodes.map((n) => n.id));
    expect((await aws.runner(back, back.nodes[0]!).run('cat file.txt')).stdout).toBe('kept\n');
    await new Promise((res) => setTimeout(res, 2_100));
    expect(await aws.query(back)).toEqual([{ rank: 0, state: 'up' }]);
    await aws.terminate(back);
  });

  it('terminate is idempotent, and with nodes: [] finds the cluster by tag; nothing is left', async () => {
    const h = await aws.provision(req('td1', { numNodes: 2 }));
    await aws.terminate(h);
    expect(await instancesOf('td1')).toEqual([]);
    await aws.terminate(h); // again: nothing to do, no error

    const lost = await aws.provision(req('td2', { numNodes: 2 }));
    await aws.terminate({ provider: 'aws', clusterName: 'td2', region: 'us-east-1', nodes: [] });
    expect(await instancesOf('td2')).toEqual([]);
    expect(lost.nodes).toHaveLength(2);
    await aws.terminate({ provider: 'aws', clusterName: 'never-was', nodes: [] });

    // Everything every test created is gone.
    expect((await moto.inventory()).filter((i) => i.tags['petrel-cluster'])).toEqual([]);
  });
});
