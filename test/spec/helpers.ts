import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseTaskYaml, TaskSpecError, type SpecError } from '../../core/spec/index.js';
import type { TaskFile, TaskSpec } from '../../core/task.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/spec/', import.meta.url));

export function fixtureText(kind: 'valid' | 'invalid', name: string): string {
  return readFileSync(`${FIXTURES}${kind}/${name}`, 'utf8');
}

export function parseFixture(name: string): TaskFile {
  return parseTaskYaml(fixtureText('valid', name), name);
}

export function onlyTask(name: string): TaskSpec {
  const file = parseFixture(name);
  if (file.tasks.length !== 1) throw new Error(`${name}: expected one task, got ${file.tasks.length}`);
  return file.tasks[0]!;
}

/** Runs fn and returns the SpecErrors it threw; fails if it throws anything else or nothing. */
export function specErrors(fn: () => unknown): SpecError[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof TaskSpecError) return e.errors;
    throw new Error(`expected a TaskSpecError, got ${String(e)}`);
  }
  throw new Error('expected a TaskSpecError, but nothing was thrown');
}
