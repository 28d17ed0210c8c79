// The pure parts of the Kubernetes provider: names, pod manifests, accelerator matching, what a
// pod's status means, and exit codes read from exec statuses of a real kubelet and of kwok.
import { describe, expect, it } from 'vitest';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { acceleratorMatches } from '../../core/accelerator-match.js';
import { planAccelerator } from '../../providers/kubernetes/accelerators.js';
import type { KubeContextConfig } from '../../providers/kubernetes/config.js';
import { exitCodeOf } from '../../providers/kubernetes/exec.js';
import { imageFor } from '../../providers/kubernetes/index.js';
import { labelValue, podManifest, podName, serviceName } from '../../providers/kubernetes/pods.js';
import { nodeStatusOf, startingState } from '../../providers/kubernetes/pod-state.js';

const ctx: KubeContextConfig = {
  name: 'alpha',
  server: 'https://127.0.0.1:6443',
  namespace: 'ml',
  provisionTimeoutSeconds: 10,
  podConfig: {},
  labels: { team: 'ml' },
  annotations: {},
  image: 'python:3.11-slim',
};

const node = (name: string, gpus: number, labels: Record<string, string>, extra: Partial<V1Node['spec']> = {}): V1Node => ({
  metadata: { name, labels },
  spec: { ...extra },
  status: { allocatable: gpus ? { 'nvidia.com/gpu': String(gpus) } : {}, conditions: [{ type: 'Ready', status: 'True' }] },
});

describe('names', () => {
  it('are DNS labels, shortened with a hash when a cluster name is long', () => {
    expect(podName('train', 3)).toBe('petrel-train-3');
    const long = `job-${'x'.repeat(70)}`;
    expect(podName(long, 12).length).toBeLessThanOrEqual(63);
    expect(podName(long, 12)).toMatch(/^petrel-job-x+-[0-9a-f]{8}-12$/);
    expect(podName(long, 12)).not.toBe(podName(`${long}y`, 12));
    expect(serviceName(long).length).toBeLessThanOrEqual(63);
    expect(labelValue('alice@example.com')).toBe('alice-example.com');
  });
});

describe('podManifest', () => {
  it('merges pod_config without letting it take over the name, labels or restart policy', () => {
    const pod = podManifest(
      { cluster: 'c', rank: 0, numNodes: 2, requestKey: 'k', image: 'img', devices: { 'nvidia.com/gpu': 2 }, taskLabels: { project: 'x', 'bad key!': 'y' } },
      { ...ctx, podConfig: { metadata: { name: 'evil', labels: { extra: '1' } }, spec: { restartPolicy: 'Always', priorityClassName: 'high', containers: [{ name: 'other', env: [{ name: 'HF_HOME', value: '/cache' }] }] } } },
    );
    expect(pod.metadata).toMatchObject({ name: 'petrel-c-0', namespace: 'ml' });
    expect(pod.metadata!.labels).toMatchObject({ extra: '1', project: 'x', team: 'ml', 'petrel.dev/cluster': 'c', 'petrel.dev/rank': '0' });
    expect(pod.metadata!.labels).not.toHaveProperty('bad key!');
    expect(pod.spec).toMatchObject({ restartPolicy: 'Never', priorityClassName: 'high', hostname: 'petrel-c-0', subdomain: 'petrel-c' });
    expect(pod.spec!.containers[0]!.name).toBe('petrel');
    expect(pod.spec!.containers[0]!.env).toEqual(expect.arrayContaining([{ name: 'HF_HOME', value: '/cache' }, { name: 'PETREL_NODE_RANK', value: '0' }]));
    expect(pod.spec!.tolerations).toEqual(expect.arrayContaining([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]));
  });

  it('takes the image from image_id (docker: prefix, per-context map) or the default', () => {
    expect(imageFor('docker:nvcr.io/nvidia/pytorch:24.01-py3', ctx)).toBe('nvcr.io/nvidia/pytorch:24.01-py3');
    expect(imageFor({ alpha: 'a:1', beta: 'b:1' }, ctx)).toBe('a:1');
    expect(imageFor({ beta: 'b:1' }, ctx)).toBe('python:3.11-slim');
    expect(imageFor(undefined, ctx)).toBe('python:3.11-slim');
  });
});

