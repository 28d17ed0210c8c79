// Update and query definitions of the cluster workflow (sandbox-safe: the CLI imports them too).
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { ClusterView, JobRequest, JobView } from './cluster-types.js';

export const clusterStatusQuery = defineQuery<ClusterView>('status');
export const submitJobUpdate = defineUpdate<{ jobId: number }, [JobRequest]>('submitJob');
export const cancelJobUpdate = defineUpdate<JobView, [number]>('cancelJob');
export const downUpdate = defineUpdate<void, []>('down');
export const setAutostopUpdate = defineUpdate<void, [{ idleMinutes: number; down: boolean } | null]>('setAutostop');
