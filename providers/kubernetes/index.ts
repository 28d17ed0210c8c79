// The Kubernetes provider: a Petrel node is a pod, a region is a kubeconfig context
// (`--infra k8s/<context>`). Pods are driven through the API server alone: exec for commands,
// uploads and the detached-job contract, a LIST+WATCH for batched status. Nothing is needed in
// the image but bash, tar, setsid and coreutils.
//
// Provisioning is idempotent by name: pods are petrel-<cluster>-<rank> (and a headless Service
// petrel-<cluster> for multi-node clusters, so ranks reach each other by DNS name), annotated
// with the request's idempotency key; a retry reuses what the same request created and replaces
// leftovers of an earlier one. A pod that the scheduler cannot place within the context's
// provision_timeout is "no capacity here": everything is deleted and the job fails over to the
// next context or infra.
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { ClusterHandle, NodeHandle, NodeStatus } from '../../core/cluster-state.js';
import type { GpuAvailability } from '../../core/worker-ops.js';
import { nodeDirOf } from '../remote-layout.js';
import { ProviderError, type CheckResult, type Provider, type ProvisionRequest, type WatchedJob, type WatchedJobReport } from '../types.js';
import { planAccelerator } from './accelerators.js';
import { kubernetesBatchStatus, podRefOf } from './batch-status.js';
import { call, orMissing, statusOf, apiFailure, type ContextClients } from './client.js';
import type { KubeContextConfig, KubernetesConfig } from './config.js';
import { loadKubernetes } from './loaded-config.js';
import { podExec } from './exec.js';
import { describeAccess, describeGpus, gpuAvailability } from './check.js';
import { PREPARE_SCRIPT, STOP_ALL_SCRIPT } from './node-scripts.js';
import { type PodRequest, ANNOTATION_REQUEST, clusterSelector, CONTAINER, MANAGED_SELECTOR, podManifest, serviceManifest, serviceName } from './pods.js';
import { startingState } from './pod-state.js';
import { KubernetesRunner } from './runner.js';

export interface KubernetesProviderOptions {
  /** $PETREL_HOME */
  home: string;
}

/** How long teardown waits for the API server to have removed the pods. */
const DELETE_WAIT_MS = 120_000;

function pollDelayMs(elapsedMs: number): number {
  return elapsedMs < 3_000 ? 100 : 500;
}

export class KubernetesProvider implements Provider {
  readonly name = 'kubernetes';

  constructor(private readonly opts: KubernetesProviderOptions) {}

  private config(): KubernetesConfig {
    return loadKubernetes(this.opts.home).config;
  }

  private contextConfig(config: KubernetesConfig, region: string | undefined): KubeContextConfig {
    const names = [...config.contexts.keys()];
    if (names.length === 0) {
      throw new ProviderError('config', `no Kubernetes contexts: none usable in ${config.files.kubeconfig.join(':')}${config.disallowed.length ? ` (not in kubernetes.allowed_contexts: ${config.disallowed.join(', ')})` : ''}`);
    }
    const name = region ?? names[0]!;
    const ctx = config.contexts.get(name);
    if (!ctx) {
      const why = config.disallowed.includes(name) ? `is not in kubernetes.allowed_contexts of ${config.files.petrelConfig}` : `is not in ${config.files.kubeconfig.join(':') || 'the kubeconfig'}`;
      throw new ProviderError('config', `Kubernetes context '${name}' ${why} (contexts: ${names.join(', ')})`);
    }
    return ctx;
  }

  /** The clients of a kubeconfig context (as the worker's files say now). */
  private clients(context: string): ContextClients {
    return loadKubernetes(this.opts.home).clients(context);
  }

  async check(): Promise<CheckResult> {
    let config: KubernetesConfig;
    try {
      config = this.config();
    } catch (err) {
      return { provider: this.name, enabled: false, detail: (err as Error).message };
    }
    if (config.contexts.size === 0) return { provider: this.name, enabled: false, detail: 'no Kubernetes contexts (kubeconfig: $KUBECONFIG or ~/.kube/config)' };
    const lines = await Promise.all(
      [...config.contexts.values()].map(async (ctx) => {
        try {
          const c = this.clients(ctx.name);
          const access = await describeAccess(c, ctx.namespace);
          const gpus = access.ok ? await describeGpus(c) : '';
          return { ok: access.ok, line: `context ${ctx.name} (${ctx.server}, namespace ${ctx.namespace}): ${access.text}${gpus ? `; ${gpus}` : ''}` };
        } catch (err) {
          return { ok: false, line: `context ${ctx.name}: ${(err as Error).message}` };
        }
      }),
    );
    const notes = config.disallowed.length ? [`not in allowed_contexts: ${config.disallowed.join(', ')}`] : [];
    return { provider: this.name, enabled: lines.some((l) => l.ok), detail: [...lines.map((l) => l.line), ...notes].join('; ') };
  }

