// Typed search-attribute keys for workflow code, built from the one list in core/.
import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributeUpdatePair } from '@temporalio/common';
import type { ClusterStatus } from '../core/cluster-state.js';
import type { ClusterWorkflowInput } from './cluster-types.js';

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
