// Why a task fits nowhere, in words a user can act on.
import type { Plan } from './optimizer.js';
import type { ResourceRequest } from './task.js';
import type { CheckResult } from './worker-ops.js';

export function describeInfeasible(plan: Plan & { disabled?: CheckResult[] }, candidates: readonly ResourceRequest[]): string {
  const lines = plan.infeasible.map((f) => {
    const c = candidates[f.candidate];
    const what = c ? describeCandidate(c) : `candidate ${f.candidate + 1}`;
    return `${what}: ${f.reason}${f.suggestions.length ? ` (did you mean ${f.suggestions.join(', ')}?)` : ''}`;
  });
  for (const d of plan.disabled ?? []) lines.push(`${d.provider} is not enabled on this worker: ${d.detail}`);
  return ['no infra can hold this task:', ...lines.map((l) => `  ${l}`)].join('\n');
}

function describeCandidate(c: ResourceRequest): string {
  const parts = [c.cloud ? [c.cloud, c.region, c.zone].filter(Boolean).join('/') : 'any infra'];
  for (const [name, count] of Object.entries(c.accelerators ?? {})) parts.push(`${name}:${count}`);
  if (c.instanceType) parts.push(c.instanceType);
  if (c.cpus) parts.push(`cpus=${c.cpus.value}${c.cpus.orMore ? '+' : ''}`);
  if (c.memoryGb) parts.push(`memory=${c.memoryGb.value}${c.memoryGb.orMore ? '+' : ''}GB`);
  if (c.useSpot) parts.push('spot');
  return parts.join(' ');
}
