// GcpProvider against the GCE stand-in (test/support/gce-standin.ts: no GCE emulator can run
// here) and a real OpenSSH sshd on loopback standing in for every instance: nodes are reached
// through gcp.ssh_proxy_command, which ignores the instance address it is given (never
// connected to) and connects to the sshd. Every API request must carry the configured token.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ClusterHandle } from '../../core/cluster-state.js';
import { GcpProvider } from '../../providers/gcp/index.js';
import { parseGcpSection } from '../../providers/gcp/config.js';
import { gceFailure } from '../../providers/gcp/errors.js';
import { requestIdOf } from '../../providers/gcp/names.js';
import { GoogleError } from 'google-gax';
import { SshPool } from '../../providers/ssh/connection.js';
import { ProviderError, type ProvisionRequest } from '../../providers/types.js';
import { ensureCloudKey } from '../../providers/vm/ssh-key.js';
import { aip193Error, legacyError, startGceStandin, type GceStandin } from '../support/gce-standin.js';
import { waitFor } from '../support/petrel.js';
import { startSshd, type SshdCluster } from '../support/sshd.js';

const TOKEN = 'ya29.test-token-for-the-stand-in';
const PROJECT = 'petrel-test';
const REGION = 'us-central1';
const ZONE = 'us-central1-a';

let standin: GceStandin;
let sshd: SshdCluster;
let home: string;
let pool: SshPool;
let provider: GcpProvider;
let proxyLog: string;
let env: NodeJS.ProcessEnv;
let baseConfig: string;

function writeConfig(extra = ''): void {
  fs.writeFileSync(path.join(home, 'config.yaml'), `${baseConfig}${extra}`);
}

beforeAll(async () => {
  process.env.METADATA_SERVER_DETECTION = 'none';
  process.env.GOOGLE_OAUTH_ACCESS_TOKEN = TOKEN;
  delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
  standin = await startGceStandin({ authorization: `Bearer ${TOKEN}` });
  sshd = await startSshd(1, { sharedUser: true });
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-gcp-'));
  // Petrel's cloud key, made before provision (as a real one would be) and let into the sshd.
  const key = await ensureCloudKey(home);
  fs.appendFileSync(sshd.authorizedKeys, `${key.publicKey}\n`);
  // The ProxyCommand: records which address it was asked for, then connects to the loopback sshd.
  const proxy = path.join(home, 'proxy.cjs');
  proxyLog = path.join(home, 'proxy.log');
  const h = sshd.hosts[0]!;
  fs.writeFileSync(
    proxy,
    `require('fs').appendFileSync(${JSON.stringify(proxyLog)}, process.argv[2] + ':' + process.argv[3] + '\\n');
const s = require('net').connect(${h.port}, ${JSON.stringify(h.ip)});
process.stdin.pipe(s); s.pipe(process.stdout); s.on('close', () => process.exit(0)); s.on('error', () => process.exit(1));\n`,
  );
  baseConfig = [
    'gcp:',
    `  project_id: ${PROJECT}`,
    `  api_endpoint: ${standin.endpoint}`,
    `  instance_metadata_endpoint: ${standin.metadataEndpoint}`,
    `  ssh_user: ${h.user}`,
    `  ssh_proxy_command: ${process.execPath} ${proxy} %h %p`,
    '  labels: {team: ml}',
    '',
  ].join('\n');
  writeConfig();
  env = { ...process.env, GOOGLE_OAUTH_ACCESS_TOKEN: TOKEN, METADATA_SERVER_DETECTION: 'none', HOME: home };
  pool = new SshPool();
  provider = new GcpProvider({ home, pool, env });
});

afterAll(async () => {
  pool?.closeAll();
  await sshd?.stop();
  await standin?.close();
  if (home) fs.rmSync(home, { recursive: true, force: true });
});

beforeEach(() => {
  standin?.clearFaults();
  writeConfig();
});

let seq = 0;
function req(numNodes: number, extra: Partial<ProvisionRequest> = {}): ProvisionRequest {
  const clusterName = `c${++seq}-${Date.now().toString(36)}`;
  return { clusterName, numNodes, region: REGION, zone: ZONE, useSpot: false, idempotencyKey: `${clusterName}/attempt-1`, user: 'alice', instanceType: 'n2-standard-2', ...extra };
}

const ofCluster = (cluster: string) => standin.inventory().filter((i) => i.labels['petrel-cluster'] === cluster);
const inserts = (since = 0) => standin.log.slice(since).filter((r) => r.method === 'POST' && /\/instances$/.test(r.path));

