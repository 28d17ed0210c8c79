// What a region needs before instances can start there, created once and reused (SkyPilot's
// bootstrap_instances): Petrel's public key imported as a key pair, a security group letting
// in SSH and the task's ports, and the network to launch into. Idempotent under concurrency
// (one in-process promise per region and setting) and across processes (a Duplicate answer
// means another worker created it first).
//
// Security groups: `security_group_name` if set, else one per set of opened ports —
// `petrel-ssh` (22 only) or `petrel-ports-<hash>` — shared by every cluster with the same
// ports. That opens no port a cluster did not ask for, and needs no deletion when a cluster
// goes (a per-cluster group would leak whenever teardown was cut short).
import crypto from 'node:crypto';
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  ImportKeyPairCommand,
  type EC2Client,
  type IpPermission,
  type SecurityGroup,
} from '@aws-sdk/client-ec2';
import { ProviderError } from '../types.js';
import { publicKeyDigest } from '../vm/ssh-key.js';
import { classifyAwsError, isAwsError } from './errors.js';

export interface RegionSetup {
  keyName: string;
  securityGroupId: string;
  vpcId: string;
  /** the VPC's subnet per zone, when launching into a named VPC (the default VPC needs none) */
  subnets?: Map<string, string>;
}

export interface BootstrapRequest {
  region: string;
  publicKey: string;
  ports: string[];
  vpcName?: string;
  securityGroupName?: string;
}

/** "8080" or "10022-10040" as [from, to]; undefined when it is neither. */
export function parsePortRange(spec: string): [number, number] | undefined {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(spec.trim());
  if (!m) return undefined;
  const from = Number(m[1]);
  const to = Number(m[2] ?? m[1]);
  return from >= 1 && to <= 65535 && from <= to ? [from, to] : undefined;
}

