// SkyPilot's JobGroup header (`execution: parallel`): the rules of its dag_utils._load_job_group,
// as pure checks. Every task document needs a unique name, primary_tasks and termination_delay
// may only name those tasks, and delays are SkyPilot's TIME_PATTERN_SECONDS durations.
import type { JobGroup } from '../task.js';
import { fail, isPlainObject, ok, showValue, type Parsed, type Problem } from './problems.js';
import { closest } from './suggest.js';

/** SkyPilot checks group and task names character by character: alphanumeric, '-' or '_'. */
const GROUP_NAME = /^[A-Za-z0-9_-]+$/;
const NAME_RULE = "use only letters, digits, '-' and '_'";

const SECONDS_PER_UNIT: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
// Python's re.match with '$' also matches before one trailing newline (a `|` block scalar).
const DURATION = /^(\d+)([smhdw])?\n?$/i;
const DURATION_FORMS = "expected whole seconds or a number with s, m, h, d or w (e.g. 30, '30s', '5m', '1h')";

/** termination_delay as SkyPilot reads it: an integer (seconds) or NUMBER[s|m|h|d|w]. */
export function parseDelaySeconds(v: unknown): Parsed<number> {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return fail(`${v} is not a whole number; ${DURATION_FORMS}`);
    if (v < 0) return fail(`${v} is negative; ${DURATION_FORMS}`);
    return Number.isSafeInteger(v) ? ok(v) : fail(`${v} is too large; ${DURATION_FORMS}`);
  }
  if (typeof v === 'string') {
    const m = DURATION.exec(v);
    if (m) {
      const seconds = Number(m[1]) * SECONDS_PER_UNIT[(m[2] ?? 's').toLowerCase()]!;
      return Number.isSafeInteger(seconds) ? ok(seconds) : fail(`${showValue(v)} is too large; ${DURATION_FORMS}`);
    }
    if (/^\s*-/.test(v)) return fail(`${showValue(v)} is negative; ${DURATION_FORMS}`);
  }
  return fail(`${showValue(v)} is not a valid duration; ${DURATION_FORMS}`);
}

/** The group's own name: required, and used in hostnames, so only [A-Za-z0-9_-]. */
function groupNameProblems(header: Record<string, unknown>): Problem[] {
  const name = header.name;
  if (name === undefined || name === null) {
    return [{ path: ['name'], at: 'key', message: "a job group header (execution: parallel) needs a name, e.g. name: my-group" }];
  }
  if (typeof name !== 'string' || !GROUP_NAME.test(name)) {
    return [{ path: ['name'], message: `${showValue(name)} is not a valid job group name; ${NAME_RULE}` }];
  }
  return [];
}

export interface MemberNames {
  /** every name written as a string, valid or not, so one bad name does not cascade */
  known: string[];
  /** problems per task document, by its index in the list given */
  problems: Array<{ doc: number; problem: Problem }>;
}

/**
 * The names of a job group's task documents. `nameLine(i)` is the line of document i's name,
 * for the message about a later duplicate. Documents that are not mappings are skipped (the task
 * reader reports them), as are names that are not text (the task reader says so).
 */
export function memberNames(docs: readonly unknown[], nameLine: (doc: number) => number): MemberNames {
  const firstDoc = new Map<string, number>();
  const problems: MemberNames['problems'] = [];
  docs.forEach((raw, doc) => {
    if (!isPlainObject(raw)) return;
    const name = raw.name;
    if (name === undefined || name === null) {
      problems.push({ doc, problem: { path: ['name'], at: 'key', message: `every task of a job group (execution: parallel) needs a name; ${NAME_RULE}` } });
      return;
    }
    if (typeof name !== 'string') return;
    if (!GROUP_NAME.test(name)) {
      problems.push({ doc, problem: { path: ['name'], message: `${showValue(name)} is not a valid name for a task of a job group; ${NAME_RULE}` } });
    } else if (firstDoc.has(name)) {
      const message = `${showValue(name)} is already the name of the task at line ${nameLine(firstDoc.get(name)!)}; task names in a job group must be unique`;
      problems.push({ doc, problem: { path: ['name'], message } });
      return;
    }
    if (!firstDoc.has(name)) firstDoc.set(name, doc);
  });
  return { known: [...firstDoc.keys()], problems };
}

/** "no task named 'trainr' (did you mean 'trainer'?); the tasks are: trainer, eval" */
function unknownTask(what: string, name: string, known: readonly string[]): string {
  const near = closest(name, known);
  const hint = near === undefined ? '' : ` (did you mean '${near}'?)`;
  const listed = known.length ? `; the tasks are: ${known.join(', ')}` : '; the file names no task';
  return `${what} ${showValue(name)}${hint}${listed}`;
}

function readPrimaryTasks(v: unknown, known: readonly string[], problems: Problem[]): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) {
    problems.push({ path: ['primary_tasks'], message: `expected a list of task names, got ${showValue(v)}` });
    return undefined;
  }
  const seen = new Set<string>();
  v.forEach((entry: unknown, i) => {
    const path = ['primary_tasks', i];
    if (typeof entry !== 'string') problems.push({ path, message: `expected a task name, got ${showValue(entry)}` });
    else if (!known.includes(entry)) problems.push({ path, message: unknownTask('no task of this file is named', entry, known) });
    else if (seen.has(entry)) problems.push({ path, message: `${showValue(entry)} is listed twice; list each primary task once` });
    seen.add(String(entry));
  });
  // SkyPilot: an empty list means every task is primary, the same as leaving it out.
  return v.length ? (v as string[]) : undefined;
}

function readTerminationDelay(v: unknown, known: readonly string[], problems: Problem[]): JobGroup['terminationDelaySeconds'] {
  const delays = { default: 0, perTask: {} as Record<string, number> };
  if (v === undefined || v === null) return delays;
  if (!isPlainObject(v)) {
    const r = parseDelaySeconds(v);
    if (r.ok) delays.default = r.value;
    else problems.push(...r.problems.map((p) => ({ ...p, path: ['termination_delay'] })));
    return delays;
  }
  for (const [key, value] of Object.entries(v)) {
    if (key !== 'default' && !known.includes(key)) {
      problems.push({ path: ['termination_delay', key], at: 'key', message: unknownTask("keys are 'default' or task names; no task is named", key, known) });
      continue;
    }
    const r = parseDelaySeconds(value);
    if (!r.ok) problems.push(...r.problems.map((p) => ({ ...p, path: ['termination_delay', key] })));
    else if (key === 'default') delays.default = r.value;
    // defineProperty: a task may be named __proto__ ([A-Za-z0-9_-]), which plain assignment would swallow.
    else Object.defineProperty(delays.perTask, key, { value: r.value, enumerable: true, writable: true, configurable: true });
  }
  return delays;
}

/** The job-group settings of a parallel header, given the names its task documents carry. */
export function readJobGroup(header: Record<string, unknown>, known: readonly string[]): { group: JobGroup; problems: Problem[] } {
  const problems = groupNameProblems(header);
  const primaryTasks = readPrimaryTasks(header.primary_tasks, known, problems);
  const terminationDelaySeconds = readTerminationDelay(header.termination_delay, known, problems);
  const group: JobGroup = primaryTasks ? { primaryTasks, terminationDelaySeconds } : { terminationDelaySeconds };
  return { group, problems };
}

/** Header fields that only mean something with execution: parallel. */
export const JOB_GROUP_FIELDS = ['primary_tasks', 'termination_delay'] as const;