async function provisionError(r: ProvisionRequest): Promise<ProviderError> {
  const err = await provider.provision(r).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

async function jobDone(handle: ClusterHandle, rank: number, key: string) {
  const r = provider.runner(handle, handle.nodes[rank]!);
  return waitFor(`job ${key}`, async () => {
    const s = await r.status(key);
    return s.state === 'exited' || s.state === 'lost' ? s : undefined;
  });
}

describe('gcp provider: check', () => {
  it('without credentials is disabled, says how to get them, and contacts nothing', async () => {
    const before = standin.log.length;
    const bare = new GcpProvider({ home, pool, env: { PATH: process.env.PATH, HOME: home, METADATA_SERVER_DETECTION: 'none' } });
    const r = await bare.check();
    expect(r.enabled).toBe(false);
    expect(r.detail).toMatch(/no GCP credentials.*gcloud auth application-default login.*GOOGLE_APPLICATION_CREDENTIALS.*GOOGLE_OAUTH_ACCESS_TOKEN/);
    expect(standin.log.length).toBe(before);
  });

  it('with the token is enabled and names the project and where the credentials came from', async () => {
    const r = await provider.check();
    expect(r).toMatchObject({ provider: 'gcp', enabled: true });
    expect(r.detail).toContain(`project ${PROJECT}`);
    expect(r.detail).toContain('GOOGLE_OAUTH_ACCESS_TOKEN');
    expect(r.detail).not.toContain(TOKEN);
  });

  it('with a token the API refuses is disabled with the API\'s answer', async () => {
    const refused = new GcpProvider({ home, pool, env: { ...env, GOOGLE_OAUTH_ACCESS_TOKEN: 'ya29.expired' } });
    const before = standin.unauthorized.length;
    const r = await refused.check();
    expect(r.enabled).toBe(false);
    expect(r.detail).toMatch(/missing required authentication credential/i);
    expect(standin.unauthorized.length).toBe(before + 1);
    expect(standin.unauthorized.at(-1)!.authorization).toBe('Bearer ya29.expired');
  });

  it('with GOOGLE_APPLICATION_CREDENTIALS naming a missing or broken file is disabled, saying which, and contacts nothing', async () => {
    const before = standin.log.length;
    const missing = path.join(home, 'no-such-key.json');
    const r1 = await new GcpProvider({ home, pool, env: { HOME: home, GOOGLE_APPLICATION_CREDENTIALS: missing } }).check();
    expect(r1).toMatchObject({ enabled: false, detail: expect.stringContaining(`GOOGLE_APPLICATION_CREDENTIALS names ${missing}, which does not exist`) });
    const broken = path.join(home, 'broken-key.json');
    fs.writeFileSync(broken, '{"type": "service_account", ');
    const r2 = await new GcpProvider({ home, pool, env: { HOME: home, GOOGLE_APPLICATION_CREDENTIALS: broken } }).check();
    expect(r2).toMatchObject({ enabled: false, detail: expect.stringContaining(`${broken}: not a GCP credentials file`) });
    expect(standin.log.length).toBe(before);
  });

  it('lists the catalog regions and zones', async () => {
    const regions = await provider.regions();
    expect(regions).toContain('us-central1');
    expect(regions.length).toBeGreaterThanOrEqual(3);
    expect(await provider.zones('us-central1')).toContain('us-central1-a');
  });
});

describe('gcp provider: provision, run, terminate', () => {
  it('creates a 2-node spot cluster with labels, GPUs and the key, runs a job on each node over SSH, and terminates it', async () => {
    const r = req(2, { useSpot: true, instanceType: 'n1-standard-4', accelerators: { T4: 1 }, labels: { Project: 'Vision', run: 'r1' } });
    const logStart = standin.log.length;
    const t0 = Date.now();
    const handle = await provider.provision(r);
    const provisionMs = Date.now() - t0;
    console.log(`gcp stand-in: provision -> running (2 nodes, SSH reachable, watchers started) took ${provisionMs} ms`);

    expect(handle).toMatchObject({ provider: 'gcp', clusterName: r.clusterName, region: REGION, zone: ZONE });
    expect(handle.nodes.map((n) => n.rank)).toEqual([0, 1]);
    const insts = ofCluster(r.clusterName).sort((a, b) => a.name.localeCompare(b.name));
    expect(insts.map((i) => i.name)).toEqual([`petrel-${r.clusterName}-0`, `petrel-${r.clusterName}-1`]);
    expect(insts.map((i) => i.status)).toEqual(['RUNNING', 'RUNNING']);
    const key = fs.readFileSync(path.join(home, 'keys', 'petrel-cloud.pub'), 'utf8').trim();
    for (const [rank, i] of insts.entries()) {
      expect(i.labels).toEqual({ team: 'ml', project: 'vision', run: 'r1', 'petrel-cluster': r.clusterName, 'petrel-node-rank': String(rank), 'petrel-request': expect.stringMatching(/^[a-z0-9_-]{1,63}$/), 'petrel-user': 'alice' });
      expect(i.machineType).toMatch(/\/zones\/us-central1-a\/machineTypes\/n1-standard-4$/);
      expect(i.scheduling).toMatchObject({ provisioningModel: 'SPOT', instanceTerminationAction: 'DELETE', onHostMaintenance: 'TERMINATE' });
      expect(i.guestAccelerators).toEqual([{ acceleratorType: 'zones/us-central1-a/acceleratorTypes/nvidia-tesla-t4', acceleratorCount: 1 }]);
      expect(i.metadata.items).toContainEqual({ key: 'ssh-keys', value: `${sshd.hosts[0]!.user}:${key}` });
      expect(i.requestId).toBe(requestIdOf(r.idempotencyKey, r.clusterName, rank));
    }
    // Each insert carried a UUID requestId derived from (request, rank).
    expect(inserts(logStart).map((x) => x.requestId).sort()).toEqual([0, 1].map((k) => requestIdOf(r.idempotencyKey, r.clusterName, k)).sort());
    expect(inserts(logStart).every((x) => /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(x.requestId ?? ''))).toBe(true);
    // The zone operations were waited on until DONE (the stand-in answers RUNNING first).
    expect(standin.log.slice(logStart).filter((x) => /\/operations\/[^/]+\/wait$/.test(x.path)).length).toBeGreaterThan(2);
    // Node access went through the ProxyCommand with each instance's (external) address.
    expect(handle.nodes.map((n) => n.data.host)).toEqual(insts.map((i) => i.natIP));
    expect(fs.readFileSync(proxyLog, 'utf8')).toContain(`${insts[0]!.natIP}:22`);

    for (const node of handle.nodes) {
      const runner = provider.runner(handle, node);
      await runner.startDetached({ key: 'hello', script: 'echo "rank $PETREL_RANK at $(pwd)"; exit 3', env: { PETREL_RANK: String(node.rank) } });
    }
    for (const rank of [0, 1]) {
      expect(await jobDone(handle, rank, 'hello')).toEqual({ state: 'exited', exitCode: 3 });
      const log = await provider.runner(handle, handle.nodes[rank]!).readLog('hello', 0);
      expect(log.data).toContain(`rank ${rank} at`);
      expect(log.data).toContain(`node-${rank}`);
    }
    expect(await provider.query(handle)).toEqual([
      { rank: 0, state: 'up' },
      { rank: 1, state: 'up' },
    ]);

    await provider.terminate(handle);
    expect(ofCluster(r.clusterName)).toEqual([]);
    expect((await provider.query(handle)).map((n) => [n.state, n.reason])).toEqual([
      ['gone', 'terminated'],
      ['gone', 'terminated'],
    ]);
    await provider.terminate(handle); // idempotent
  });

  it('a provision retried after its insert was accepted (answer lost) creates nothing new', async () => {
    const r = req(1);
    // GCE accepts the insert, but the provision dies on the next call (the answer to reading the instance is lost).
    standin.fault({ method: 'GET', path: `/instances/petrel-${r.clusterName}-0$`, times: 1, status: 503, body: legacyError(503, 'backendError', 'Backend Error') });
    const first = await provisionError(r);
    expect(first.kind).toBe('transient');
    expect(ofCluster(r.clusterName)).toHaveLength(1); // kept for the retry
    const id = ofCluster(r.clusterName)[0]!.id;
    const before = standin.log.length;
    const handle = await provider.provision(r);
    expect(ofCluster(r.clusterName).map((i) => i.id)).toEqual([id]);
    expect(handle.nodes[0]!.data.gce_id).toBe(id);
    expect(inserts(before)).toEqual([]);
    await provider.terminate(handle);
  });

  it('two provisions of the same request at once create one instance per rank (the same requestId)', async () => {
    const r = req(2);
    const before = standin.log.length;
    const [a, b] = await Promise.all([provider.provision(r), provider.provision(r)]);
    expect(a.nodes.map((n) => n.id)).toEqual(b.nodes.map((n) => n.id));
    expect(ofCluster(r.clusterName)).toHaveLength(2);
    const ids = inserts(before).map((x) => x.requestId);
    // However the two interleaved, every insert of rank k carried rank k's requestId.
    expect(new Set(ids).size).toBeLessThanOrEqual(2);
    for (const id of ids) expect([0, 1].map((k) => requestIdOf(r.idempotencyKey, r.clusterName, k))).toContain(id);
    await provider.terminate(a);
  });

  it('the same requestId twice is answered with the same operation and creates nothing', async () => {
    // What the provider relies on, shown at the API: GCE (and the stand-in) deduplicate by requestId.
    const r = req(1);
    const before = standin.log.length;
    const handle = await provider.provision(r);
    const rid = inserts(before)[0]!.requestId!;
    const res = await fetch(`${standin.endpoint}/compute/v1/projects/${PROJECT}/zones/${ZONE}/instances?requestId=${rid}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `petrel-${r.clusterName}-0`, machineType: `zones/${ZONE}/machineTypes/n2-standard-2` }),
    });
    expect(res.status).toBe(200);
    const op = (await res.json()) as { operationType: string; targetLink: string };
    expect(op.operationType).toBe('insert');
    expect(op.targetLink).toMatch(new RegExp(`/instances/petrel-${r.clusterName}-0$`));
    expect(ofCluster(r.clusterName)).toHaveLength(1);
    await provider.terminate(handle);
  });

  it('terminate with an empty node list finds the cluster by label and deletes it', async () => {
    const r = req(2);
    const handle = await provider.provision(r);
    expect(ofCluster(r.clusterName)).toHaveLength(2);
    await provider.terminate({ provider: 'gcp', clusterName: r.clusterName, region: REGION, nodes: [] });
    expect(ofCluster(r.clusterName)).toEqual([]);
    await provider.terminate({ provider: 'gcp', clusterName: r.clusterName, region: REGION, nodes: [] });
    expect((await provider.query(handle)).every((n) => n.state === 'gone')).toBe(true);
  });

  it('stops and starts a cluster: stopped while TERMINATED, then reachable again with jobs running', async () => {
    const r = req(1);
    const handle = await provider.provision(r);
    await provider.stop(handle);
    expect(ofCluster(r.clusterName).map((i) => i.status)).toEqual(['TERMINATED']);
    expect(await provider.query(handle)).toEqual([{ rank: 0, state: 'stopped', detail: expect.stringContaining('TERMINATED') }]);
    const again = await provider.start(handle);
    expect(ofCluster(r.clusterName).map((i) => i.status)).toEqual(['RUNNING']);
    expect(await provider.query(again)).toEqual([{ rank: 0, state: 'up' }]);
    await provider.runner(again, again.nodes[0]!).startDetached({ key: 'after-start', script: 'exit 0', env: {} });
    expect(await jobDone(again, 0, 'after-start')).toEqual({ state: 'exited', exitCode: 0 });
    await provider.terminate(again);
    expect(ofCluster(r.clusterName)).toEqual([]);
  });
});

describe('gcp provider: errors', () => {
  const cases: Array<{ name: string; fault: Parameters<GceStandin['fault']>[0]; kind: string; scope: string | undefined; text: RegExp }> = [
    {
      name: 'ZONE_RESOURCE_POOL_EXHAUSTED on the insert (legacy errors[].reason) → capacity, zone',
      fault: { method: 'POST', path: '/instances$', times: 1, status: 503, body: legacyError(503, 'ZONE_RESOURCE_POOL_EXHAUSTED', "The zone 'projects/petrel-test/zones/us-central1-a' does not have enough resources available to fulfill the request.") },
      kind: 'capacity',
      scope: 'zone',
      text: /ZONE_RESOURCE_POOL_EXHAUSTED.*|does not have enough resources/,
    },
    {
      name: 'ZONE_RESOURCE_POOL_EXHAUSTED on the insert (AIP-193 ErrorInfo) → capacity, zone',
      fault: { method: 'POST', path: '/instances$', times: 1, status: 503, body: aip193Error(503, 'UNAVAILABLE', 'ZONE_RESOURCE_POOL_EXHAUSTED', 'A n2-standard-2 VM instance is currently unavailable in the us-central1-a zone.') },
      kind: 'capacity',
      scope: 'zone',
      text: /currently unavailable in the us-central1-a zone.*ZONE_RESOURCE_POOL_EXHAUSTED/,
    },
    {
      name: 'ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS as the insert operation\'s error → capacity, zone',
      fault: { method: 'POST', path: '/instances$', times: 1, opError: { code: 'ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS', message: "The zone 'projects/petrel-test/zones/us-central1-a' does not have enough resources available to fulfill the request. '(resource type:compute)'." } },
      kind: 'capacity',
      scope: 'zone',
      text: /ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS/,
    },
    {
      name: 'QUOTA_EXCEEDED (legacy quotaExceeded) → quota, region',
      fault: { method: 'POST', path: '/instances$', times: 1, status: 403, body: legacyError(403, 'quotaExceeded', "Quota 'CPUS' exceeded.  Limit: 24.0 in region us-central1.") },
      kind: 'quota',
      scope: 'region',
      text: /Quota 'CPUS' exceeded.*quotaExceeded/,
    },
    {
      name: 'QUOTA_EXCEEDED as the insert operation\'s error → quota, region',
      fault: { method: 'POST', path: '/instances$', times: 1, opError: { code: 'QUOTA_EXCEEDED', message: "Quota 'NVIDIA_T4_GPUS' exceeded.  Limit: 1.0 in region us-central1." } },
      kind: 'quota',
      scope: 'region',
      text: /NVIDIA_T4_GPUS.*QUOTA_EXCEEDED/,
    },
    {
      name: 'GPUS_ALL_REGIONS quota → quota, the whole cloud',
      fault: { method: 'POST', path: '/instances$', times: 1, status: 403, body: legacyError(403, 'quotaExceeded', "Quota 'GPUS_ALL_REGIONS' exceeded.  Limit: 0.0 globally.") },
      kind: 'quota',
      scope: 'cloud',
      text: /GPUS_ALL_REGIONS/,
    },
    {
      name: 'GPUS_ALL_REGIONS in an AIP-193 ErrorInfo\'s metadata → quota, the whole cloud',
      fault: { method: 'POST', path: '/instances$', times: 1, status: 403, body: aip193Error(403, 'PERMISSION_DENIED', 'QUOTA_EXCEEDED', 'Quota exceeded for quota metric GPUs (all regions).', { quota_metric: 'compute.googleapis.com/gpus_all_regions', quota_limit_name: 'GPUS_ALL_REGIONS' }) },
      kind: 'quota',
      scope: 'cloud',
      text: /QUOTA_EXCEEDED/,
    },
    {
      name: '403 permission denied → config, the whole cloud',
      fault: { method: 'POST', path: '/instances$', times: 1, status: 403, body: legacyError(403, 'forbidden', "Required 'compute.instances.create' permission for 'projects/petrel-test/zones/us-central1-a/instances/x'") },
      kind: 'config',
      scope: 'cloud',
      text: /compute\.instances\.create.*forbidden/,
    },
    {
      name: 'IAM_PERMISSION_DENIED as the operation\'s error → config, the whole cloud',
      fault: { method: 'POST', path: '/instances$', times: 1, opError: { code: 'IAM_PERMISSION_DENIED', message: "Permission 'iam.serviceAccounts.actAs' denied" } },
      kind: 'config',
      scope: 'cloud',
      text: /actAs/,
    },
    {
      name: '429 rate limit → transient',
      fault: { method: 'POST', path: '/instances$', times: 1, status: 429, body: legacyError(429, 'rateLimitExceeded', 'Rate Limit Exceeded') },
      kind: 'transient',
      scope: undefined,
      text: /Rate Limit Exceeded/,
    },
  ];

  for (const c of cases) {
    it(`${c.name}; nothing of the cluster is left`, async () => {
      const r = req(2);
      standin.fault(c.fault);
      const before = standin.log.length;
      const err = await provisionError(r);
      expect({ kind: err.kind, scope: err.scope }).toEqual({ kind: c.kind, scope: c.scope });
      expect(err.message).toMatch(c.text);
      expect(err.message).toContain(`gcp/${PROJECT}/${ZONE}`);
      if (c.kind === 'transient') {
        // Kept for the retry, which adopts it; teardown removes it otherwise.
        await provider.terminate({ provider: 'gcp', clusterName: r.clusterName, region: REGION, zone: ZONE, nodes: [] });
      }
      // The other rank was created, and removed again (by the provision itself unless transient).
      expect(standin.log.slice(before).filter((x) => x.method === 'DELETE' && x.path.includes(`/instances/petrel-${r.clusterName}-`))).toHaveLength(1);
      expect(ofCluster(r.clusterName)).toEqual([]);
    });
  }

  it('an instance of the same name that is not the cluster\'s is neither used nor deleted (config)', async () => {
    const r = req(1);
    const name = `petrel-${r.clusterName}-0`;
    const res = await fetch(`${standin.endpoint}/compute/v1/projects/${PROJECT}/zones/${ZONE}/instances`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name, machineType: `zones/${ZONE}/machineTypes/e2-standard-2`, labels: { owner: 'someone-else' } }),
    });
    expect(res.status).toBe(200);
    const err = await provisionError(r);
    expect(err.kind).toBe('config');
    expect(err.message).toContain(`an instance named ${name} exists that is not part of Petrel cluster ${r.clusterName}`);
    expect(standin.instance(ZONE, name)?.labels).toEqual({ owner: 'someone-else' });
    await fetch(`${standin.endpoint}/compute/v1/projects/${PROJECT}/zones/${ZONE}/instances/${name}`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
  });

  it('reads the other forms an error takes: GoogleError .reason (compute 7.x), no answer at all', () => {
    const ge = Object.assign(new GoogleError('A a2-highgpu-1g VM instance is currently unavailable in the us-central1-a zone.'), { code: 14, reason: 'ZONE_RESOURCE_POOL_EXHAUSTED' });
    expect(gceFailure('gcp/p/z', 'creating instance x', ge)).toMatchObject({ kind: 'capacity', scope: 'zone', message: expect.stringContaining('[ZONE_RESOURCE_POOL_EXHAUSTED]') });
    const q = Object.assign(new GoogleError("Quota 'GPUS_ALL_REGIONS' exceeded.  Limit: 0.0 globally."), { code: 7, httpStatusCode: 403, reason: 'QUOTA_EXCEEDED' });
    expect(gceFailure('gcp/p/z', 'creating instance x', q)).toMatchObject({ kind: 'quota', scope: 'cloud' });
    const refused = Object.assign(new Error('request to http://127.0.0.1:9/compute/v1 failed, reason: connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    expect(gceFailure('gcp/p/z', 'listing instances', refused)).toMatchObject({ kind: 'transient', message: expect.stringContaining('ECONNREFUSED') });
  });

  it('a request without the configured token is refused (401 → config, cloud) and recorded', async () => {
    const other = new GcpProvider({ home, pool, env: { ...env, GOOGLE_OAUTH_ACCESS_TOKEN: 'ya29.someone-else' } });
    const r = req(1);
    const err = await other.provision(r).then(
      () => undefined,
      (e: unknown) => e as ProviderError,
    );
    expect({ kind: err?.kind, scope: err?.scope }).toEqual({ kind: 'config', scope: 'cloud' });
    expect(err?.message).toMatch(/authentication credential/);
    expect(ofCluster(r.clusterName)).toEqual([]);
  });
});

describe('gcp provider: ports (a VPC firewall rule per cluster)', () => {
  const rulesOf = (cluster: string) => standin.firewalls(PROJECT).filter((f) => f.description?.includes(`Petrel cluster ${cluster}:`));
  const firewallCalls = (since: number, method: string) => standin.log.slice(since).filter((x) => x.method === method && /\/global\/firewalls(\/[^/]+)?$/.test(x.path));

  it('opens the ports with one INGRESS rule targeting the instances\' tag, before the instances; a retry adds none; terminate deletes it after the instances', async () => {
    const r = req(2, { ports: ['8080', '10022-10040'] });
    const before = standin.log.length;
    const handle = await provider.provision(r);
    const insts = ofCluster(r.clusterName);
    expect(insts).toHaveLength(2);
    const tags = insts.map((i) => i.tags);
    expect(tags[0]).toHaveLength(1);
    expect(tags[1]).toEqual(tags[0]);
    expect(tags[0]![0]).toMatch(/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/);

    const rules = rulesOf(r.clusterName);
    expect(rules).toHaveLength(1);
    expect(rules[0]).toMatchObject({
      name: expect.stringMatching(/^petrel-[-a-z0-9]+-ports$/),
      network: 'global/networks/default',
      direction: 'INGRESS',
      allowed: [{ IPProtocol: 'tcp', ports: ['8080', '10022-10040'] }],
      sourceRanges: ['0.0.0.0/0'],
      targetTags: tags[0],
    });
    // No rule for 22: the default network's default-allow-ssh lets SSH in.
    expect(rules[0]!.allowed.flatMap((a) => a.ports ?? [])).not.toContain('22');
    // The rule's global operation was waited on until DONE before any instance was inserted.
    const log = standin.log.slice(before);
    const ruleInsert = log.findIndex((x) => x.method === 'POST' && x.path.endsWith('/global/firewalls'));
    const firstInstance = log.findIndex((x) => x.method === 'POST' && x.path.endsWith('/instances'));
    const ruleWaits = log.map((x, i) => (/\/global\/operations\/[^/]+\/wait$/.test(x.path) ? i : -1)).filter((i) => i >= 0);
    expect(ruleInsert).toBeGreaterThanOrEqual(0);
    expect(ruleWaits.length).toBeGreaterThan(1); // the stand-in answers RUNNING first
    expect(ruleWaits.every((i) => i > ruleInsert && i < firstInstance)).toBe(true);
    expect(standin.globalOperations(PROJECT).find((o) => o.targetLink.endsWith(`/firewalls/${rules[0]!.name}`))).toMatchObject({ operationType: 'insert', status: 'DONE' });
    expect(log[ruleInsert]!.requestId).toBe(requestIdOf(r.idempotencyKey, r.clusterName, 'firewall'));

    const retried = standin.log.length;
    await provider.provision(r);
    expect(firewallCalls(retried, 'POST')).toEqual([]);
    expect(rulesOf(r.clusterName)).toHaveLength(1);
    expect(rulesOf(r.clusterName)[0]!.id).toBe(rules[0]!.id);

    const ending = standin.log.length;
    await provider.terminate(handle);
    expect(ofCluster(r.clusterName)).toEqual([]);
    expect(rulesOf(r.clusterName)).toEqual([]);
    const end = standin.log.slice(ending);
    const lastInstanceDelete = end.map((x, i) => (x.method === 'DELETE' && x.path.includes('/instances/') ? i : -1)).reduce((a, b) => Math.max(a, b), -1);
    const ruleDelete = end.findIndex((x) => x.method === 'DELETE' && x.path.endsWith(`/global/firewalls/${rules[0]!.name}`));
    expect(lastInstanceDelete).toBeGreaterThanOrEqual(0);
    expect(ruleDelete).toBeGreaterThan(lastInstanceDelete);
    await provider.terminate(handle); // the rule already gone is fine
  });

  it('terminate with an empty node list deletes the rule too', async () => {
    const r = req(1, { ports: ['8888'] });
    await provider.provision(r);
    expect(rulesOf(r.clusterName)).toHaveLength(1);
    await provider.terminate({ provider: 'gcp', clusterName: r.clusterName, region: REGION, nodes: [] });
    expect(ofCluster(r.clusterName)).toEqual([]);
    expect(rulesOf(r.clusterName)).toEqual([]);
    await provider.terminate({ provider: 'gcp', clusterName: r.clusterName, region: REGION, nodes: [] });
  });

  it('two clusters get two rules, each targeting only its own instances', async () => {
    const [ra, rb] = [req(1, { ports: ['8080'] }), req(1, { ports: ['8080'] })];
    const [ha, hb] = await Promise.all([provider.provision(ra), provider.provision(rb)]);
    const [fa, fb] = [rulesOf(ra.clusterName), rulesOf(rb.clusterName)];
    expect(fa).toHaveLength(1);
    expect(fb).toHaveLength(1);
    expect(fa[0]!.name).not.toBe(fb[0]!.name);
    expect(fa[0]!.targetTags).toEqual(ofCluster(ra.clusterName)[0]!.tags);
    expect(fb[0]!.targetTags).toEqual(ofCluster(rb.clusterName)[0]!.tags);
    expect(ofCluster(ra.clusterName)[0]!.tags).not.toContain(fb[0]!.targetTags[0]);
    await provider.terminate(ha);
    expect(rulesOf(ra.clusterName)).toEqual([]);
    expect(rulesOf(rb.clusterName)).toHaveLength(1); // the other cluster's stays
    await provider.terminate(hb);
    expect(rulesOf(rb.clusterName)).toEqual([]);
  });

  it('a relaunch on the cluster with another port adds it to the rule, removing none', async () => {
    const r = req(1, { ports: ['8080'] });
    const handle = await provider.provision(r);
    await provider.provision({ ...r, idempotencyKey: `${r.clusterName}/attempt-2`, ports: ['9000'] });
    const rules = rulesOf(r.clusterName);
    expect(rules).toHaveLength(1);
    expect(rules[0]!.allowed.filter((a) => a.IPProtocol === 'tcp').flatMap((a) => a.ports ?? []).sort()).toEqual(['8080', '9000']);
    expect(ofCluster(r.clusterName)).toHaveLength(1);
    await provider.terminate(handle);
    expect(rulesOf(r.clusterName)).toEqual([]);
  });

  const faults: Array<{ name: string; fault: Parameters<GceStandin['fault']>[0]; kind: string; scope: string | undefined; text: RegExp }> = [
    {
      name: '403 on the rule\'s insert → config, the whole cloud',
      fault: { method: 'POST', path: '/global/firewalls$', times: 1, status: 403, body: legacyError(403, 'forbidden', "Required 'compute.firewalls.create' permission for 'projects/petrel-test/global/firewalls/x'") },
      kind: 'config',
      scope: 'cloud',
      text: /creating firewall rule petrel-.*-ports.*compute\.firewalls\.create.*forbidden/,
    },
    {
      name: 'the rule\'s global operation failing with QUOTA_EXCEEDED (FIREWALLS) → quota, the whole cloud',
      fault: { method: 'POST', path: '/global/firewalls$', times: 1, opError: { code: 'QUOTA_EXCEEDED', message: "Quota 'FIREWALLS' exceeded.  Limit: 200.0 globally." } },
      kind: 'quota',
      scope: 'cloud',
      text: /FIREWALLS.*QUOTA_EXCEEDED/,
    },
  ];
  for (const c of faults) {
    it(`${c.name}; no instance is created and no rule is left`, async () => {
      const r = req(2, { ports: ['8080', '10022-10040'] });
      standin.fault(c.fault);
      const before = standin.log.length;
      const err = await provisionError(r);
      expect({ kind: err.kind, scope: err.scope }).toEqual({ kind: c.kind, scope: c.scope });
      expect(err.message).toMatch(c.text);
      expect(err.message).toContain(`gcp/${PROJECT}`);
      expect(inserts(before)).toEqual([]);
      expect(ofCluster(r.clusterName)).toEqual([]);
      expect(rulesOf(r.clusterName)).toEqual([]);
    });
  }

  it('an instance insert refused after the rule was made removes the rule with the instances', async () => {
    const r = req(2, { ports: ['8080'] });
    standin.fault({ method: 'POST', path: '/instances$', times: 1, status: 503, body: legacyError(503, 'ZONE_RESOURCE_POOL_EXHAUSTED', "The zone 'projects/petrel-test/zones/us-central1-a' does not have enough resources available to fulfill the request.") });
    const before = standin.log.length;
    const err = await provisionError(r);
    expect({ kind: err.kind, scope: err.scope }).toEqual({ kind: 'capacity', scope: 'zone' });
    expect(firewallCalls(before, 'POST')).toHaveLength(1);
    expect(firewallCalls(before, 'DELETE')).toHaveLength(1);
    expect(ofCluster(r.clusterName)).toEqual([]);
    expect(rulesOf(r.clusterName)).toEqual([]);
  });

  it('a malformed port is refused as config before anything is requested', async () => {
    const before = standin.log.length;
    const err = await provisionError(req(1, { ports: ['9000-80'] }));
    expect(err.kind).toBe('config');
    expect(err.message).toContain("ports: '9000-80' is not a port or a range of ports");
    expect(standin.log.length).toBe(before);
  });

  it('a cluster without ports has tagged instances and no rule', async () => {
    const r = req(1);
    const handle = await provider.provision(r);
    expect(ofCluster(r.clusterName)[0]!.tags).toHaveLength(1);
    expect(rulesOf(r.clusterName)).toEqual([]);
    await provider.terminate(handle);
  });
});

describe('gcp provider: preemption and batched status', () => {
  it('a preemption notice SIGTERMs the job and marks the node preempted; the preemption then reports preempted from GCE (DELETE)', async () => {
    const r = req(1, { useSpot: true });
    const handle = await provider.provision(r);
    const runner = provider.runner(handle, handle.nodes[0]!);
    await runner.startDetached({ key: 'train', script: 'trap \'echo got SIGTERM; exit 143\' TERM; echo started; while true; do sleep 0.2; done', env: {} });
    await waitFor('job started', async () => ((await runner.readLog('train', 0)).data.includes('started') ? true : undefined));
    const name = `petrel-${r.clusterName}-0`;
    const watch = [{ handle, key: 'train', ranks: [0] }];
    expect((await provider.batchStatus(watch))[0]).toEqual({ nodes: [{ rank: 0, state: 'up' }], jobs: [{ state: 'running' }] });

    standin.preemptionNotice(ZONE, name);
    expect(await jobDone(handle, 0, 'train')).toEqual({ state: 'exited', exitCode: 143 });
    expect((await runner.readLog('train', 0)).data).toContain('got SIGTERM');
    const noticed = await waitFor('preempted status', async () => {
      const [rep] = await provider.batchStatus(watch);
      return rep!.nodes[0]!.state === 'gone' ? rep : undefined;
    });
    expect(noticed.nodes[0]).toEqual({ rank: 0, state: 'gone', reason: 'preempted', detail: expect.stringMatching(/spot interruption notice.*GCE instance\/preempted is TRUE/) });
    expect(standin.instance(ZONE, name)?.status).toBe('RUNNING'); // reported before the instance dies

    standin.preempt(ZONE, name);
    expect(standin.instance(ZONE, name)).toBeUndefined();
    await new Promise((res) => setTimeout(res, 2_100)); // past the reuse window of the last list
    const [after] = await provider.batchStatus(watch);
    expect(after!.nodes[0]).toEqual({ rank: 0, state: 'gone', reason: 'preempted', detail: expect.stringMatching(new RegExp(`GCE preempted the Spot VM ${name} in ${ZONE}.*deleted`)) });
    expect(standin.metadataRefused).toBe(0);
    await provider.terminate(handle);
  });

  it('with spot_termination_action STOP a preempted instance is TERMINATED and reported preempted, not stopped', async () => {
    writeConfig('  spot_termination_action: STOP\n');
    const r = req(1, { useSpot: true });
    const handle = await provider.provision(r);
    const name = `petrel-${r.clusterName}-0`;
    expect(standin.instance(ZONE, name)?.scheduling.instanceTerminationAction).toBe('STOP');
    standin.preempt(ZONE, name);
    await new Promise((res) => setTimeout(res, 2_100));
    expect(standin.instance(ZONE, name)?.status).toBe('TERMINATED');
    expect(await provider.query(handle)).toEqual([{ rank: 0, state: 'gone', reason: 'preempted', detail: expect.stringContaining(`GCE preempted the Spot VM ${name}`) }]);
    await provider.terminate(handle);
    expect(ofCluster(r.clusterName)).toEqual([]);
  });

  it('one instances.list per zone per round serves many clusters, and concurrent callers share it', async () => {
    const handles = await Promise.all([req(1), req(1), req(1)].map((r) => provider.provision(r)));
    await new Promise((res) => setTimeout(res, 2_100));
    const before = standin.log.length;
    const watch = handles.map((h) => ({ handle: h, key: 'none', ranks: [0] }));
    const [a, b] = await Promise.all([provider.batchStatus(watch), provider.batchStatus(watch)]);
    for (const rep of [...a, ...b]) expect(rep.nodes).toEqual([{ rank: 0, state: 'up' }]);
    const lists = standin.log.slice(before).filter((x) => x.method === 'GET' && /\/zones\/[^/]+\/instances$/.test(x.path));
    expect(lists).toHaveLength(1);
    expect(decodeURIComponent(lists[0]!.query)).toContain('labels.petrel-cluster:*');
    // A round within the reuse window asks GCE nothing new.
    await provider.batchStatus(watch);
    expect(standin.log.slice(before).filter((x) => x.method === 'GET' && /\/instances$/.test(x.path))).toHaveLength(1);
    await Promise.all(handles.map((h) => provider.terminate(h)));
  });

  it('an instance deleted by someone else (not preempted) is gone, terminated', async () => {
    const r = req(1, { useSpot: true });
    const handle = await provider.provision(r);
    await fetch(`${standin.endpoint}/compute/v1/projects/${PROJECT}/zones/${ZONE}/instances/petrel-${r.clusterName}-0`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
    await waitFor('deleted', () => (ofCluster(r.clusterName).length === 0 ? true : undefined));
    await new Promise((res) => setTimeout(res, 2_100));
    expect(await provider.query(handle)).toEqual([{ rank: 0, state: 'gone', reason: 'terminated', detail: expect.stringContaining('no longer exists') }]);
    await provider.terminate(handle);
  });
});

describe('gcp provider: config.yaml', () => {
  it('reports bad fields with file, line and column, and refuses SkyPilot keys it does not implement', () => {
    const text = ['gcp:', '  project_id: Bad_Project', '  labels: {Team: ml}', '  spot_termination_action: HIBERNATE', '  vpc_name: my-vpc', '  api_endpoint: ftp://x', '  projectid: p', ''].join('\n');
    const { problems } = parseGcpSection(text, '/h/config.yaml');
    const lines = problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.field}: ${p.message}`);
    expect(lines).toEqual([
      expect.stringMatching(/^\/h\/config\.yaml:2:15: gcp\.project_id: expected a GCP project id/),
      expect.stringMatching(/^\/h\/config\.yaml:3:12: gcp\.labels\.Team: GCP label keys/),
      expect.stringMatching(/^\/h\/config\.yaml:4:28: gcp\.spot_termination_action: expected DELETE or STOP/),
      expect.stringMatching(/^\/h\/config\.yaml:5:3: gcp\.vpc_name: SkyPilot's 'vpc_name' is not supported by Petrel/),
      expect.stringMatching(/^\/h\/config\.yaml:6:17: gcp\.api_endpoint: expected the Compute API's address/),
      expect.stringMatching(/^\/h\/config\.yaml:7:3: gcp\.projectid: unknown field 'projectid'.*did you mean 'project_id'/),
    ]);
  });

  it('a provision with a bad config.yaml fails as config for the whole cloud, naming the file', async () => {
    writeConfig('  use_internal_ips: sometimes\n');
    const err = await provisionError(req(1));
    expect(err.kind).toBe('config');
    expect(err.message).toMatch(new RegExp(`${path.join(home, 'config.yaml')}:\\d+:\\d+: gcp\\.use_internal_ips: expected true or false`));
  });
});

describe('gcp provider: every request carried the configured token', () => {
  it('no request reached the stand-in without it, except those made with another token on purpose', () => {
    const foreign = standin.unauthorized.filter((x) => x.authorization !== 'Bearer ya29.expired' && x.authorization !== 'Bearer ya29.someone-else');
    expect(foreign).toEqual([]);
    expect(standin.log.length).toBeGreaterThan(50);
    expect(standin.log.every((x) => x.authorization === `Bearer ${TOKEN}` || x.authorization === 'Bearer ya29.expired' || x.authorization === 'Bearer ya29.someone-else')).toBe(true);
  });
});
