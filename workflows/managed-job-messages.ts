// Query of the managedJob workflow (sandbox-safe: the CLI imports it too).
import { defineQuery } from '@temporalio/workflow';
import type { ManagedJobView } from './managed-job-types.js';

export const managedJobStatusQuery = defineQuery<ManagedJobView>('status');
