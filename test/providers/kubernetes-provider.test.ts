// KubernetesProvider against real API servers (test/support/k8s.ts: two clusters, contexts
// alpha with one node of 4 A100-80GB and beta with one node of 8 H100, kwok as the kubelet):
// pods as nodes, exec as the only way in, the detached-job contract, uploads, batched status,
// losing a pod or its node, teardown, and the API server's refusals as Petrel's failure kinds.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterHandle } from '../../core/cluster-state.js';
import { KubeConfig } from '@kubernetes/client-node';
import { KubernetesProvider } from '../../providers/kubernetes/index.js';
import { MANAGED_SELECTOR } from '../../providers/kubernetes/pods.js';
import { podCache } from '../../providers/kubernetes/watch-cache.js';
import type { KubernetesRunner } from '../../providers/kubernetes/runner.js';
import { ProviderError, type ProvisionRequest } from '../../providers/types.js';
import { startKubeTestbed, type KubeTestbed, type KubeTestCluster } from '../support/k8s.js';
import { processesWith, waitFor } from '../support/petrel.js';
import { failure } from '../support/provider-errors.js';

let bed: KubeTestbed;
let alpha: KubeTestCluster;
let home: string;
let provider: KubernetesProvider;

const CONFIG = `kubernetes:
  allowed_contexts: [alpha, beta, alpha-badtoken, alpha-limited]
  provision_timeout: 2
  labels: {team: ml}
`;

