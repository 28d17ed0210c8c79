// `checkpoint:` — Petrel's extension to the task YAML (SkyPilot rejects the field): a directory
// Petrel snapshots off the node while the job runs and restores onto the next attempt's nodes.
//   checkpoint:
//     path: ckpt          # in the node's own home directory (default: petrel-checkpoint)
//     interval: 10m       # how often (default 10m); also when the job ends or is preempted
//     keep: 3             # complete snapshots kept (default 3)
//     store: s3://bucket/prefix   # or gs://…, file:///dir; default: where the worker keeps them
import type { CheckpointSpec } from '../task.js';
import { parseDelaySeconds } from './job-group.js';
import { fail, ok, showValue, type Parsed } from './problems.js';
import { parseInteger, parseText } from './scalars.js';
import { field, strictShape } from './zod-kit.js';

export const DEFAULT_CHECKPOINT: Omit<CheckpointSpec, 'store'> = { path: 'petrel-checkpoint', intervalSeconds: 600, keep: 3 };

/** Relative to the node's home; `~/x` is read as `x` there (each node has its own home). */
function parsePath(v: unknown): Parsed<string> {
  const s = parseText(v, 'a directory');
  if (!s.ok) return s;
  const rel = s.value.replace(/^~\/?/, '').replace(/\/+$/, '');
  if (rel === '' || rel.startsWith('/') || rel.split('/').includes('..')) {
    return fail(`${showValue(v)} must be a directory inside the node's home (e.g. ckpt or ~/ckpt), not ${rel.startsWith('/') ? 'an absolute path' : 'the home itself or outside it'}`);
  }
  return ok(rel);
}

function parseInterval(v: unknown): Parsed<number> {
  const r = parseDelaySeconds(v);
  if (r.ok && r.value < 1) return fail(`${showValue(v)} is too short; snapshots need at least 1s between them`);
  return r;
}

function parseStore(v: unknown): Parsed<string> {
  const s = parseText(v, 'a store URL');
  if (!s.ok) return s;
  if (/^(s3|gs):\/\/[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](\/.*)?$/.test(s.value) || /^file:\/\/\/./.test(s.value)) return ok(s.value.replace(/\/+$/, ''));
  return fail(`${showValue(v)} is not a store; use s3://BUCKET[/PREFIX], gs://BUCKET[/PREFIX] or file:///DIR (or leave it out: the worker keeps the snapshots)`);
}

export const checkpointShape = strictShape(
  {
    path: field(parsePath),
    interval: field(parseInterval),
    keep: field((v) => parseInteger(v, { min: 1, max: 1000, what: 'how many complete snapshots to keep' })),
    store: field(parseStore),
  },
  { what: 'checkpoint fields' },
);

export interface CheckpointShape {
  path?: string;
  interval?: number;
  keep?: number;
  store?: string;
}

export function buildCheckpoint(shape: CheckpointShape): CheckpointSpec {
  return {
    path: shape.path ?? DEFAULT_CHECKPOINT.path,
    intervalSeconds: shape.interval ?? DEFAULT_CHECKPOINT.intervalSeconds,
    keep: shape.keep ?? DEFAULT_CHECKPOINT.keep,
    ...(shape.store ? { store: shape.store } : {}),
  };
}
