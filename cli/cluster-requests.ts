// From a validated task to the messages the cluster workflow takes.
import { planStorageMount, type StorageMountRequest } from '../core/storage-mounts.js';
import os from 'node:os';
import type { ResourceRequest, TaskSpec } from '../core/task.js';
import { loadKeyring } from '../codec/keys.js';
import { sealAll } from '../codec/secret-box.js';
import { INFRA_NAMES } from '../core/names.js';
import type { ClusterWorkflowInput, JobRequest } from '../workflows/cluster-types.js';
import { UserError } from './errors.js';

export function currentUser(): string {
  return process.env.PETREL_USER || os.userInfo().username;
}

/** The task's resource candidates that infra Petrel has can serve, in preference order. */
export function launchableCandidates(task: TaskSpec, where: string): Array<ResourceRequest & { cloud: string }> {
  const supported: readonly string[] = INFRA_NAMES;
  const candidates = task.resources.candidates.map((c) => ({ ...c, cloud: c.cloud ?? 'local' })).filter((c) => supported.includes(c.cloud));
  if (candidates.length > 0) return candidates;
  const asked = [...new Set(task.resources.candidates.map((c) => c.cloud ?? 'local'))].join(', ');
  throw new UserError(`${where}: resources: infra '${asked}' is not available in Petrel yet; available: ${supported.join(', ')}`);
}

/**
 * A managed job's candidates: those Petrel can serve, keeping "any infra" open (no `cloud`) for
 * the worker's optimizer, which may put it on a cloud, a cluster with the GPUs, or this machine.
 */
export function managedCandidates(task: TaskSpec, where: string): ResourceRequest[] {
  const supported: readonly string[] = INFRA_NAMES;
  const candidates = task.resources.candidates.filter((c) => c.cloud === undefined || supported.includes(c.cloud));
  if (candidates.length > 0) return candidates;
  const asked = [...new Set(task.resources.candidates.map((c) => c.cloud))].join(', ');
  throw new UserError(`${where}: resources: infra '${asked}' is not available in Petrel yet; available: ${supported.join(', ')}`);
}

/** A cluster uses the first candidate Petrel can serve; managed jobs walk all of them. */
export function chooseResources(task: TaskSpec, where: string): ResourceRequest & { cloud: string } {
  return launchableCandidates(task, where)[0]!;
}

export function describeResources(r: ResourceRequest, numNodes: number): string {
  const parts = [`${r.cloud ?? '*'}${r.region ? '/' + r.region : ''}${r.zone ? '/' + r.zone : ''}`, `${numNodes}x node`];
  if (r.instanceType) parts.push(r.instanceType);
  for (const [name, count] of Object.entries(r.accelerators ?? {})) parts.push(`${name}:${count}`);
  if (r.cpus) parts.push(`cpus=${r.cpus.value}${r.cpus.orMore ? '+' : ''}`);
  if (r.memoryGb) parts.push(`mem=${r.memoryGb.value}${r.memoryGb.orMore ? '+' : ''}GB`);
  if (r.useSpot) parts.push('spot');
  return parts.join(', ');
}

export function clusterInput(
  clusterName: string,
  task: TaskSpec,
  r: ResourceRequest & { cloud: string },
  autostop: { idleMinutes: number; down: boolean } | undefined,
): ClusterWorkflowInput {
  return {
    clusterName,
    provider: r.cloud,
    region: r.region,
    zone: r.zone,
    numNodes: task.numNodes,
    useSpot: r.useSpot,
    accelerators: r.accelerators,
    ...(r.cpus ? { cpus: r.cpus } : {}),
    ...(r.memoryGb ? { memoryGb: r.memoryGb } : {}),
    resourcesSummary: describeResources(r, task.numNodes),
    autostop,
    user: currentUser(),
    ...(r.imageId ? { imageId: r.imageId } : {}),
    ...(Object.keys(r.labels).length ? { labels: r.labels } : {}),
    ...(r.instanceType ? { instanceType: r.instanceType } : {}),
    ...(r.ports.length ? { ports: r.ports } : {}),
    ...(r.diskSizeGb !== undefined ? { diskSizeGb: r.diskSizeGb } : {}),
  };
}

export function jobRequest(home: string, task: TaskSpec, r: ResourceRequest, withSetup: boolean): JobRequest {
  const secrets = Object.fromEntries(Object.entries(task.secrets).filter((e): e is [string, string] => e[1] !== null));
  const envs = Object.fromEntries(Object.entries(task.envs).filter((e): e is [string, string] => e[1] !== null));
  return {
    name: task.name,
    setup: withSetup ? task.setup : undefined,
    run: task.run,
    envs,
    sealedSecrets: Object.keys(secrets).length > 0 ? sealAll(loadKeyring(home), secrets) : {},
    workdir: typeof task.workdir === 'string' ? task.workdir : undefined,
    fileMounts: localFileMounts(task),
    ...(storageMountsOf(task).length ? { storageMounts: storageMountsOf(task) } : {}),
    numNodes: task.numNodes,
    gpusPerNode: Object.values(r.accelerators ?? {})[0] ?? 0,
  };
}

/** destination on the node → absolute local source (loadTask has resolved and checked them) */
function localFileMounts(task: TaskSpec): Record<string, string> | undefined {
  const mounts = Object.entries(task.fileMounts).flatMap(([dest, m]) => (m.kind === 'path' && !planStorageMount(dest, m) ? [[dest, m.source] as const] : []));
  return mounts.length > 0 ? Object.fromEntries(mounts) : undefined;
}

/** The task's bucket mounts (loadTask has checked them and made local sources absolute). */
export function storageMountsOf(task: TaskSpec): StorageMountRequest[] {
  return Object.entries(task.fileMounts).flatMap(([dest, m]) => {
    const planned = planStorageMount(dest, m);
    if (!planned?.ok) return [];
    return [{ ...planned.mount, ...(planned.localSource ? { upload: planned.localSource } : {}) }];
  });
}

export function generatedClusterName(): string {
  return `petrel-${Math.random().toString(16).slice(2, 6)}-${currentUser().toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 12) || 'user'}`;
}
