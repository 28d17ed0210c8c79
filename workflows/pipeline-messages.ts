// Messages between a pipeline (or job group) workflow and its steps, and its query.
// Sandbox-safe: the CLI imports the query too.
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { GroupHosts, PipelineView, StepProgress } from './pipeline-types.js';

export const pipelineStatusQuery = defineQuery<PipelineView>('pipelineStatus');
/** step → pipeline: the step's status changed (and where its nodes are) */
export const stepProgressSignal = defineSignal<[StepProgress]>('stepProgress');
/** job group → member: the group's hostnames, whenever a member's nodes change */
export const groupHostsSignal = defineSignal<[GroupHosts]>('groupHosts');
