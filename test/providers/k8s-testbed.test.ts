// The Kubernetes test harness (test/support/k8s.ts) against the real binaries, through
// @kubernetes/client-node as the provider will use it: two clusters, GPU nodes, scheduling,
// exec (exit codes, HOME), auth failures, RBAC, the kubelet's kill of a pod's processes, cordon,
// node deletion, and stop() failing on processes left behind.
import { Writable } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isZombie, procIds, readProc } from '../support/leftovers.js';
import { startKubeTestbed, type KubeTestbed, type KubeTestCluster } from '../support/k8s.js';

const A100 = 'NVIDIA-A100-SXM4-80GB';
const H100 = 'NVIDIA-H100-80GB-HBM3';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let testbed: KubeTestbed;
let startupMs = 0;

function client(context: string): { kc: k8s.KubeConfig; core: k8s.CoreV1Api } {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(testbed.kubeconfig);
  kc.setCurrentContext(context);
  return { kc, core: kc.makeApiClient(k8s.CoreV1Api) };
}

function cluster(context: string): KubeTestCluster {
  const c = testbed.clusters.get(context);
  if (!c) throw new Error(`no cluster ${context}`);
  return c;
}

function pod(name: string, opts: { gpus?: number; labels?: Record<string, string>; nodeSelector?: Record<string, string> } = {}): k8s.V1Pod {
  return {
    metadata: { name, labels: { app: 'petrel-test', ...opts.labels } },
    spec: {
      nodeSelector: opts.nodeSelector,
      containers: [
        {
          name: 'main',
          image: 'busybox',
          command: ['sleep', 'infinity'],
          resources: opts.gpus ? { limits: { 'nvidia.com/gpu': String(opts.gpus) } } : undefined,
        },
      ],
    },
  };
}

async function waitPod(core: k8s.CoreV1Api, name: string, ok: (p: k8s.V1Pod) => boolean, timeoutMs = 10_000): Promise<k8s.V1Pod> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = await core.readNamespacedPod({ name, namespace: 'default' });
    if (ok(p)) return p;
    if (Date.now() > deadline) throw new Error(`pod ${name} not as expected: ${JSON.stringify(p.status)}`);
    await sleep(50);
  }
}

interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
  status?: k8s.V1Status;
}

/** kwok reports a non-zero exit only as an InternalError "... exit status N"; a real kubelet as an ExitCode cause */
function exec(kc: k8s.KubeConfig, podName: string, cmd: string[]): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    let status: k8s.V1Status | undefined;
    const sink = (add: (s: string) => void) =>
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          add(chunk.toString());
          cb();
        },
      });
    new k8s.Exec(kc)
      .exec('default', podName, 'main', cmd, sink((s) => (stdout += s)), sink((s) => (stderr += s)), null, false, (s) => (status = s))
      .then((ws) =>
        ws.on('close', () => {
          const cause = status?.details?.causes?.find((c) => c.reason === 'ExitCode')?.message;
          const fromMessage = /exit status (\d+)/.exec(status?.message ?? '')?.[1];
          const code = status?.status === 'Success' ? 0 : Number(cause ?? fromMessage ?? -1);
          resolve({ stdout, stderr, code, status });
        }),
      )
      .catch(reject);
  });
}

function alive(pid: number): boolean {
  const p = readProc(pid);
  return p !== undefined && !isZombie(p);
}

async function apiStatus(call: Promise<unknown>): Promise<number> {
  try {
    await call;
    return 200;
  } catch (err) {
    if (err instanceof k8s.ApiException) return err.code;
    throw err;
  }
}

beforeAll(async () => {
  const t0 = Date.now();
  testbed = await startKubeTestbed([
    { context: 'alpha', nodes: [{ name: 'a100-0', gpus: 4, labels: { 'nvidia.com/gpu.product': A100 } }] },
    { context: 'beta', nodes: [{ name: 'h100-0', gpus: 8, labels: { 'nvidia.com/gpu.product': H100 } }] },
  ]);
  startupMs = Date.now() - t0;
  for (const c of testbed.clusters.values()) console.log(`[k8s-testbed] ${c.context} started:`, JSON.stringify(c.timings));
  console.log(`[k8s-testbed] two clusters Ready in ${startupMs} ms`);
});

afterAll(async () => {
  // The last test stops it already (a second stop() resolves); this is for a run that failed before it.
  await testbed?.stop();
});

