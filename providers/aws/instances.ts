// EC2 instances of Petrel clusters: found by tag, created one per rank so that no (attempt,
// rank) ever gets two, waited for, described in bulk.
//
// Never two instances for one attempt: provision looks the cluster's instances up by tag
// before creating any, and each RunInstances carries a ClientToken derived from (idempotency
// key, rank), so EC2 itself answers a repeated call with the first instance. The tags come
// with the instance atomically (TagSpecifications), so an instance whose creation answer was
// lost is found by the next attempt's lookup.
import crypto from 'node:crypto';
import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  RunInstancesCommand,
  type EC2Client,
  type Filter,
  type Instance,
  type RunInstancesCommandInput,
  type Tag,
} from '@aws-sdk/client-ec2';
import { ProviderError } from '../types.js';
import { classifyAwsError } from './errors.js';

export const TAG_CLUSTER = 'petrel-cluster';
export const TAG_RANK = 'petrel-node-rank';
export const TAG_REQUEST = 'petrel-request';
export const TAG_USER = 'petrel-user';

/** States of instances that exist, or are about to (terminated ones stay visible for an hour). */
export const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped'];

export interface Ec2Instance {
  instanceId: string;
  cluster?: string;
  rank?: number;
  request?: string;
  state: string;
  stateReasonCode?: string;
  stateReasonMessage?: string;
  privateIp?: string;
  publicIp?: string;
  zone?: string;
  instanceType?: string;
  spot: boolean;
}

export function toInstance(i: Instance): Ec2Instance {
  const tag = (k: string) => i.Tags?.find((t) => t.Key === k)?.Value;
  const rank = Number(tag(TAG_RANK));
  const out: Ec2Instance = { instanceId: i.InstanceId!, state: i.State?.Name ?? 'unknown', spot: i.InstanceLifecycle === 'spot' };
  const cluster = tag(TAG_CLUSTER);
  if (cluster !== undefined) out.cluster = cluster;
  if (Number.isInteger(rank) && rank >= 0) out.rank = rank;
  const request = tag(TAG_REQUEST);
  if (request !== undefined) out.request = request;
  if (i.StateReason?.Code) out.stateReasonCode = i.StateReason.Code;
  if (i.StateReason?.Message) out.stateReasonMessage = i.StateReason.Message;
  if (i.PrivateIpAddress) out.privateIp = i.PrivateIpAddress;
  if (i.PublicIpAddress) out.publicIp = i.PublicIpAddress;
  if (i.Placement?.AvailabilityZone) out.zone = i.Placement.AvailabilityZone;
  if (i.InstanceType) out.instanceType = i.InstanceType;
  return out;
}

/** Every instance matching `filters`, all pages. */
export async function describe(ec2: EC2Client, filters: Filter[], where: string): Promise<Ec2Instance[]> {
  const out: Ec2Instance[] = [];
  let token: string | undefined;
  do {
    let r;
    try {
      r = await ec2.send(new DescribeInstancesCommand({ Filters: filters, MaxResults: 1000, ...(token ? { NextToken: token } : {}) }));
    } catch (err) {
      throw classifyAwsError(err, `${where}: DescribeInstances`);
    }
    for (const res of r.Reservations ?? []) for (const i of res.Instances ?? []) if (i.InstanceId) out.push(toInstance(i));
    token = r.NextToken;
  } while (token);
  return out;
}

/** The cluster's instances that exist (not terminated, not shutting down). */
export function findCluster(ec2: EC2Client, cluster: string, where: string): Promise<Ec2Instance[]> {
  return describe(ec2, [{ Name: `tag:${TAG_CLUSTER}`, Values: [cluster] }, { Name: 'instance-state-name', Values: LIVE_STATES }], where);
}

/** ≤ 64 ASCII characters (EC2's limit), one per (attempt, rank). */
export function clientToken(idempotencyKey: string, rank: number): string {
  return `petrel-${crypto.createHash('sha256').update(`${idempotencyKey}\0${rank}`).digest('hex').slice(0, 56)}`;
}

const SAFE_TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$/u;

/** A tag value: as it is when AWS accepts it, else a digest of it (still one per attempt). */
export function tagValue(v: string): string {
  return SAFE_TAG_VALUE.test(v) ? v : `sha256-${crypto.createHash('sha256').update(v).digest('hex').slice(0, 32)}`;
}

export interface LaunchSpec {
  cluster: string;
  rank: number;
  idempotencyKey: string;
  user?: string;
  labels: Record<string, string>;
  instanceType: string;
  imageId: string;
  rootDevice?: string;
  diskSizeGb?: number;
  diskEncrypted: boolean;
  zone: string;
  subnetId?: string;
  securityGroupId: string;
  keyName: string;
  spot: boolean;
  /** no public address (use_internal_ips with a subnet) */
  noPublicIp: boolean;
}

export function launchTags(s: LaunchSpec): Tag[] {
  return [
    ...Object.entries(s.labels).map(([Key, Value]) => ({ Key, Value })),
    { Key: 'Name', Value: `petrel-${s.cluster}-${s.rank}` },
    { Key: TAG_CLUSTER, Value: s.cluster },
    { Key: TAG_RANK, Value: String(s.rank) },
    { Key: TAG_REQUEST, Value: tagValue(s.idempotencyKey) },
    ...(s.user ? [{ Key: TAG_USER, Value: tagValue(s.user) }] : []),
  ];
}

