// The post-parse functions take a TaskSpec from the caller; a malformed one (hand-built, or
// deserialised from somewhere else) should get a clear TaskSpecError rather than a TypeError.
import type { TaskSpec } from '../task.js';
import { TaskSpecError } from './errors.js';
import { isPlainObject, showValue } from './problems.js';

function problem(task: unknown): string | undefined {
  if (!isPlainObject(task)) return `expected a task (from parseTaskYaml or taskFromCommand), got ${showValue(task)}`;
  for (const k of ['envs', 'secrets', 'fileMounts', 'config', 'volumes']) {
    if (!isPlainObject(task[k])) return `task.${k} must be a mapping, got ${showValue(task[k])}`;
  }
  const res = task.resources;
  if (!isPlainObject(res) || !Array.isArray(res.candidates) || !res.candidates.every(isPlainObject)) {
    return `task.resources must be {candidates: [...], ordered}, got ${showValue(res)}`;
  }
  return undefined;
}

export function assertTaskShape(task: unknown, file: string): asserts task is TaskSpec {
  const why = problem(task);
  if (why) throw new TaskSpecError([{ file, line: 0, column: 0, field: '', message: why }]);
}