  async gpus(): Promise<{ gpus: GpuAvailability[]; problems: string[] }> {
    const config = this.config();
    const answers = await Promise.all(
      [...config.contexts.values()].map(async (ctx) => {
        try {
          return { gpus: await gpuAvailability(this.clients(ctx.name)), problems: [] };
        } catch (err) {
          return { gpus: [], problems: [apiFailure(`k8s/${ctx.name}`, 'listing nodes and pods', err).message] };
        }
      }),
    );
    return { gpus: answers.flatMap((a) => a.gpus), problems: answers.flatMap((a) => a.problems) };
  }

  /**
   * The allowed contexts, in preference order. With a config that cannot be read, one placement
   * without a context: its provision then fails with every problem of the files (FAILED_PRECHECKS
   * naming file, line and field), where "no contexts" would hide why.
   */
  async regions(): Promise<Array<string | undefined>> {
    try {
      return [...this.config().contexts.keys()];
    } catch {
      return [undefined];
    }
  }

  async provision(req: ProvisionRequest): Promise<ClusterHandle> {
    nodeDirOf(req.clusterName, 0); // a name that could never be a directory of ours fails here
    const config = this.config();
    const ctx = this.contextConfig(config, req.region);
    const c = this.clients(ctx.name);
    const devices = await this.devices(c, ctx, req);
    const image = imageFor(req.imageId, ctx);

    if (req.numNodes > 1) {
      await call(c.where, `creating service ${serviceName(req.clusterName)}`, () =>
        c.core.createNamespacedService({ namespace: ctx.namespace, body: serviceManifest(req.clusterName, req.user, ctx) }).catch((err: unknown) => {
          if (statusOf(err) !== 409) throw err;
        }),
      );
    }
    try {
      const pods: V1Pod[] = [];
      for (let rank = 0; rank < req.numNodes; rank++) {
        const manifest = podManifest(
          { cluster: req.clusterName, rank, numNodes: req.numNodes, requestKey: req.idempotencyKey, image, ...(req.user ? { user: req.user } : {}), ...(req.cpus ? { cpus: req.cpus } : {}), ...(req.memoryGb ? { memoryGb: req.memoryGb } : {}), ...devices, ...(req.labels ? { taskLabels: req.labels } : {}) },
          ctx,
        );
        pods.push(await this.createPod(c, ctx, manifest, req.idempotencyKey));
      }
      const running = await this.waitRunning(c, ctx, pods.map((p) => p.metadata!.name!));
      const nodes = await Promise.all(running.map((pod, rank) => this.settle(c, ctx, req.clusterName, rank, pod, image)));
      return { provider: this.name, clusterName: req.clusterName, region: ctx.name, label: `namespace ${ctx.namespace}`, nodes };
    } catch (err) {
      // Refused or without capacity: nothing of the cluster stays. (A transient failure may leave
      // pods the retry reuses; teardown removes them otherwise.)
      if (err instanceof ProviderError && err.kind !== 'transient') await this.deleteAll(c, ctx.namespace, req.clusterName, []).catch(() => undefined);
      throw err;
    }
  }

  /** Device requests and node affinity for the task's accelerators. */
  private async devices(c: ContextClients, ctx: KubeContextConfig, req: ProvisionRequest): Promise<Pick<PodRequest, 'devices' | 'nodeTerms'>> {
    const entries = Object.entries(req.accelerators ?? {});
    if (entries.length === 0) return {};
    const [name, count] = entries[0]!;
    let nodes: V1Node[] | undefined;
    try {
      nodes = (await c.core.listNode()).items;
    } catch (err) {
      if (statusOf(err) !== 403) throw apiFailure(c.where, 'listing nodes', err);
      nodes = undefined; // not allowed to see nodes: ask the scheduler blind
    }
    const plan = planAccelerator(name, count, nodes, ctx.autoscaler !== undefined);
    if (!plan.ok) throw new ProviderError('capacity', `${c.where}: ${plan.message}`, 'region');
    return { devices: { [plan.resource]: plan.count }, nodeTerms: plan.nodeTerms };
  }

  /** Creates the pod, or finds the one this request created before; an older request's is replaced. */
  private async createPod(c: ContextClients, ctx: KubeContextConfig, manifest: V1Pod, requestKey: string): Promise<V1Pod> {
    const name = manifest.metadata!.name!;
    for (let attempt = 0; ; attempt++) {
      try {
        return await c.core.createNamespacedPod({ namespace: ctx.namespace, body: manifest });
      } catch (err) {
        if (statusOf(err) !== 409) throw apiFailure(c.where, `creating pod ${name}`, err);
      }
      const existing = await orMissing(c.where, `reading pod ${name}`, () => c.core.readNamespacedPod({ name, namespace: ctx.namespace }));
      if (!existing) continue;
      if (existing.metadata?.annotations?.[ANNOTATION_REQUEST] === requestKey && !existing.metadata.deletionTimestamp) return existing;
      if (attempt >= 3) throw new ProviderError('transient', `${c.where}: pod ${name} of an earlier launch is still being removed`);
      await this.deletePods(c, ctx.namespace, [existing]);
    }
  }