describe('accelerators', () => {
  it('match label values by their parts', () => {
    expect(acceleratorMatches('A100-80GB', 'NVIDIA-A100-SXM4-80GB')).toBe(true);
    expect(acceleratorMatches('A100-80GB', 'nvidia-tesla-a100')).toBe(false);
    expect(acceleratorMatches('A100', 'nvidia-tesla-a100')).toBe(true);
    expect(acceleratorMatches('H100', 'nvidia-h100-80gb')).toBe(true);
    expect(acceleratorMatches('L4', 'nvidia-l40s')).toBe(false);
    expect(acceleratorMatches('a10g', 'a10g')).toBe(true);
  });

  it('plan: affinity on the values found, capacity when no node can ever hold it', () => {
    const nodes = [node('n1', 4, { 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB' }), node('n2', 8, { 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB' }, { unschedulable: true })];
    expect(planAccelerator('A100', 2, nodes, false)).toEqual({ ok: true, resource: 'nvidia.com/gpu', count: 2, nodeTerms: [{ matchExpressions: [{ key: 'nvidia.com/gpu.product', operator: 'In', values: ['NVIDIA-A100-SXM4-80GB'] }] }] });
    // the 8-GPU node is cordoned
    expect(planAccelerator('A100', 8, nodes, false)).toEqual({ ok: false, message: 'no schedulable node can hold A100:8 (the largest has 4)' });
    expect(planAccelerator('A100', 8, nodes, true).ok).toBe(true); // an autoscaler may add one
    expect(planAccelerator('T4', 1, nodes, false)).toEqual({ ok: false, message: 'no node has T4 (accelerators here: NVIDIA-A100-SXM4-80GB)' });
    // nodes cannot be listed: ask by SkyPilot's and Karpenter's plain values
    const blind = planAccelerator('T4', 1, undefined, false);
    expect(blind.ok && blind.nodeTerms.map((t) => t.matchExpressions![0]!.key)).toEqual(['karpenter.k8s.aws/instance-gpu-name', 'skypilot.co/accelerator']);
  });
});

describe('pod states', () => {
  const pod = (status: V1Pod['status'], extra: Partial<V1Pod> = {}): V1Pod => ({ metadata: { name: 'p', uid: 'u1' }, spec: { nodeName: 'n1', containers: [] }, status, ...extra });

  it('while starting: running, pending (unschedulable with the scheduler message), refused images, ended', () => {
    expect(startingState(pod({ phase: 'Running' }))).toEqual({ kind: 'running' });
    expect(startingState(pod({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available: 1 Insufficient nvidia.com/gpu.' }] }, { spec: { containers: [] } }))).toEqual({ kind: 'pending', unschedulable: '0/1 nodes are available: 1 Insufficient nvidia.com/gpu.' });
    expect(startingState(pod({ phase: 'Pending', containerStatuses: [{ name: 'petrel', image: 'x', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ErrImagePull', message: 'not found' } } }] }))).toEqual({ kind: 'refused', message: 'container petrel of pod p: ErrImagePull: not found' });
    expect(startingState(pod({ phase: 'Failed', reason: 'Evicted' })).kind).toBe('ended');
  });

  it('while running: deleted, replaced, evicted, disrupted or node gone are losses', () => {
    const nodes = new Set(['n1']);
    expect(nodeStatusOf(0, 'u1', pod({ phase: 'Running' }), nodes)).toEqual({ rank: 0, state: 'up' });
    expect(nodeStatusOf(0, 'u1', undefined, nodes)).toMatchObject({ state: 'gone', reason: 'preempted' });
    expect(nodeStatusOf(0, 'u0', pod({ phase: 'Running' }), nodes)).toMatchObject({ state: 'gone', reason: 'preempted', detail: 'pod p was deleted and replaced by another' });
    expect(nodeStatusOf(0, 'u1', pod({ phase: 'Failed', reason: 'Evicted', message: 'The node was low on resource: memory.' }), nodes)).toMatchObject({ reason: 'preempted', detail: 'pod p failed (Evicted: The node was low on resource: memory.)' });
    expect(nodeStatusOf(0, 'u1', pod({ phase: 'Running', conditions: [{ type: 'DisruptionTarget', status: 'True', reason: 'PreemptionByScheduler', message: 'preempted by a higher priority pod' }] }), nodes)).toMatchObject({ reason: 'preempted', detail: 'pod p: PreemptionByScheduler: preempted by a higher priority pod' });
    expect(nodeStatusOf(0, 'u1', pod({ phase: 'Running' }), new Set(['n2']))).toMatchObject({ reason: 'preempted', detail: 'node n1 of pod p is gone' });
    expect(nodeStatusOf(0, 'u1', pod({ phase: 'Running' }), undefined)).toEqual({ rank: 0, state: 'up' });
  });
});

describe('exec exit codes', () => {
  it('from a real kubelet (ExitCode cause), kwok (the message), success, and no status at all', () => {
    expect(exitCodeOf({ status: 'Success' })).toBe(0);
    expect(exitCodeOf({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '3' }] }, message: 'command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3' })).toBe(3);
    expect(exitCodeOf({ status: 'Failure', reason: 'InternalError', message: 'Internal error occurred: error executing command in container: cmd wait: sh -c exit 7: exit status 7' })).toBe(7);
    expect(exitCodeOf({ status: 'Failure', reason: 'InternalError', message: 'Internal error occurred: something else' })).toBeUndefined();
    expect(exitCodeOf(undefined)).toBeUndefined();
  });
});