export function runInstancesInput(s: LaunchSpec): RunInstancesCommandInput {
  const tags = launchTags(s);
  const input: RunInstancesCommandInput = {
    ImageId: s.imageId,
    InstanceType: s.instanceType as RunInstancesCommandInput['InstanceType'],
    MinCount: 1,
    MaxCount: 1,
    KeyName: s.keyName,
    ClientToken: clientToken(s.idempotencyKey, s.rank),
    Placement: { AvailabilityZone: s.zone },
    TagSpecifications: [
      { ResourceType: 'instance', Tags: tags },
      { ResourceType: 'volume', Tags: tags },
    ],
    // IMDSv2 only: the interruption watcher speaks it, and v1 lets any SSRF read credentials.
    MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
  };
  if (s.noPublicIp && s.subnetId) {
    input.NetworkInterfaces = [{ DeviceIndex: 0, SubnetId: s.subnetId, Groups: [s.securityGroupId], AssociatePublicIpAddress: false }];
  } else {
    input.SecurityGroupIds = [s.securityGroupId];
    if (s.subnetId) input.SubnetId = s.subnetId;
  }
  if (s.spot) input.InstanceMarketOptions = { MarketType: 'spot', SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate' } };
  if (s.diskSizeGb !== undefined || s.diskEncrypted) {
    input.BlockDeviceMappings = [
      { DeviceName: s.rootDevice ?? '/dev/sda1', Ebs: { VolumeType: 'gp3', DeleteOnTermination: true, ...(s.diskSizeGb !== undefined ? { VolumeSize: s.diskSizeGb } : {}), ...(s.diskEncrypted ? { Encrypted: true } : {}) } },
    ];
  }
  return input;
}

export async function runInstance(once: EC2Client, s: LaunchSpec, where: string): Promise<Ec2Instance> {
  try {
    const r = await once.send(new RunInstancesCommand(runInstancesInput(s)));
    const i = r.Instances?.[0];
    if (!i?.InstanceId) throw new ProviderError('transient', `${where}: RunInstances returned no instance`);
    return toInstance(i);
  } catch (err) {
    throw classifyAwsError(err, `${where}: RunInstances ${s.instanceType}${s.spot ? ' (spot)' : ''} for node ${s.rank}`);
  }
}

export const UBUNTU_OWNER = '099720109477';
export const UBUNTU_2204 = 'ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-amd64-server-*';

export interface Image {
  imageId: string;
  rootDevice?: string;
}

/** The newest Ubuntu 22.04 image Canonical publishes in the region, or undefined. */
export async function latestUbuntu(ec2: EC2Client, where: string): Promise<Image | undefined> {
  let r;
  try {
    r = await ec2.send(new DescribeImagesCommand({ Owners: [UBUNTU_OWNER], Filters: [{ Name: 'name', Values: [UBUNTU_2204] }, { Name: 'state', Values: ['available'] }] }));
  } catch (err) {
    throw classifyAwsError(err, `${where}: DescribeImages`);
  }
  const newest = [...(r.Images ?? [])].sort((a, b) => (b.CreationDate ?? '').localeCompare(a.CreationDate ?? ''))[0];
  return newest?.ImageId ? { imageId: newest.ImageId, ...(newest.RootDeviceName ? { rootDevice: newest.RootDeviceName } : {}) } : undefined;
}

/** The root device of a named image (for disk size), when EC2 knows the image. */
export async function rootDeviceOf(ec2: EC2Client, imageId: string): Promise<string | undefined> {
  try {
    const r = await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
    return r.Images?.[0]?.RootDeviceName;
  } catch {
    return undefined; // RunInstances will say what is wrong with the image
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Polls until every instance is in `target` (running / stopped / terminated). An instance that
 * ends while we wait for it to run throws: spot capacity taken back at launch is a capacity
 * error for the zone, anything else transient.
 */
export async function waitForState(ec2: EC2Client, ids: string[], target: 'running' | 'stopped' | 'terminated', timeoutMs: number, where: string): Promise<Ec2Instance[]> {
  const started = Date.now();
  for (let round = 0; ; round++) {
    // By filter, not InstanceIds: an id EC2 does not know (yet, or any more) is no error then.
    const now = ids.length ? await describe(ec2, [{ Name: 'instance-id', Values: ids }], where) : [];
    const byId = new Map(now.map((i) => [i.instanceId, i]));
    if (target === 'running') {
      for (const i of now) {
        if (i.state === 'terminated' || i.state === 'shutting-down') {
          const why = `${i.stateReasonCode ?? i.state}${i.stateReasonMessage ? `: ${i.stateReasonMessage}` : ''}`;
          const capacity = /Capacity|Spot/i.test(i.stateReasonCode ?? '');
          throw new ProviderError(capacity ? 'capacity' : 'transient', `${where}: instance ${i.instanceId} ended while starting (${why})`, capacity ? 'zone' : undefined);
        }
      }
    }
    const done = ids.every((id) => {
      const i = byId.get(id);
      return target === 'terminated' ? !i || i.state === 'terminated' : i?.state === target;
    });
    if (done) return now;
    if (Date.now() - started > timeoutMs) {
      const left = ids.map((id) => `${id} ${byId.get(id)?.state ?? 'unknown'}`).join(', ');
      throw new ProviderError('transient', `${where}: instances not ${target} after ${Math.round(timeoutMs / 1000)} s (${left})`);
    }
    await sleep(round < 10 ? 500 : 2_000);
  }
}
