// Names and ids that several layers must agree on.

export const TASK_QUEUE = 'petrel';

export const CLUSTER_NAME_PATTERN = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function clusterWorkflowId(clusterName: string): string {
  return `cluster/${clusterName}`;
}

export function validateClusterName(name: string): string | undefined {
  if (CLUSTER_NAME_PATTERN.test(name)) return undefined;
  return `invalid cluster name '${name}': use lower-case letters, digits and '-', starting with a letter, at most 63 characters`;
}

/**
 * The infra Petrel has a provider for (providers/registry.ts must register exactly these): the
 * CLI validates task resources against it without loading any provider.
 */
export const INFRA_NAMES = ['local', 'ssh', 'slurm', 'kubernetes', 'aws', 'gcp'] as const;
export type InfraName = (typeof INFRA_NAMES)[number];

/**
 * Infra whose clusters cannot be stopped and started again (a pod's files and processes end with
 * it, as in SkyPilot): autostop there must tear down (`-i N --down`).
 */
export const INFRA_WITHOUT_STOP: readonly InfraName[] = ['kubernetes'];
