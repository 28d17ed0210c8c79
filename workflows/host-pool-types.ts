// Messages of the host-pool lease workflow, shared by the workflow and the activities.
import { defineQuery, defineUpdate } from '@temporalio/workflow';

export interface Lease {
  holder: string; // workflow id of the cluster or managed job
  cluster: string;
  since: string;
}

export interface AcquireRequest {
  holder: string;
  cluster: string;
  count: number;
  /** every host of the pool right now, in preference order (from the provider's config) */
  hosts: string[];
}

export type AcquireResult = { granted: true; hosts: string[] } | { granted: false; free: number; total: number };

export const acquireHostsUpdate = defineUpdate<AcquireResult, [AcquireRequest]>('acquire');
export const releaseHostsUpdate = defineUpdate<string[], [{ holder: string; cluster: string }]>('release');
export const leasesQuery = defineQuery<Record<string, Lease>>('leases');

export function hostPoolWorkflowId(cloud: string, region: string): string {
  return `pool/${cloud}/${region}`;
}
