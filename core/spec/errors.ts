// Public error types for task specs. Every problem a user can cause ends up as a SpecError so the
// CLI can print `file:line:col: field: message` lines that editors and terminals make clickable.

export interface SpecError {
  /** the YAML file, or the CLI flag (e.g. '--gpus') when the value came from the command line */
  file: string;
  /** 1-based; 0 when there is no position (CLI flags, checks on an already-parsed task) */
  line: number;
  column: number;
  /** dotted path of the offending field, e.g. `resources.any_of[1].cpus`; '' for YAML syntax errors */
  field: string;
  message: string;
}

export function formatSpecError(e: SpecError): string {
  // A flag already names the field the user typed, so repeating the YAML path would only confuse.
  if (e.file.startsWith('--')) return `${e.file}: ${e.message}`;
  const where = e.line > 0 ? `${e.file}:${e.line}:${e.column}` : e.file;
  return e.field ? `${where}: ${e.field}: ${e.message}` : `${where}: ${e.message}`;
}

/** A SpecNotice is a SpecError that does not stop validation (see Notice in problems.ts). */
export interface SpecNotice extends SpecError {
  effect: 'warn' | 'refuse';
  /** index of the task in the file; undefined for notices about the file as a whole */
  task?: number;
  /** refused only by managed-job launches (e.g. job_recovery differences between candidates) */
  jobsOnly?: boolean;
  /**
   * Derived from the parsed task (name, mount paths, unset variables, …) rather than from a
   * field as written; launch checks recompute these on the final task, after flags.
   */
  derived?: boolean;
}

/** `file:line:col: field: warning: …` for validate and launch output. */
export function formatSpecNotice(n: SpecNotice): string {
  const what = n.effect === 'refuse' ? `${n.jobsOnly ? 'jobs launch' : 'launch'} refuses this: ${n.message}` : n.message;
  return formatSpecError({ ...n, message: `warning: ${what}` });
}

export class TaskSpecError extends Error {
  readonly errors: SpecError[];

  constructor(errors: SpecError[]) {
    super(errors.map(formatSpecError).join('\n'));
    this.name = 'TaskSpecError';
    this.errors = errors;
  }
}