  /**
   * Polls the cluster's pods until all run. One that the scheduler cannot place for longer than
   * provision_timeout (counted from the pod's creation, so a retried provision does not start
   * the clock again) is a capacity error for this context.
   */
  private async waitRunning(c: ContextClients, ctx: KubeContextConfig, names: string[]): Promise<V1Pod[]> {
    const started = Date.now();
    for (;;) {
      const pods = await Promise.all(names.map((name) => orMissing(c.where, `reading pod ${name}`, () => c.core.readNamespacedPod({ name, namespace: ctx.namespace }))));
      let allRunning = true;
      for (const [i, pod] of pods.entries()) {
        if (!pod) throw new ProviderError('transient', `${c.where}: pod ${names[i]} disappeared while starting`);
        const s = startingState(pod);
        if (s.kind === 'running') continue;
        allRunning = false;
        if (s.kind === 'refused') throw new ProviderError('config', `${c.where}: ${s.message}`);
        if (s.kind === 'ended') throw new ProviderError('transient', `${c.where}: ${s.message} while starting`);
        // creationTimestamp has whole seconds, rounded down: never count a second it may not have waited.
        const age = Math.max(0, (Date.now() - new Date(pod.metadata?.creationTimestamp ?? Date.now()).getTime()) / 1000 - 1);
        if (s.unschedulable !== undefined && age >= ctx.provisionTimeoutSeconds) {
          throw new ProviderError('capacity', `${c.where}: pod ${names[i]} cannot be scheduled: ${s.unschedulable} (waited ${Math.round(age)} s; provision_timeout is ${ctx.provisionTimeoutSeconds} s)`, 'region');
        }
      }
      if (allRunning) return pods as V1Pod[];
      await sleep(pollDelayMs(Date.now() - started));
    }
  }

  /** A running pod becomes a node: bash is checked and the node's home created. */
  private async settle(c: ContextClients, ctx: KubeContextConfig, cluster: string, rank: number, pod: V1Pod, image: string): Promise<NodeHandle> {
    const name = pod.metadata!.name!;
    const dir = nodeDirOf(cluster, rank);
    const r = await podExec({ kc: c.kc, namespace: ctx.namespace, pod: name, container: CONTAINER, where: c.where }, ['/bin/sh', '-c', PREPARE_SCRIPT, 'petrel', dir], { timeoutMs: 60_000 });
    if (r.exitCode === 42 || r.exitCode === 126 || r.exitCode === 127) throw new ProviderError('config', `${c.where}: image ${image}: ${r.stderr.trim() || 'cannot run /bin/sh'}`);
    if (r.exitCode !== 0) throw new ProviderError('transient', `${c.where}: preparing pod ${name} failed: ${r.stderr.trim() || `exit code ${r.exitCode}`}`);
    return {
      rank,
      id: pod.metadata?.uid ?? name,
      ip: pod.status?.podIP ?? name,
      data: { context: ctx.name, namespace: ctx.namespace, pod: name, uid: pod.metadata?.uid ?? '', dir, node: pod.spec?.nodeName ?? '' },
    };
  }

  /**
   * A pod cannot be stopped and started again with its files (SkyPilot has no stop on Kubernetes
   * either); the CLI refuses autostop without --down, so this only guards other callers.
   */
  async stop(handle: ClusterHandle): Promise<void> {
    throw new ProviderError('config', `cluster ${handle.clusterName} on Kubernetes cannot be stopped, only torn down (petrel down, or autostop with --down)`);
  }

  async query(handle: ClusterHandle): Promise<NodeStatus[]> {
    const [report] = await this.batchStatus([{ handle, key: 'petrel-query', ranks: handle.nodes.map((n) => n.rank) }]);
    return report!.nodes;
  }

  async batchStatus(jobs: WatchedJob[]): Promise<WatchedJobReport[]> {
    return kubernetesBatchStatus(jobs, (context) => this.clients(context));
  }

