// What a pod's status means to Petrel, while it starts and while it runs.
import type { V1Pod } from '@kubernetes/client-node';
import type { NodeStatus } from '../../core/cluster-state.js';

export type StartingState =
  | { kind: 'running' }
  /** waiting for the scheduler; `unschedulable` holds its reason when it said it cannot place the pod */
  | { kind: 'pending'; unschedulable?: string }
  /** will never run as asked: a bad image, a container that cannot be configured */
  | { kind: 'refused'; message: string }
  /** ran and ended, or was taken away, before Petrel could use it */
  | { kind: 'ended'; message: string };

/** Waiting reasons of a container that will not go away by themselves. */
const HOPELESS_WAITING = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull', 'CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);

export function startingState(pod: V1Pod): StartingState {
  const status = pod.status ?? {};
  if (pod.metadata?.deletionTimestamp) return { kind: 'ended', message: `pod ${pod.metadata.name} is being deleted` };
  if (status.phase === 'Running' && pod.spec?.nodeName) return { kind: 'running' };
  if (status.phase === 'Succeeded' || status.phase === 'Failed') {
    return { kind: 'ended', message: `pod ${pod.metadata?.name} ${status.phase === 'Failed' ? 'failed' : 'ended'}${status.reason ? ` (${status.reason}${status.message ? `: ${status.message}` : ''})` : ''}` };
  }
  for (const c of status.containerStatuses ?? []) {
    const w = c.state?.waiting;
    if (w?.reason && HOPELESS_WAITING.has(w.reason)) return { kind: 'refused', message: `container ${c.name} of pod ${pod.metadata?.name}: ${w.reason}${w.message ? `: ${w.message}` : ''}` };
  }
  const scheduled = status.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') return { kind: 'pending', unschedulable: scheduled.message ?? 'Unschedulable' };
  return { kind: 'pending' };
}

/**
 * A running cluster's node as its pod shows it. Gone, with reason `preempted`, when the pod was
 * deleted (by anyone but Petrel's teardown), evicted (node pressure, a higher PriorityClass),
 * replaced by another pod of the same name, or its node is gone: the managed job recovers.
 * `nodes` = the names of the cluster's nodes, when they could be listed.
 */
export function nodeStatusOf(rank: number, uid: string | undefined, pod: V1Pod | undefined, nodes: Set<string> | undefined, lastSeen?: V1Pod): NodeStatus {
  if (!pod) {
    // Its last state before deletion may say why: preempted by the scheduler, evicted.
    const why = lastSeen && (!uid || lastSeen.metadata?.uid === uid) ? disruptionOf(lastSeen) : undefined;
    return { rank, state: 'gone', reason: 'preempted', detail: `the pod was deleted${why ? ` (${why})` : ''}` };
  }
  const name = pod.metadata?.name ?? '?';
  if (uid && pod.metadata?.uid !== uid) return { rank, state: 'gone', reason: 'preempted', detail: `pod ${name} was deleted and replaced by another` };
  if (pod.metadata?.deletionTimestamp) {
    // Deletion asked for (graceful: the pod may run out its grace period); the same loss as gone.
    const why = disruptionOf(pod);
    return { rank, state: 'gone', reason: 'preempted', detail: `the pod was deleted${why ? ` (${why})` : ''}` };
  }
  const status = pod.status ?? {};
  if (status.phase === 'Failed') {
    const why = [status.reason, status.message].filter(Boolean).join(': ');
    return { rank, state: 'gone', reason: 'preempted', detail: `pod ${name} failed${why ? ` (${why})` : ''}` };
  }
  if (status.phase === 'Succeeded') return { rank, state: 'gone', reason: 'terminated', detail: `the container of pod ${name} exited` };
  const disruption = disruptionOf(pod);
  if (disruption) return { rank, state: 'gone', reason: 'preempted', detail: `pod ${name}: ${disruption}` };
  const node = pod.spec?.nodeName;
  if (node && nodes && !nodes.has(node)) return { rank, state: 'gone', reason: 'preempted', detail: `node ${node} of pod ${name} is gone` };
  if (status.phase === 'Unknown') return { rank, state: 'gone', reason: 'unreachable', detail: `pod ${name}: its node does not report` };
  return { rank, state: 'up' };
}

/** "PreemptionByScheduler: …" when the pod is marked for disruption (preemption, eviction, taint). */
function disruptionOf(pod: V1Pod): string | undefined {
  const c = pod.status?.conditions?.find((x) => x.type === 'DisruptionTarget' && x.status === 'True');
  if (c) return `${c.reason ?? 'disrupted'}${c.message ? `: ${c.message}` : ''}`;
  if (pod.status?.phase === 'Failed' && pod.status.reason) return `${pod.status.reason}${pod.status.message ? `: ${pod.status.message}` : ''}`;
  return undefined;
}
