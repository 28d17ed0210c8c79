// The worker's checkpoint settings from config.yaml's `jobs:` section (the CLI checks their
// shape, cli/petrel-config.ts): one reading per change of the file, not one per snapshot.
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

export const DEFAULT_RETENTION_DAYS = 7;

export interface CheckpointSettings {
  /** where snapshots go when a task names no store */
  store: string;
  retentionDays: number;
}

const cache = new Map<string, { mtimeMs: number; settings: CheckpointSettings }>();

export function checkpointSettings(home: string): CheckpointSettings {
  const file = path.join(home, 'config.yaml');
  const mtimeMs = fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? -1;
  const hit = cache.get(home);
  if (hit && hit.mtimeMs === mtimeMs) return hit.settings;
  let jobs: { checkpoint_store?: unknown; checkpoint_retention_days?: unknown } = {};
  try {
    jobs = ((parse(fs.readFileSync(file, 'utf8')) ?? {}) as { jobs?: typeof jobs }).jobs ?? {};
  } catch {
    jobs = {};
  }
  const settings: CheckpointSettings = {
    store: typeof jobs.checkpoint_store === 'string' && jobs.checkpoint_store !== '' ? jobs.checkpoint_store : `file://${path.join(home, 'checkpoints', 'store')}`,
    retentionDays: typeof jobs.checkpoint_retention_days === 'number' && jobs.checkpoint_retention_days > 0 ? jobs.checkpoint_retention_days : DEFAULT_RETENTION_DAYS,
  };
  cache.set(home, { mtimeMs, settings });
  return settings;
}