beforeAll(async () => {
  bed = await startKubeTestbed([
    { context: 'alpha', nodes: [{ name: 'a-gpu-0', gpus: 4, labels: { 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB' } }] },
    // pod watches served by etcd itself, so that a compacted resourceVersion gets 410 Gone
    { context: 'beta', nodes: [{ name: 'b-gpu-0', gpus: 8, labels: { 'cloud.google.com/gke-accelerator': 'nvidia-h100-80gb' } }], apiserverArgs: ['--watch-cache-sizes=pods#0'] },
  ]);
  alpha = bed.clusters.get('alpha')!;
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-k8sprov-'));
  process.env.KUBECONFIG = bed.kubeconfig;
  fs.writeFileSync(path.join(home, 'config.yaml'), CONFIG);
  provider = new KubernetesProvider({ home });
});

afterAll(async () => {
  await bed?.stop();
  if (home) fs.rmSync(home, { recursive: true, force: true });
});

const req = (clusterName: string, numNodes: number, extra: Partial<ProvisionRequest> = {}): ProvisionRequest => ({
  clusterName,
  numNodes,
  region: 'alpha',
  useSpot: false,
  idempotencyKey: `${clusterName}-1`,
  user: 'alice',
  ...extra,
});

async function pods(cluster: KubeTestCluster, selector = 'app.kubernetes.io/managed-by=petrel'): Promise<any[]> {
  return (await cluster.api('GET', `/api/v1/namespaces/default/pods?labelSelector=${encodeURIComponent(selector)}`)).items;
}
async function services(cluster: KubeTestCluster): Promise<any[]> {
  return (await cluster.api('GET', `/api/v1/namespaces/default/services?labelSelector=${encodeURIComponent('app.kubernetes.io/managed-by=petrel')}`)).items;
}

/** The API server's own count of pod LISTs and execs so far (its /metrics). */
async function requests(cluster: KubeTestCluster): Promise<{ list: number; exec: number }> {
  const text = await cluster.apiText('/metrics');
  const sum = (re: RegExp) => text.split('\n').filter((l) => l.startsWith('apiserver_request_total{') && re.test(l)).reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
  return { list: sum(/verb="LIST".*resource="pods"/), exec: sum(/subresource="exec"/) };
}

async function finished(r: KubernetesRunner, key: string, timeoutMs = 20_000) {
  return waitFor(`job ${key}`, async () => {
    const s = await r.status(key);
    return s.state === 'exited' || s.state === 'lost' ? s : undefined;
  }, timeoutMs, 100);
}

describe('a two-node cluster with GPUs', () => {
  let handle: ClusterHandle;

  it('provisions one pod per node with requests, affinity, labels and a headless service', async () => {
    handle = await provider.provision(req('two', 2, { accelerators: { A100: 2 }, cpus: { value: 2, orMore: false }, memoryGb: { value: 4, orMore: true }, labels: { project: 'llm' } }));
    expect(handle).toMatchObject({ provider: 'kubernetes', clusterName: 'two', region: 'alpha' });
    expect(handle.nodes.map((n) => n.data.pod)).toEqual(['petrel-two-0', 'petrel-two-1']);
    expect(handle.nodes.every((n) => /^10\.244\./.test(n.ip))).toBe(true);
    const [p0] = (await pods(alpha, 'petrel.dev/cluster=two')).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    expect(p0.metadata.labels).toMatchObject({ 'petrel.dev/cluster': 'two', 'petrel.dev/rank': '0', 'petrel.dev/user': 'alice', team: 'ml', project: 'llm' });
    expect(p0.spec.containers[0].resources).toEqual({ requests: { cpu: '2', memory: '4Gi', 'nvidia.com/gpu': '2' }, limits: { cpu: '2', 'nvidia.com/gpu': '2' } });
    expect(p0.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms).toEqual([
      { matchExpressions: [{ key: 'nvidia.com/gpu.product', operator: 'In', values: ['NVIDIA-A100-SXM4-80GB'] }] },
    ]);
    expect(p0.spec.hostname).toBe('petrel-two-0');
    expect(p0.spec.subdomain).toBe('petrel-two');
    const [svc] = await services(alpha);
    expect(svc.metadata.name).toBe('petrel-two');
    expect(svc.spec.clusterIP).toBe('None');
  });

  it('a retried provision with the same key reuses the pods', async () => {
    const again = await provider.provision(req('two', 2, { accelerators: { A100: 2 } }));
    expect(again.nodes.map((n) => n.id)).toEqual(handle.nodes.map((n) => n.id));
  });

  it('runs commands with their environment and exit code', async () => {
    const r = provider.runner(handle, handle.nodes[1]!);
    const out = await r.run('echo "rank=$RANK secret=$TOKEN"; pwd; exit 7', { env: { RANK: '1', TOKEN: 's3cr3t' } });
    expect(out.exitCode).toBe(7);
    expect(out.stdout).toContain('rank=1 secret=s3cr3t');
    expect(out.stdout.trim().split('\n')[1]).toBe(path.join(alpha.home, '.petrel/clusters/two/node-1'));
  });

  it('environment values (secrets) never appear on a command line in the pod', async () => {
    const r = provider.runner(handle, handle.nodes[0]!);
    const secret = 'zz-secret-4711-zz';
    const seen: number[][] = [];
    const watching = (async () => {
      for (let i = 0; i < 30; i++) {
        seen.push(processesWith(secret));
        await new Promise((res) => setTimeout(res, 30));
      }
    })();
    const out = await r.run('sleep 0.6; echo "len=${#TOKEN}"', { env: { TOKEN: secret } });
    await r.startDetached({ key: 'sec', script: 'sleep 0.6; echo "len=${#TOKEN}"', env: { TOKEN: secret } });
    await watching;
    expect(out.stdout.trim()).toBe(`len=${secret.length}`);
    expect(await finished(r, 'sec')).toEqual({ state: 'exited', exitCode: 0 });
    expect((await r.readLog('sec', 0)).data).toBe(`len=${secret.length}\n`);
    expect(seen.flat()).toEqual([]);
  });

  it('uploads a directory (modes, nested files, symlinks; .git skipped)', async () => {
    const src = fs.mkdtempSync(path.join(os.tmpdir(), 'k8s-up-'));
    fs.mkdirSync(path.join(src, 'sub/deep'), { recursive: true });
    fs.mkdirSync(path.join(src, '.git'));
    fs.writeFileSync(path.join(src, '.git/HEAD'), 'x');
    fs.writeFileSync(path.join(src, 'train.py'), 'print("hi")\n');
    fs.writeFileSync(path.join(src, 'sub/deep/data.bin'), Buffer.alloc(70_000, 7));
    fs.writeFileSync(path.join(src, 'run.sh'), '#!/bin/sh\necho run\n', { mode: 0o755 });
    fs.symlinkSync('train.py', path.join(src, 'link.py'));
    const r = provider.runner(handle, handle.nodes[0]!);
    await r.upload(src, 'workdir');
    const dest = path.join(alpha.home, '.petrel/clusters/two/node-0/workdir');
    expect(fs.readFileSync(path.join(dest, 'train.py'), 'utf8')).toBe('print("hi")\n');
    expect(fs.readFileSync(path.join(dest, 'sub/deep/data.bin')).equals(Buffer.alloc(70_000, 7))).toBe(true);
    expect(fs.statSync(path.join(dest, 'run.sh')).mode & 0o777).toBe(0o755);
    expect(fs.readlinkSync(path.join(dest, 'link.py'))).toBe('train.py');
    expect(fs.existsSync(path.join(dest, '.git'))).toBe(false);
    // Files outside the node home: ~/ paths land in the container's home.
    await r.upload(src, '~/mounted');
    expect(fs.existsSync(path.join(alpha.home, 'mounted/train.py'))).toBe(true);
  });

  it('starts detached jobs once, reads their logs and exit codes, and cancels them', async () => {
    const r = provider.runner(handle, handle.nodes[0]!);
    const script = 'echo "hello $WHO from $(pwd)"; echo oops >&2; exit 3';
    expect(await r.startDetached({ key: 'j1', script, env: { WHO: 'petrel' }, cwd: 'workdir' })).toEqual({ alreadyStarted: false });
    expect(await r.startDetached({ key: 'j1', script, env: { WHO: 'petrel' }, cwd: 'workdir' })).toEqual({ alreadyStarted: true });
    expect(await finished(r, 'j1')).toEqual({ state: 'exited', exitCode: 3 });
    const log = await r.readLog('j1', 0);
    expect(log.data).toBe(`hello petrel from ${path.join(alpha.home, '.petrel/clusters/two/node-0/workdir')}\noops\n`);
    expect((await r.readLog('j1', 6)).data).toBe(log.data.slice(6));
    expect(fs.existsSync(path.join(alpha.home, '.petrel/clusters/two/node-0/.petrel/jobs/j1/env.sh'))).toBe(false);

    await r.startDetached({ key: 'long', script: 'echo started; sleep 300', env: {} });
    await waitFor('started', async () => ((await r.readLog('long', 0)).data.includes('started') ? true : undefined), 10_000, 100);
    expect(await r.status('long')).toEqual({ state: 'running' });
    await r.signal('long', 'SIGTERM');
    expect(await finished(r, 'long')).toEqual({ state: 'exited', exitCode: 143 });
  });

  it('batched status: one answer for every watched job of the context', async () => {
    const r1 = provider.runner(handle, handle.nodes[1]!);
    await r1.startDetached({ key: 'b1', script: 'sleep 300', env: {} });
    const reports = await provider.batchStatus([
      { handle, key: 'j1', ranks: [0] },
      { handle, key: 'b1', ranks: [1] },
      { handle, key: 'never', ranks: [0, 1] },
    ]);
    expect(reports[0]).toEqual({ nodes: [{ rank: 0, state: 'up' }], jobs: [{ state: 'exited', exitCode: 3 }] });
    expect(reports[1]).toEqual({ nodes: [{ rank: 1, state: 'up' }], jobs: [{ state: 'running' }] });
    expect(reports[2]!.jobs).toEqual([{ state: 'unknown' }, { state: 'unknown' }]);
  });

  it('batched status lists pods once, then follows one watch', async () => {
    const before = await requests(alpha);
    for (let i = 0; i < 5; i++) await provider.batchStatus([{ handle, key: 'b1', ranks: [1] }]);
    const after = await requests(alpha);
    // every round execs (the job is young), but pods are listed at most once (by the cache)
    expect(after.list - before.list).toBeLessThanOrEqual(1);
    expect(after.exec - before.exec).toBe(5);
  });

  it('a pod deleted under a running job is reported preempted', async () => {
    await alpha.killPodProcesses('default', 'petrel-two-1');
    await alpha.api('DELETE', '/api/v1/namespaces/default/pods/petrel-two-1');
    // A real pod's files go with it; kwok's "containers" share one home on this host.
    fs.rmSync(path.join(alpha.home, '.petrel/clusters/two/node-1'), { recursive: true, force: true });
    // the deletion reaches the watch a moment later
    const report = await waitFor('the loss seen', async () => {
      const [r] = await provider.batchStatus([{ handle, key: 'b1', ranks: [1] }]);
      return r!.nodes[0]!.state === 'gone' ? r : undefined;
    }, 10_000, 50);
    // the same whether seen mid-deletion (deletionTimestamp set) or gone
    expect(report.nodes[0]).toMatchObject({ rank: 1, state: 'gone', reason: 'preempted', detail: 'the pod was deleted' });
    expect(await provider.query(handle)).toMatchObject([{ rank: 0, state: 'up' }, { rank: 1, state: 'gone' }]);
  });

  it('terminate stops the jobs, deletes pods and service, and leaves nothing', async () => {
    const r = provider.runner(handle, handle.nodes[0]!);
    await r.startDetached({ key: 'left', script: 'sleep 300', env: {} });
    await provider.terminate(handle);
    expect(await pods(alpha, 'petrel.dev/cluster=two')).toEqual([]);
    expect(await services(alpha)).toEqual([]);
    expect(fs.existsSync(path.join(alpha.home, '.petrel/clusters/two'))).toBe(false);
    await provider.terminate(handle); // idempotent
    await provider.terminate({ provider: 'kubernetes', clusterName: 'two', region: 'alpha', nodes: [] });
  });
});

it('a watch resumed from a compacted resourceVersion (410 Gone) lists again, and status stays right', async () => {
  const beta = bed.clusters.get('beta')!;
  const h = await provider.provision(req('gone', 1, { region: 'beta' }));
  await provider.runner(h, h.nodes[0]!).startDetached({ key: 'w', script: 'sleep 300', env: {} });
  expect((await provider.batchStatus([{ handle: h, key: 'w', ranks: [0] }]))[0]!.nodes).toEqual([{ rank: 0, state: 'up' }]);
  const cache = podCache(`beta\n${beta.server}`, new KubeConfig(), 'default', MANAGED_SELECTOR, async () => ({ items: [] }));
  const lists = cache.calls.list;
  await beta.compactEtcd();
  cache.resumeFrom('1');
  await waitFor('a relist after 410 Gone', () => (cache.calls.gone410 > 0 && cache.calls.list > lists ? true : undefined), 10_000, 50);
  // a change made after the relist is seen through the new watch
  await beta.killPodProcesses('default', 'petrel-gone-0');
  await beta.api('DELETE', '/api/v1/namespaces/default/pods/petrel-gone-0');
  fs.rmSync(path.join(beta.home, '.petrel/clusters/gone'), { recursive: true, force: true });
  await waitFor('the loss seen', async () => ((await provider.batchStatus([{ handle: h, key: 'w', ranks: [0] }]))[0]!.nodes[0]!.state === 'gone' ? true : undefined), 10_000, 50);
  await provider.terminate(h);
});

describe('capacity, loss and refusals', () => {
  it('more GPUs than any node has: capacity for the context at once, nothing created', async () => {
    const err = await failure(provider.provision(req('big', 1, { accelerators: { A100: 8 } })));
    expect(err).toMatchObject({ kind: 'capacity', scope: 'region' });
    expect(err.message).toContain('k8s/alpha: no schedulable node can hold A100:8 (the largest has 4)');
    expect(await pods(alpha, 'petrel.dev/cluster=big')).toEqual([]);
  });

  it('an accelerator no node has: capacity, naming what the context has', async () => {
    const err = await failure(provider.provision(req('h', 1, { accelerators: { H100: 1 } })));
    expect(err.message).toContain('no node has H100 (accelerators here: NVIDIA-A100-SXM4-80GB)');
  });

  it('the same accelerator on the other context lands there (GKE labels)', async () => {
    const h = await provider.provision(req('hbeta', 1, { region: 'beta', accelerators: { H100: 8 } }));
    expect(h.region).toBe('beta');
    const [p] = await pods(bed.clusters.get('beta')!, 'petrel.dev/cluster=hbeta');
    expect(p.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0]).toEqual({ key: 'cloud.google.com/gke-accelerator', operator: 'In', values: ['nvidia-h100-80gb'] });
    await provider.terminate(h);
  });

  it('a pod the scheduler cannot place for provision_timeout: capacity with the scheduler message, pods removed', async () => {
    const started = Date.now();
    const err = await failure(provider.provision(req('fat', 1, { cpus: { value: 64, orMore: false } })));
    expect(err).toMatchObject({ kind: 'capacity', scope: 'region' });
    expect(err.message).toMatch(/pod petrel-fat-0 cannot be scheduled: 0\/1 nodes are available: 1 Insufficient cpu/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
    expect(await pods(alpha, 'petrel.dev/cluster=fat')).toEqual([]);
  });

  it('refused credentials: a config error with the API server message', async () => {
    const err = await failure(provider.provision(req('x', 1, { region: 'alpha-badtoken' })));
    expect(err.kind).toBe('config');
    expect(err.message).toContain('k8s/alpha-badtoken: the API server refused the credentials (401 Unauthorized)');
  });

  it('RBAC denial: a config error naming what was forbidden', async () => {
    const err = await failure(provider.provision(req('x', 1, { region: 'alpha-limited' })));
    expect(err.kind).toBe('config');
    expect(err.message).toMatch(/k8s\/alpha-limited: not allowed while creating pod petrel-x-0 \(403 Forbidden\): .*cannot create resource "pods"/);
  });

  it("the README's minimal Role is all Petrel needs: a 2-node cluster, its jobs, status and teardown", async () => {
    const readme = fs.readFileSync(path.join(import.meta.dirname, '../../README.md'), 'utf8');
    const role = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).find((y) => y.includes('kind: Role'))!;
    await alpha.api('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles', role.replace('namespace: ml', 'namespace: default'));
    await alpha.api('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings', {
      metadata: { name: 'petrel' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'petrel' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'limited' }],
    });
    try {
      const h = await provider.provision(req('roled', 2, { region: 'alpha-limited' }));
      const r = provider.runner(h, h.nodes[1]!);
      expect((await r.run('echo ok')).stdout).toBe('ok\n');
      await r.startDetached({ key: 'j', script: 'exit 4', env: {} });
      expect(await finished(r, 'j')).toEqual({ state: 'exited', exitCode: 4 });
      expect((await provider.batchStatus([{ handle: h, key: 'j', ranks: [1] }]))[0]).toEqual({ nodes: [{ rank: 1, state: 'up' }], jobs: [{ state: 'exited', exitCode: 4 }] });
      await provider.terminate(h);
      expect(await pods(alpha, 'petrel.dev/cluster=roled')).toEqual([]);
      expect(await services(alpha)).toEqual([]);
    } finally {
      await alpha.api('DELETE', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings/petrel');
      await alpha.api('DELETE', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles/petrel');
    }
  });

  it('a ResourceQuota exceeded: quota for the context', async () => {
    await alpha.api('POST', '/api/v1/namespaces/default/resourcequotas', { metadata: { name: 'gpus' }, spec: { hard: { 'requests.nvidia.com/gpu': '1' } } });
    try {
      // The quota controller is not running: give the API server the usage it would record.
      await waitFor('quota status', async () => {
        await alpha.api('PUT', '/api/v1/namespaces/default/resourcequotas/gpus/status', { ...(await alpha.api('GET', '/api/v1/namespaces/default/resourcequotas/gpus')), status: { hard: { 'requests.nvidia.com/gpu': '1' }, used: { 'requests.nvidia.com/gpu': '0' } } });
        return true;
      }, 5_000, 100);
      const err = await failure(provider.provision(req('q', 1, { accelerators: { A100: 2 } })));
      expect(err).toMatchObject({ kind: 'quota', scope: 'region' });
      expect(err.message).toContain('exceeded quota');
    } finally {
      await alpha.api('DELETE', '/api/v1/namespaces/default/resourcequotas/gpus');
    }
  });

  it('a node deleted under a running pod: the node is lost (preempted)', async () => {
    await alpha.addNode({ name: 'a-cpu-1', labels: { pool: 'doomed' } });
    await alpha.cordon('a-gpu-0');
    try {
      const h = await provider.provision(req('onnode', 1));
      expect(h.nodes[0]!.data.node).toBe('a-cpu-1');
      const r = provider.runner(h, h.nodes[0]!);
      await r.startDetached({ key: 'r', script: 'sleep 300', env: {} });
      await waitFor('pid', async () => (fs.existsSync(path.join(alpha.home, '.petrel/clusters/onnode/node-0/.petrel/jobs/r/pid')) ? true : undefined), 5_000, 50);
      await alpha.killPodProcesses('default', 'petrel-onnode-0');
      await alpha.deleteNode('a-cpu-1');
      const report = await waitFor('the loss seen', async () => {
        const [r] = await provider.batchStatus([{ handle: h, key: 'r', ranks: [0] }]);
        return r!.nodes[0]!.state === 'gone' ? r : undefined;
      }, 10_000, 50);
      expect(report.nodes[0]).toMatchObject({ state: 'gone', reason: 'preempted', detail: 'node a-cpu-1 of pod petrel-onnode-0 is gone' });
      await provider.terminate(h);
      expect(await pods(alpha, 'petrel.dev/cluster=onnode')).toEqual([]);
    } finally {
      await alpha.uncordon('a-gpu-0');
    }
  });

  it('check: per context, what the API server allows and the GPUs there', async () => {
    const r = await provider.check();
    expect(r.enabled).toBe(true);
    expect(r.detail).toMatch(/context alpha \(https:\/\/127\.0\.0\.1:\d+, namespace default\): answers; may create, exec into and delete pods and services; NVIDIA-A100-SXM4-80GB: 4 of 4 free on 1 node\(s\)/);
    expect(r.detail).toContain('context beta');
    expect(r.detail).toContain('nvidia-h100-80gb: 8 of 8 free');
    expect(r.detail).toMatch(/context alpha-badtoken: the API server refused the credentials \(401\)/);
    expect(r.detail).toMatch(/context alpha-limited \([^)]*\): answers, but Petrel may not: create pods, delete pods, create pods\/exec, create services, delete services/);
  });
});
