// Messages between job workflows, watcher workflows and the watcher activity.
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { PhaseUpdate, WatchEntry } from '../core/phase-watch.js';

/** From the activity that started a phase: watch it (idempotent by workflow id and key). */
export const watchPhaseSignal = defineSignal<[WatchEntry]>('watchPhase');
/** From the activity that finished a phase: stop watching it. */
export const unwatchPhaseSignal = defineSignal<[{ workflowId: string; key: string }]>('unwatchPhase');

export type WatchChanges =
  | { version: number; full: WatchEntry[] }
  | { version: number; changes: ({ added: WatchEntry } | { removed: string })[] };

/** The watch set changes after `since` (the whole set when `since` is too old or -1). */
export const watchChangesQuery = defineQuery<WatchChanges, [number]>('watchChanges');

/** From the watcher activity to a job's (or cluster's) workflow: what happened to a phase. */
export const phaseUpdateSignal = defineSignal<[PhaseUpdate]>('phaseUpdate');