  /**
   * Stops the jobs in every pod (so they end as they would on any node, and nothing outlives a
   * pod where the kubelet would not kill it), deletes the pods and the service, and waits until
   * the API server has removed them. A handle without nodes deletes by the cluster's label.
   */
  async terminate(handle: ClusterHandle): Promise<void> {
    const first = handle.nodes[0];
    if (first?.data.context && first.data.namespace) {
      // Where the pods are, from the handle: a context since left out of allowed_contexts (or a
      // namespace since changed) must still be cleaned up.
      await this.deleteAll(this.clients(first.data.context), first.data.namespace, handle.clusterName, handle.nodes);
      return;
    }
    let c: ContextClients;
    let namespace: string;
    try {
      const config = this.config();
      const ctx = this.contextConfig(config, handle.region);
      c = this.clients(ctx.name);
      namespace = ctx.namespace;
    } catch {
      return; // no such context any more: nothing of the cluster can be reached or found there
    }
    await this.deleteAll(c, namespace, handle.clusterName, []);
  }

  private async deleteAll(c: ContextClients, namespace: string, cluster: string, nodes: NodeHandle[]): Promise<void> {
    const pods = (await call(c.where, 'listing pods', () => c.core.listNamespacedPod({ namespace, labelSelector: clusterSelector(cluster) }))).items;
    const homes = new Map(nodes.map((n) => [n.data.pod, n.data.dir]));
    // A pod whose node is gone cannot be reached (and has nothing left running to stop).
    const nodeNames = await c.core.listNode().then((l) => new Set(l.items.map((n) => n.metadata?.name)), () => undefined);
    await Promise.all(
      pods
        .filter((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp && (!nodeNames || nodeNames.has(p.spec?.nodeName)))
        .map((p) => {
          const name = p.metadata!.name!;
          const rank = Number(p.metadata?.labels?.['petrel.dev/rank'] ?? NaN);
          const dir = homes.get(name) ?? (Number.isInteger(rank) ? nodeDirOf(cluster, rank) : undefined);
          if (!dir) return undefined;
          return podExec({ kc: c.kc, namespace, pod: name, container: CONTAINER, where: c.where }, ['/bin/sh', '-c', STOP_ALL_SCRIPT, 'petrel', dir], { timeoutMs: 30_000 }).catch(() => undefined);
        }),
    );
    await this.deletePods(c, namespace, pods, nodeNames);
    await orMissing(c.where, `deleting service ${serviceName(cluster)}`, () => c.core.deleteNamespacedService({ name: serviceName(cluster), namespace }));
  }

  /**
   * Deletes the pods and waits until the API server no longer has them. A pod whose node is gone
   * is deleted at once (as `kubectl delete --force`): no kubelet is left to confirm its end, so a
   * graceful delete would wait for the pod garbage collector, if the cluster runs one.
   */
  private async deletePods(c: ContextClients, namespace: string, pods: V1Pod[], nodeNames?: Set<string | undefined>): Promise<void> {
    await Promise.all(
      pods.map((p) => {
        const orphaned = nodeNames !== undefined && p.spec?.nodeName !== undefined && !nodeNames.has(p.spec.nodeName);
        return orMissing(c.where, `deleting pod ${p.metadata!.name}`, () => c.core.deleteNamespacedPod({ name: p.metadata!.name!, namespace, ...(orphaned ? { gracePeriodSeconds: 0 } : {}) }));
      }),
    );
    const names = new Set(pods.map((p) => p.metadata!.name!));
    const uids = new Set(pods.map((p) => p.metadata?.uid));
    const started = Date.now();
    for (;;) {
      // Only Petrel's pods: a shared namespace may hold thousands of others.
      const left = (await call(c.where, 'listing pods', () => c.core.listNamespacedPod({ namespace, labelSelector: MANAGED_SELECTOR }))).items.filter((p) => names.has(p.metadata?.name ?? '') && uids.has(p.metadata?.uid));
      if (left.length === 0) return;
      if (Date.now() - started > DELETE_WAIT_MS) throw new ProviderError('transient', `${c.where}: pod(s) ${left.map((p) => p.metadata?.name).join(', ')} still there ${DELETE_WAIT_MS / 1000} s after deletion`);
      await sleep(pollDelayMs(Date.now() - started));
    }
  }

  runner(handle: ClusterHandle, node: NodeHandle): KubernetesRunner {
    const ref = podRefOf(node.data);
    if (!ref) throw new ProviderError('config', `node ${node.rank} (${node.id}) has no pod data; was it provisioned by the kubernetes provider?`);
    const c = this.clients(ref.context);
    return new KubernetesRunner({ kc: c.kc, namespace: ref.namespace, pod: ref.pod, container: CONTAINER, where: c.where }, ref.home);
  }
}

/** The task's image_id (`docker:<image>` or a per-context map), else the context's default image. */
export function imageFor(imageId: string | Record<string, string> | undefined, ctx: KubeContextConfig): string {
  const raw = typeof imageId === 'string' ? imageId : imageId?.[ctx.name];
  if (!raw) return ctx.image;
  return raw.replace(/^docker:/, '');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
