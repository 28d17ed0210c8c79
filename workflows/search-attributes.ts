// Typed search-attribute keys for workflow code, built from the one list in core/.
import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributeUpdatePair } from '@temporalio/common';
import type { ClusterStatus } from '../core/cluster-state.js';
import type { ManagedJobStatus } from '../core/managed-job-state.js';
import type { ClusterWorkflowInput } from './cluster-types.js';
import type { ManagedJobInput } from './managed-job-types.js';

export const SA = {
  kind: defineSearchAttributeKey('PetrelKind', SearchAttributeType.KEYWORD),
  cluster: defineSearchAttributeKey('PetrelCluster', SearchAttributeType.KEYWORD),
  jobId: defineSearchAttributeKey('PetrelJobId', SearchAttributeType.KEYWORD),
  jobName: defineSearchAttributeKey('PetrelJobName', SearchAttributeType.KEYWORD),
  status: defineSearchAttributeKey('PetrelStatus', SearchAttributeType.KEYWORD),
  infra: defineSearchAttributeKey('PetrelInfra', SearchAttributeType.KEYWORD),
  region: defineSearchAttributeKey('PetrelRegion', SearchAttributeType.KEYWORD),
  accelerator: defineSearchAttributeKey('PetrelAccelerator', SearchAttributeType.KEYWORD),
  useSpot: defineSearchAttributeKey('PetrelUseSpot', SearchAttributeType.BOOL),
  recoveries: defineSearchAttributeKey('PetrelRecoveries', SearchAttributeType.INT),
  user: defineSearchAttributeKey('PetrelUser', SearchAttributeType.KEYWORD),
};

export function clusterSearchAttributes(input: ClusterWorkflowInput, status: ClusterStatus): SearchAttributeUpdatePair[] {
  const accel = Object.entries(input.accelerators ?? {}).map(([n, c]) => `${n}:${c}`)[0];
  return [
    { key: SA.kind, value: 'cluster' },
    { key: SA.cluster, value: input.clusterName },
    { key: SA.status, value: status },
    { key: SA.infra, value: input.provider },
    { key: SA.region, value: input.region ?? null },
    { key: SA.accelerator, value: accel ?? null },
    { key: SA.useSpot, value: input.useSpot },
    { key: SA.user, value: input.user },
  ];
}

export function jobSearchAttributes(
  input: ManagedJobInput,
  status: ManagedJobStatus,
  where: { cloud?: string; region?: string } | undefined,
  recoveries: number,
): SearchAttributeUpdatePair[] {
  const first = input.candidates[0];
  const accel = Object.entries(first?.accelerators ?? {}).map(([n, c]) => `${n}:${c}`)[0];
  return [
    // A pipeline's steps are listed under their pipeline, not as jobs of their own.
    { key: SA.kind, value: input.step ? 'job-task' : 'job' },
    { key: SA.jobId, value: String(input.jobId) },
    { key: SA.jobName, value: input.name ?? null },
    { key: SA.status, value: status },
    { key: SA.infra, value: where?.cloud ?? first?.cloud ?? null },
    { key: SA.region, value: where?.region ?? null },
    { key: SA.accelerator, value: accel ?? null },
    { key: SA.useSpot, value: first?.useSpot ?? false },
    { key: SA.recoveries, value: recoveries },
    { key: SA.user, value: input.user },
  ];
}
