// Clusters and managed jobs on real Kubernetes API servers (test/support/k8s.ts: context alpha,
// one node with 4 A100-80GB; context beta, one node with 8 A100 as GKE labels them; kwok as the
// kubelet), driven through the real CLI, Temporal dev server and worker. kwok runs what Petrel
// execs as local processes with HOME = the cluster's home (shared by its pods, as an NFS home
// would be), so the tests can look at the files and processes a "container" made.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeJob, gatedJob, running, submitJob, waitForJob } from '../support/jobs.js';
import { startKubeTestbed, type KubeTestbed, type KubeTestCluster } from '../support/k8s.js';
import { alive, PetrelEnv, processesWith, waitFor } from '../support/petrel.js';

let bed: KubeTestbed;
let alpha: KubeTestCluster;
let beta: KubeTestCluster;
let p: PetrelEnv;
let gates: string;

const CONFIG = `jobs:
  unreachable_grace_seconds: 5
kubernetes:
  allowed_contexts: [alpha, beta, alpha-badtoken]
  provision_timeout: 2
`;

beforeAll(async () => {
  bed = await startKubeTestbed([
    { context: 'alpha', nodes: [{ name: 'a-gpu-0', gpus: 4, labels: { 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB' } }] },
    { context: 'beta', nodes: [{ name: 'b-gpu-0', gpus: 8, labels: { 'cloud.google.com/gke-accelerator': 'nvidia-tesla-a100' } }] },
  ]);
  alpha = bed.clusters.get('alpha')!;
  beta = bed.clusters.get('beta')!;
  // The worker (started by the CLI) inherits it: the kubeconfig with both contexts.
  process.env.KUBECONFIG = bed.kubeconfig;
  gates = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-k8s-gates-'));
  p = await PetrelEnv.create();
  fs.writeFileSync(path.join(p.home, 'config.yaml'), CONFIG);
  await p.ok(['server', 'start']);
});

afterAll(async () => {
  await p?.destroy();
  await bed?.stop();
  if (gates) fs.rmSync(gates, { recursive: true, force: true });
});

const selector = encodeURIComponent('app.kubernetes.io/managed-by=petrel');
const petrelPods = async (c: KubeTestCluster) => (await c.api('GET', `/api/v1/namespaces/default/pods?labelSelector=${selector}`)).items as any[];
const petrelServices = async (c: KubeTestCluster) => (await c.api('GET', `/api/v1/namespaces/default/services?labelSelector=${selector}`)).items as any[];

/** Teardown ended: no pod or service of Petrel's in either context, no node dir left. */
async function nothingLeft(): Promise<void> {
  for (const c of [alpha, beta]) {
    await waitFor(`no Petrel pod in ${c.context}`, async () => ((await petrelPods(c)).length === 0 ? true : undefined), 60_000, 200);
    // Teardown deletes the headless Service once the pods are gone: `launch --down` may return
    // between the two (the cluster tears down after the job's result).
    await waitFor(`no Petrel service in ${c.context}`, async () => ((await petrelServices(c)).length === 0 ? true : undefined), 30_000, 200);
    expect(await petrelServices(c)).toEqual([]);
    const clusters = path.join(c.home, '.petrel/clusters');
    await waitFor('no cluster dir left', () => (!fs.existsSync(clusters) || fs.readdirSync(clusters).length === 0 ? true : undefined), 30_000, 200);
  }
}

/** The Petrel cluster a node's data belongs to (its dir is .petrel/clusters/<cluster>/node-<rank>). */
const v1Cluster = (data: Record<string, string>) => path.basename(path.dirname(data.dir!));

const gateDir = () => fs.mkdtempSync(path.join(gates, 'gate-'));

async function startJob(args: string[], dir: string) {
  const id = await submitJob(p, [...args, gatedJob(dir)]);
  const v = await waitForJob(p, id, running, 'running');
  await waitFor('the job to start', () => (fs.existsSync(path.join(dir, 'starts')) ? true : undefined));
  return { id, v, first: v.attempts[0]!.handle!.nodes[0]!.data };
}

describe('clusters on Kubernetes', () => {
  it('check lists each context: what Petrel may do there and its GPUs', async () => {
    const r = await p.run(['check', 'k8s']);
    expect(r.stdout).toMatch(/kubernetes\s+yes/);
    expect(r.stdout).toContain('context alpha');
    expect(r.stdout).toContain('NVIDIA-A100-SXM4-80GB: 4 of 4 free on 1 node(s)');
    expect(r.stdout).toContain('nvidia-tesla-a100: 8 of 8 free');
    expect(r.stdout).toContain('context alpha-badtoken: the API server refused the credentials (401)');
  });

  it('show-gpus lists each context\'s accelerators, filtered by name and infra', async () => {
    const all = await p.ok(['show-gpus', '--infra', 'k8s']);
    expect(all.stdout).toMatch(/INFRA\s+ACCELERATOR\s+FREE\s+TOTAL\s+NODES\s+MOST PER NODE/);
    expect(all.stdout).toMatch(/kubernetes\/alpha\s+NVIDIA-A100-SXM4-80GB\s+4\s+4\s+1\s+4/);
    expect(all.stdout).toMatch(/kubernetes\/beta\s+nvidia-tesla-a100\s+8\s+8\s+1\s+8/);
    const big = await p.ok(['show-gpus', 'A100-80GB']);
    expect(big.stdout).toContain('kubernetes/alpha');
    expect(big.stdout).not.toContain('kubernetes/beta');
    const json = await p.json<Array<{ region: string; free: number }>>(['show-gpus', 'A100', '--infra', 'k8s/beta']);
    expect(json).toEqual([{ infra: 'kubernetes', region: 'beta', type: 'nvidia-tesla-a100', free: 8, total: 8, nodes: 1, perNode: 8 }]);
    const none = await p.run(['show-gpus', 'T4', '--infra', 'k8s']);
    expect(none.code).toBe(1);
    expect(none.stdout).toContain('no T4 on k8s; accelerators there: NVIDIA-A100-SXM4-80GB, nvidia-tesla-a100');
    expect(none.stderr).toContain('Could not ask k8s/alpha-badtoken: the API server refused the credentials (401 Unauthorized)');
  });

  it('a 2-node launch: one pod per rank, the workdir in every pod, ranks and pod IPs; --down deletes everything', async () => {
    const r = await p.run(['launch', 'examples/multinode.yaml', '--infra', 'k8s/alpha', '-c', 'two', '-y', '--down']);
    expect(r.stderr).not.toContain('Error');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\(node 0\) rank 0 of 2, head at 10\.244\.\d+\.\d+/);
    expect(r.stdout).toMatch(/\(node 1\) rank 1 of 2, head at 10\.244\.\d+\.\d+/);
    expect(r.stdout.match(/workdir synced to every node/g)).toHaveLength(2);
    await nothingLeft();
  });

  it('a failing run gives FAILED and its exit code', async () => {
    const r = await p.run(['launch', '--infra', 'k8s/alpha', '-c', 'fails', '-y', '--down', 'echo about to fail; exit 3']);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain('about to fail');
    expect(r.stderr).toContain('Job 1 FAILED');
    await nothingLeft();
  });

  it('status names the context; exec, logs --follow, cancel stops the job\'s processes; down deletes the pod', async () => {
    await p.ok(['launch', '--infra', 'kubernetes/alpha', '-c', 'one', '-y', '--gpus', 'A100:1', 'echo "env: $PETREL_NUM_NODES $PETREL_NUM_GPUS_PER_NODE $SKYPILOT_NODE_RANK"']);
    const [pod] = await petrelPods(alpha);
    expect(pod.metadata.name).toBe('petrel-one-0');
    expect(pod.spec.containers[0].resources.limits['nvidia.com/gpu']).toBe('1');
    const status = await p.ok(['status']);
    expect(status.stdout).toMatch(/one\s+kubernetes\/alpha \(namespace default\)/);
    expect((await p.ok(['logs', 'one', '1'])).stdout).toBe('env: 1 1 0\n');
    const exec = await p.ok(['exec', 'one', 'echo second in $(pwd)']);
    expect(exec.stdout).toContain(`second in ${path.join(alpha.home, '.petrel/clusters/one/node-0')}`);

    await p.ok(['exec', 'one', '-d', 'for i in 1 2 3; do echo tick $i; sleep 0.3; done']);
    expect((await p.ok(['logs', 'one', '3', '--follow'])).stdout).toBe('tick 1\ntick 2\ntick 3\n');

    await p.ok(['exec', 'one', '-d', 'sleep 413 & sleep 414; wait']);
    await waitFor('the job to start', () => (processesWith('sleep 414').length > 0 ? true : undefined));
    expect((await p.ok(['cancel', 'one', '4'])).stdout).toContain('Job 4: CANCELLED');
    await waitFor('the job\'s processes to be gone', () => (processesWith('sleep 41').length === 0 ? true : undefined), 30_000);

    await p.ok(['exec', 'one', '-d', 'sleep 415']);
    await waitFor('the job to start', () => (processesWith('sleep 415').length > 0 ? true : undefined));
    await p.ok(['down', 'one', '-y']);
    // what ran in the pod is stopped before the pod is deleted
    expect(processesWith('sleep 415')).toEqual([]);
    await nothingLeft();
  });

  it('autostop that would stop (not tear down) is refused before anything is created', async () => {
    const r = await p.run(['launch', '--infra', 'k8s/alpha', '-c', 'nostop', '-y', '-i', '5', 'echo never']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('-i: kubernetes clusters cannot be stopped, only torn down; add --down');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(await petrelPods(alpha)).toEqual([]);
  });

  it('refused credentials fail the launch with the API server\'s answer, and create nothing', async () => {
    const r = await p.run(['launch', '--infra', 'k8s/alpha-badtoken', '-c', 'bad', '-y', 'echo never']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('the API server refused the credentials (401 Unauthorized)');
    expect(r.stdout).not.toContain('never');
    await nothingLeft();
  });
});

describe('bad Kubernetes settings', () => {
  it('an unknown context fails before anything is created, naming the contexts there are', async () => {
    const r = await p.run(['launch', '--infra', 'k8s/gamma', '-c', 'nowhere', '-y', 'echo never']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("Kubernetes context 'gamma' is not in");
    expect(r.stderr).toContain('(contexts: alpha, beta, alpha-badtoken)');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    await nothingLeft();
  });

  it('a bad kubernetes: section fails the job with file, line and field, and creates nothing', async () => {
    const file = path.join(p.home, 'config.yaml');
    fs.writeFileSync(file, `${CONFIG}  provision_timout: 5\n  namespace: [ml]\n`);
    try {
      const id = await submitJob(p, ['--infra', 'k8s', 'echo never']);
      const v = await waitForJob(p, id, (x) => x.status === 'FAILED_PRECHECKS', 'failed prechecks');
      expect(v.message).toContain(`${file}:6:3: kubernetes.provision_timout:`);
      expect(v.message).toContain('provision_timeout');
      expect(v.message).toContain(`${file}:7:14: kubernetes.namespace:`);
    } finally {
      fs.writeFileSync(file, CONFIG);
    }
    await nothingLeft();
  });
});

describe('managed jobs on Kubernetes', () => {
  it('more GPUs than context alpha has: the job lands on beta', async () => {
    const r = await p.run(['jobs', 'launch', '-y', '--infra', 'k8s', '--gpus', 'A100:8', 'echo "on $PETREL_NUM_GPUS_PER_NODE GPUs"']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('on 8 GPUs');
    const id = Number(/Managed job (\d+)/.exec(r.stdout + r.stderr)![1]);
    const v = await describeJob(p, id);
    expect(v.status).toBe('SUCCEEDED');
    expect(v.attempts.map((a) => [a.region, a.outcome])).toEqual([
      ['alpha', 'no_capacity'],
      ['beta', 'succeeded'],
    ]);
    expect(v.attempts[0]!.reason).toContain('no schedulable node can hold A100:8 (the largest has 4)');
    await nothingLeft();
  });

  it('a GPU job that names no infra runs where the worker sees that GPU (free, before any cloud); none anywhere is FAILED_PRECHECKS saying why', async () => {
    const r = await p.run(['jobs', 'launch', '-y', '--gpus', 'A100-80GB:4', 'echo "on $PETREL_NUM_GPUS_PER_NODE GPUs"']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('on 4 GPUs');
    const id = Number(/Managed job (\d+)/.exec(r.stdout + r.stderr)![1]);
    const v = await describeJob(p, id);
    expect(v.attempts.map((a) => [a.cloud, a.region, a.hourlyPrice, a.outcome])).toEqual([['kubernetes', 'alpha', 0, 'succeeded']]);
    const none = await p.run(['jobs', 'launch', '-y', '--gpus', 'H200:8', 'echo never']);
    expect(none.code).not.toBe(0);
    const failed = await describeJob(p, Number(/Managed job (\d+)/.exec(none.stdout + none.stderr)![1]));
    expect(failed.status).toBe('FAILED_PRECHECKS');
    expect(failed.message).toContain('no infra can hold this task');
    expect(failed.message).toMatch(/aws is not enabled on this worker: no AWS credentials/);
    await nothingLeft();
  });

  it('a 2-node job: one pod per rank, SUCCEEDED, the pods in describe, nothing left', async () => {
    const r = await p.run(['jobs', 'launch', '-y', '--infra', 'k8s/beta', '--num-nodes', '2', 'echo "rank $SKYPILOT_NODE_RANK of $SKYPILOT_NUM_NODES"']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('rank 0 of 2');
    expect(r.stdout).toContain('rank 1 of 2');
    const id = Number(/Managed job (\d+)/.exec(r.stdout + r.stderr)![1]);
    const v = await describeJob(p, id);
    expect(v.status).toBe('SUCCEEDED');
    expect(v.attempts[0]!.handle!.nodes.map((n) => n.data.pod)).toEqual([`petrel-job-${id}-1-0`, `petrel-job-${id}-1-1`]);
    const text = await p.ok(['jobs', 'describe', String(id)]);
    expect(text.stdout).toContain('kubernetes/beta (namespace default)');
    await nothingLeft();
  });

  it('the pod deleted mid-run is a preemption: the job recovers and finishes', async () => {
    const dir = gateDir();
    const { id, first } = await startJob(['--infra', 'k8s/alpha'], dir);
    const cluster = bed.clusters.get(first.context!)!;
    await cluster.killPodProcesses(first.namespace!, first.pod!);
    await cluster.api('DELETE', `/api/v1/namespaces/${first.namespace}/pods/${first.pod}`);
    // A real pod's files go with it; kwok's "containers" share one home on this host.
    fs.rmSync(path.join(cluster.home, path.dirname(first.dir!)), { recursive: true, force: true });
    const v2 = await waitForJob(p, id, (x) => running(x) && x.attempts.length === 2, 'recovered', 60_000);
    expect(v2.attempts[0]).toMatchObject({ outcome: 'preempted', reason: expect.stringContaining('the pod was deleted') });
    await waitFor('the second start', () => (fs.readFileSync(path.join(dir, 'starts'), 'utf8') === 'start\nstart\n' ? true : undefined));
    fs.writeFileSync(path.join(dir, 'go'), '');
    const done = await waitForJob(p, id, (x) => x.status === 'SUCCEEDED', 'success', 60_000);
    expect(done.recoveries).toBe(1);
    await nothingLeft();
  });

  it('preempted by a pod of a higher PriorityClass: recovered on the other context', async () => {
    await alpha.api('POST', '/apis/scheduling.k8s.io/v1/priorityclasses', { metadata: { name: 'urgent' }, value: 1000000 });
    const dir = gateDir();
    const { id, first } = await startJob(['--infra', 'k8s', '--gpus', 'A100:4'], dir);
    expect(first.context).toBe('alpha');
    try {
      await alpha.api('POST', '/api/v1/namespaces/default/pods', {
        metadata: { name: 'urgent' },
        spec: { priorityClassName: 'urgent', containers: [{ name: 'main', image: 'busybox', resources: { limits: { 'nvidia.com/gpu': '4' } } }] },
      });
      // The scheduler evicts Petrel's pod; kwok leaves what ran in it: the kubelet's kill, by hand.
      await waitFor('the pod preempted', async () => ((await petrelPods(alpha)).some((pod) => pod.metadata.uid === first.uid) ? undefined : true), 30_000, 100);
      await alpha.killPodProcesses('default', first.pod!, { cluster: v1Cluster(first), rank: 0 });
      fs.rmSync(path.join(alpha.home, path.dirname(first.dir!)), { recursive: true, force: true });
      const v2 = await waitForJob(p, id, (x) => running(x) && x.attempts.length === 2, 'recovered', 60_000);
      expect(v2.attempts[0]).toMatchObject({ region: 'alpha', outcome: 'preempted', reason: expect.stringContaining('PreemptionByScheduler') });
      expect(v2.attempts[1]!.region).toBe('beta');
      fs.writeFileSync(path.join(dir, 'go'), '');
      expect((await waitForJob(p, id, (x) => x.status === 'SUCCEEDED', 'success', 60_000)).recoveries).toBe(1);
    } finally {
      await alpha.api('DELETE', '/api/v1/namespaces/default/pods/urgent').catch(() => undefined);
      await alpha.api('DELETE', '/apis/scheduling.k8s.io/v1/priorityclasses/urgent');
    }
    await nothingLeft();
  });

  it('the node deleted under a running pod: the job recovers on the other context', async () => {
    const dir = gateDir();
    const { id, first } = await startJob(['--infra', 'k8s'], dir);
    expect(first.node).toBe('a-gpu-0');
    try {
      await alpha.deleteNode('a-gpu-0');
      // what ran on the node went with it (kwok leaves it: the kubelet's part, by hand)
      await alpha.killPodProcesses('default', first.pod!);
      fs.rmSync(path.join(alpha.home, path.dirname(first.dir!)), { recursive: true, force: true });
      const v2 = await waitForJob(p, id, (x) => running(x) && x.attempts.length === 2, 'recovered', 60_000);
      expect(v2.attempts[0]).toMatchObject({ region: 'alpha', outcome: 'preempted', reason: expect.stringContaining('node a-gpu-0 of pod') });
      expect(v2.attempts[1]!.region).toBe('beta');
      fs.writeFileSync(path.join(dir, 'go'), '');
      expect((await waitForJob(p, id, (x) => x.status === 'SUCCEEDED', 'success', 60_000)).recoveries).toBe(1);
    } finally {
      await alpha.addNode({ name: 'a-gpu-0', gpus: 4, labels: { 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB' } });
    }
    await nothingLeft();
  });

  it('the worker SIGKILLed mid-run: a new worker re-attaches and the job runs once', async () => {
    const dir = gateDir();
    const { id } = await startJob(['--infra', 'k8s/beta'], dir);
    const worker = p.pidOf('worker')!;
    process.kill(worker, 'SIGKILL');
    await waitFor('the worker to die', () => !alive(worker) || undefined);
    await p.ok(['server', 'start']);
    fs.writeFileSync(path.join(dir, 'go'), '');
    const v = await waitForJob(p, id, (x) => x.status === 'SUCCEEDED', 'success', 60_000);
    expect(v.attempts).toHaveLength(1);
    expect(v.recoveries).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'starts'), 'utf8')).toBe('start\n');
    await nothingLeft();
  });

  it('refused credentials on the only context: FAILED_PRECHECKS with the API server\'s message', async () => {
    const id = await submitJob(p, ['--infra', 'k8s/alpha-badtoken', 'echo never']);
    const v = await waitForJob(p, id, (x) => x.status === 'FAILED_PRECHECKS', 'failed prechecks');
    expect(v.message).toContain('k8s/alpha-badtoken: the API server refused the credentials (401 Unauthorized)');
    await nothingLeft();
  });
});
