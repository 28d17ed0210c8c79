// Last checks before a task leaves the CLI, and the copy that is safe to log.
import type { TaskSpec } from '../task.js';
import { TaskSpecError, type SpecError } from './errors.js';
import { assertTaskShape } from './task-shape.js';

export const REDACTED = '<redacted>';

function guard<T>(file: string, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof TaskSpecError) throw e;
    const why = e instanceof Error ? e.message : String(e);
    throw new TaskSpecError([{ file, line: 0, column: 0, field: '', message: `cannot ${what}: ${why}` }]);
  }
}

/** Every env/secret left as a null placeholder must have been filled by --env/--secret. */
export function assertReadyToLaunch(task: TaskSpec, file: string): void {
  guard(String(file), 'check the task', () => {
    assertTaskShape(task, String(file));
    const errors: SpecError[] = [];
    for (const [kind, flag] of [['envs', '--env'], ['secrets', '--secret']] as const) {
      for (const [k, v] of Object.entries(task[kind])) {
        if (v === null || v === undefined) {
          errors.push({ file: String(file), line: 0, column: 0, field: `${kind}.${k}`, message: `no value; pass ${flag} ${k}=VALUE` });
        }
      }
    }
    if (errors.length) throw new TaskSpecError(errors);
  });
}

/**
 * A copy safe for logs, workflow memos and dry runs: secret values become '<redacted>', also
 * where `${SECRET}` was substituted into workdir or file_mounts. Unfilled (null) secrets stay
 * null so a dry run still shows what is missing.
 */
export function redactTask(task: TaskSpec): TaskSpec {
  return guard('<task>', 'redact the task', () => {
    assertTaskShape(task, '<task>');
    const copy = JSON.parse(JSON.stringify(task)) as TaskSpec;
    const values = Object.values(copy.secrets).filter((v): v is string => typeof v === 'string' && v !== '');
    // Longest first, so a secret that contains another is scrubbed whole.
    values.sort((a, b) => b.length - a.length);
    const scrub = (s: string) => values.reduce((acc, v) => acc.split(v).join(REDACTED), s);
    const scrubDeep = (v: unknown): unknown => {
      if (typeof v === 'string') return scrub(v);
      if (Array.isArray(v)) return v.map(scrubDeep);
      if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [scrub(k), scrubDeep(x)]));
      return v;
    };
    copy.secrets = Object.fromEntries(Object.entries(copy.secrets).map(([k, v]) => [k, v === null ? null : REDACTED]));
    if (values.length) {
      if (copy.workdir !== undefined) copy.workdir = scrubDeep(copy.workdir) as TaskSpec['workdir'];
      copy.fileMounts = scrubDeep(copy.fileMounts) as TaskSpec['fileMounts'];
    }
    return copy;
  });
}