/** Port 22 and the task's ports, merged, sorted. */
export function openedRanges(ports: string[]): Array<[number, number]> {
  const ranges: Array<[number, number]> = [[22, 22]];
  for (const p of ports) {
    const r = parsePortRange(p);
    if (!r) throw new ProviderError('config', `ports: '${p}' is not a port or a range of ports (e.g. 8080 or 10022-10040)`);
    ranges.push(r);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [];
  for (const r of ranges) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}

export function securityGroupNameFor(ranges: Array<[number, number]>): string {
  if (ranges.length === 1 && ranges[0]![0] === 22 && ranges[0]![1] === 22) return 'petrel-ssh';
  const text = ranges.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(',');
  return `petrel-ports-${crypto.createHash('sha256').update(text).digest('hex').slice(0, 12)}`;
}

export function keyPairName(publicKey: string): string {
  return `petrel-${publicKeyDigest(publicKey).slice(0, 16)}`;
}

export class Bootstrapper {
  private readonly cache = new Map<string, Promise<RegionSetup>>();

  constructor(private readonly clientFor: (region: string) => EC2Client) {}

  setup(req: BootstrapRequest): Promise<RegionSetup> {
    const ranges = openedRanges(req.ports);
    const sgName = req.securityGroupName ?? securityGroupNameFor(ranges);
    const key = JSON.stringify([req.region, req.publicKey, req.vpcName ?? '', sgName, ranges]);
    let p = this.cache.get(key);
    if (!p) {
      p = this.build(req, sgName, ranges);
      this.cache.set(key, p);
      // A failure is not remembered: the next provision tries again.
      p.catch(() => this.cache.delete(key));
    }
    return p;
  }

  private async build(req: BootstrapRequest, sgName: string, ranges: Array<[number, number]>): Promise<RegionSetup> {
    const ec2 = this.clientFor(req.region);
    const where = `aws ${req.region}`;
    const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
      try {
        return await fn();
      } catch (err) {
        throw classifyAwsError(err, `${where}: ${what}`);
      }
    };
    const keyName = keyPairName(req.publicKey);
    const [, net] = await Promise.all([
      call(`ImportKeyPair ${keyName}`, () =>
        ec2.send(new ImportKeyPairCommand({ KeyName: keyName, PublicKeyMaterial: Buffer.from(req.publicKey) })).catch((err: unknown) => {
          // the name is derived from the key itself: a duplicate is this very key
          if (!isAwsError(err, 'InvalidKeyPair.Duplicate')) throw err;
        }),
      ),
      this.network(ec2, req, call),
    ]);
    const securityGroupId = await this.securityGroup(ec2, net.vpcId, sgName, ranges, call);
    return { keyName, securityGroupId, ...net };
  }

  private async network(ec2: EC2Client, req: BootstrapRequest, call: <T>(what: string, fn: () => Promise<T>) => Promise<T>): Promise<{ vpcId: string; subnets?: Map<string, string> }> {
    if (!req.vpcName) {
      const vpcs = await call('DescribeVpcs (default)', () => ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'isDefault', Values: ['true'] }] })));
      const id = vpcs.Vpcs?.[0]?.VpcId;
      if (!id) throw new ProviderError('config', `aws ${req.region}: the region has no default VPC; name one with aws.vpc_name in config.yaml`, 'region');
      return { vpcId: id };
    }
    const vpcs = await call(`DescribeVpcs ${req.vpcName}`, () => ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'tag:Name', Values: [req.vpcName!] }] })));
    const found = vpcs.Vpcs ?? [];
    if (found.length === 0) throw new ProviderError('config', `aws ${req.region}: no VPC named '${req.vpcName}' (aws.vpc_name in config.yaml)`, 'region');
    if (found.length > 1) throw new ProviderError('config', `aws ${req.region}: ${found.length} VPCs are named '${req.vpcName}' (aws.vpc_name): ${found.map((v) => v.VpcId).join(', ')}`, 'region');
    const vpcId = found[0]!.VpcId!;
    const subnets = await call(`DescribeSubnets ${vpcId}`, () => ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] })));
    const byZone = new Map<string, string>();
    // The subnet with the most free addresses per zone.
    for (const s of [...(subnets.Subnets ?? [])].sort((a, b) => (b.AvailableIpAddressCount ?? 0) - (a.AvailableIpAddressCount ?? 0))) {
      if (s.AvailabilityZone && s.SubnetId && !byZone.has(s.AvailabilityZone)) byZone.set(s.AvailabilityZone, s.SubnetId);
    }
    return { vpcId, subnets: byZone };
  }

  private async securityGroup(ec2: EC2Client, vpcId: string, name: string, ranges: Array<[number, number]>, call: <T>(what: string, fn: () => Promise<T>) => Promise<T>): Promise<string> {
    const find = async (): Promise<SecurityGroup | undefined> =>
      (await call(`DescribeSecurityGroups ${name}`, () => ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: [name] }, { Name: 'vpc-id', Values: [vpcId] }] })))).SecurityGroups?.[0];
    let sg = await find();
    if (!sg) {
      const created = await call(`CreateSecurityGroup ${name}`, () =>
        ec2
          .send(
            new CreateSecurityGroupCommand({
              GroupName: name,
              Description: 'Petrel: SSH and the ports tasks open',
              VpcId: vpcId,
              TagSpecifications: [{ ResourceType: 'security-group', Tags: [{ Key: 'petrel-managed', Value: 'true' }] }],
            }),
          )
          .catch((err: unknown) => {
            if (isAwsError(err, 'InvalidGroup.Duplicate')) return undefined; // another worker was first
            throw err;
          }),
      );
      sg = created?.GroupId ? { GroupId: created.GroupId, IpPermissions: [] } : await find();
      if (!sg?.GroupId) throw new ProviderError('transient', `aws: security group ${name} was created but cannot be found yet`);
    }
    const missing = ranges.filter(([from, to]) => !(sg!.IpPermissions ?? []).some((p) => opens(p, from, to)));
    if (missing.length) {
      await call(`AuthorizeSecurityGroupIngress ${name}`, () =>
        ec2
          .send(
            new AuthorizeSecurityGroupIngressCommand({
              GroupId: sg!.GroupId,
              IpPermissions: missing.map(([from, to]) => ({ IpProtocol: 'tcp', FromPort: from, ToPort: to, IpRanges: [{ CidrIp: '0.0.0.0/0' }] })),
            }),
          )
          .catch((err: unknown) => {
            if (!isAwsError(err, 'InvalidPermission.Duplicate')) throw err;
          }),
      );
    }
    return sg.GroupId!;
  }
}

function opens(p: IpPermission, from: number, to: number): boolean {
  const proto = p.IpProtocol;
  if (proto === '-1') return (p.IpRanges ?? []).some((r) => r.CidrIp === '0.0.0.0/0');
  return proto === 'tcp' && (p.FromPort ?? 0) <= from && (p.ToPort ?? 0) >= to && (p.IpRanges ?? []).some((r) => r.CidrIp === '0.0.0.0/0');
}