describe('the Kubernetes testbed', () => {
  it('starts two clusters quickly, with one kubeconfig naming every context', () => {
    expect(startupMs).toBeLessThan(30_000);
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(testbed.kubeconfig);
    expect(kc.getContexts().map((c) => c.name).sort()).toEqual(
      ['alpha', 'alpha-badtoken', 'alpha-limited', 'beta', 'beta-badtoken', 'beta-limited'].sort(),
    );
    expect(kc.getContextObject('beta')?.namespace).toBe('default');
    expect(cluster('alpha').server).not.toBe(cluster('beta').server);
  });

  it('has Ready GPU nodes with their labels', async () => {
    for (const [context, gpus, product] of [
      ['alpha', '4', A100],
      ['beta', '8', H100],
    ] as const) {
      const nodes = await client(context).core.listNode();
      expect(nodes.items).toHaveLength(1);
      const node = nodes.items[0]!;
      expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(node.status?.allocatable?.['nvidia.com/gpu']).toBe(gpus);
      expect(node.metadata?.labels?.['nvidia.com/gpu.product']).toBe(product);
      expect(node.metadata?.labels?.type).toBe('kwok');
    }
  });

  it('schedules a GPU pod and runs it', async () => {
    const { core } = client('alpha');
    await core.createNamespacedPod({ namespace: 'default', body: pod('runs', { gpus: 2, labels: { 'petrel.dev/cluster': 'c0' } }) });
    const p = await waitPod(core, 'runs', (x) => x.status?.phase === 'Running');
    expect(p.spec?.nodeName).toBe('a100-0');
    expect(p.metadata?.labels?.['petrel.dev/cluster']).toBe('c0');
  });

  it('execs on this host with HOME = cluster.home and returns the exit code', async () => {
    const { kc } = client('alpha');
    const r = await exec(kc, 'runs', ['sh', '-c', 'echo hi; echo $HOME; pwd; echo err >&2; exit 3']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe(`hi\n${cluster('alpha').home}\n${cluster('alpha').home}\n`);
    expect(r.stderr).toBe('err\n');
    expect(r.status?.reason).toBe('InternalError');
    const ok = await exec(kc, 'runs', ['sh', '-c', 'echo $PETREL_KWOK_CLUSTER; echo ${PETREL_HOME:-unset}']);
    expect(ok).toMatchObject({ code: 0, stdout: `${cluster('alpha').id}\nunset\n` });
  });

  it('leaves a pod asking for more GPUs than any node has Pending as Unschedulable', async () => {
    const { core } = client('alpha');
    await core.createNamespacedPod({ namespace: 'default', body: pod('too-big', { gpus: 99 }) });
    const p = await waitPod(core, 'too-big', (x) => x.status?.conditions?.some((c) => c.type === 'PodScheduled') ?? false);
    expect(p.status?.phase).toBe('Pending');
    const cond = p.status?.conditions?.find((c) => c.type === 'PodScheduled');
    expect(cond).toMatchObject({ status: 'False', reason: 'Unschedulable' });
    expect(cond?.message).toContain('Insufficient nvidia.com/gpu');
    await core.deleteNamespacedPod({ name: 'too-big', namespace: 'default' });
  });

  it('refuses an unknown token with 401', async () => {
    for (const context of ['alpha-badtoken', 'beta-badtoken']) {
      expect(await apiStatus(client(context).core.listNamespacedPod({ namespace: 'default' }))).toBe(401);
    }
  });

  it('lets the limited user list pods in default, and nothing more', async () => {
    const { core } = client('alpha-limited');
    const pods = await core.listNamespacedPod({ namespace: 'default' });
    expect(pods.items.map((p) => p.metadata?.name)).toContain('runs');
    expect(await apiStatus(core.createNamespacedPod({ namespace: 'default', body: pod('nope') }))).toBe(403);
    expect(await apiStatus(core.listNode())).toBe(403);
    expect(await apiStatus(core.listNamespacedPod({ namespace: 'kube-system' }))).toBe(403);
    expect(await apiStatus(client('beta-limited').core.listNamespacedPod({ namespace: 'default' }))).toBe(200);
  });

  it("kills the process groups a pod's jobs recorded, as a kubelet killing the pod would", async () => {
    const { kc, core } = client('beta');
    await core.createNamespacedPod({
      namespace: 'default',
      body: pod('worker-1', { labels: { 'petrel.dev/cluster': 'c1', 'petrel.dev/rank': '1' } }),
    });
    await waitPod(core, 'worker-1', (x) => x.status?.phase === 'Running');
    // What a provider's detached job does: its own session, its pgid recorded under the node dir.
    const start = async (rank: number, key: string) => {
      const r = await exec(kc, 'worker-1', [
        'sh',
        '-c',
        `d=$HOME/.petrel/clusters/c1/node-${rank}/.petrel/jobs/${key}; mkdir -p $d; ` +
          `setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $! > $d/pid; cat $d/pid`,
      ]);
      return Number(r.stdout);
    };
    const pids = [await start(1, 'j1'), await start(1, 'j2')];
    // A pid file of another rank's node is not this pod's.
    const other = await start(0, 'x');
    for (const pid of [...pids, other]) {
      // setsid(2) happens right after the fork: wait until it leads its own group.
      for (let i = 0; readProc(pid)?.pgid !== pid && i < 100; i++) await sleep(10);
      expect(readProc(pid)?.pgid).toBe(pid);
    }

    expect(await cluster('beta').killPodProcesses('default', 'worker-1')).toBe(2);
    expect(pids.map(alive)).toEqual([false, false]);
    expect(alive(other)).toBe(true);
    // Already dead: nothing to kill. A deleted pod's labels can be given instead.
    expect(await cluster('beta').killPodProcesses('default', 'worker-1')).toBe(0);
    await core.deleteNamespacedPod({ name: 'worker-1', namespace: 'default' });
    expect(await cluster('beta').killPodProcesses('default', 'gone', { cluster: 'c1', rank: 0 })).toBe(1);
    expect(alive(other)).toBe(false);
  });

  it('keeps new pods off a cordoned node, and leaves the pods of a deleted node bound', async () => {
    const beta = cluster('beta');
    const { core } = client('beta');
    await beta.addNode({ name: 'spare', gpus: 2 });
    await core.createNamespacedPod({ namespace: 'default', body: pod('on-spare', { nodeSelector: { 'kubernetes.io/hostname': 'spare' } }) });
    await waitPod(core, 'on-spare', (x) => x.status?.phase === 'Running');

    await beta.cordon('spare');
    await core.createNamespacedPod({ namespace: 'default', body: pod('after-cordon', { nodeSelector: { 'kubernetes.io/hostname': 'spare' } }) });
    const pending = await waitPod(core, 'after-cordon', (x) => x.status?.conditions?.some((c) => c.type === 'PodScheduled') ?? false);
    expect(pending.status?.conditions?.find((c) => c.type === 'PodScheduled')?.message).toContain('unschedulable');
    expect((await core.readNamespacedPod({ name: 'on-spare', namespace: 'default' })).status?.phase).toBe('Running');
    const node = await core.readNode({ name: 'spare' });
    expect(node.spec?.unschedulable).toBe(true);
    expect(node.spec?.taints ?? []).toEqual([]); // the controller-manager would add node.kubernetes.io/unschedulable

    await beta.deleteNode('spare');
    await sleep(300); // time for anything that would react (nothing does: no pod GC without a controller-manager)
    const orphan = await core.readNamespacedPod({ name: 'on-spare', namespace: 'default' });
    expect(orphan.spec?.nodeName).toBe('spare');
    expect(orphan.status?.phase).toBe('Running');
    expect(orphan.metadata?.deletionTimestamp).toBeUndefined();
    // A plain delete only marks it (no kubelet finishes it, no pod GC force-deletes it) ...
    await core.deleteNamespacedPod({ name: 'on-spare', namespace: 'default' });
    await sleep(300);
    const marked = await core.readNamespacedPod({ name: 'on-spare', namespace: 'default' });
    expect(marked.metadata?.deletionTimestamp).toBeDefined();
    expect(marked.metadata?.deletionGracePeriodSeconds).toBe(30);
    expect(marked.status?.phase).toBe('Running');
    // ... gracePeriodSeconds 0 removes it.
    await core.deleteNamespacedPod({ name: 'on-spare', namespace: 'default', gracePeriodSeconds: 0 });
    expect(await apiStatus(core.readNamespacedPod({ name: 'on-spare', namespace: 'default' }))).toBe(404);
  });

  it('fails stop() on a process an exec left running, after killing it', async () => {
    const { kc } = client('alpha');
    // The pid of the sleep itself: `$!` may name a setsid that forked and exited.
    const r = await exec(kc, 'runs', ['sh', '-c', 'setsid sh -c \'echo $$; exec sleep 300 </dev/null >/dev/null 2>&1\' &']);
    const pid = Number(r.stdout);
    expect(alive(pid)).toBe(true);
    await expect(testbed.stop()).rejects.toThrow(new RegExp(`pid ${pid} \\(cluster alpha\\): sleep 300`));
    expect(alive(pid)).toBe(false);
    // Every component is gone too (their command lines name the testbed dir), and a second stop() just resolves.
    const components = procIds().flatMap((p) => {
      const info = readProc(p);
      return info && !isZombie(info) && info.cmdline.includes(testbed.dir) ? [info.cmdline] : [];
    });
    expect(components).toEqual([]);
    await expect(testbed.stop()).resolves.toEqual([]);
  });
});
