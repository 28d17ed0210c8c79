// Task YAML text → TaskFile. Reads every document the way SkyPilot 0.14.1's
// load_chain_dag_from_yaml does (PyYAML scalars, pipeline header, empty documents skipped, envs
// substituted into file_mounts/workdir/volumes/service before those are checked), collects every
// problem (syntax, shape, cross-field) with its file position, and throws them together as one
// TaskSpecError. What SkyPilot accepts but Petrel will not run as written comes back as notices.
import { isMap, isPair, isScalar, LineCounter, parseAllDocuments, visit, type Document } from 'yaml';
import type { JobGroup, TaskFile, TaskSpec } from '../task.js';
import { buildTask, taskConflicts } from './build.js';
import { envText, parseEnvMap, parseSecrets, substituteDeep, substituteVars, substitutionVars } from './env.js';
import { TaskSpecError, type SpecError, type SpecNotice } from './errors.js';
import { issueProblems } from './issues.js';
import { JOB_GROUP_FIELDS, memberNames, readJobGroup } from './job-group.js';
import { launchProblems, unsupportedMounts } from './launch-checks.js';
import { fieldNotices } from './notices.js';
import { fieldPath, hasOwn, isPlainObject, showValue, type Notice, type PathSegment, type Problem } from './problems.js';
import { isPyFloatSource, pyyamlTags } from './pyyaml.js';
import { didYouMean } from './suggest.js';
import { taskShape, type TaskShape } from './task-schema.js';
import { lineColumn, locate } from './yaml-locations.js';

const MAX_ALIAS_COUNT = 100;
const HEADER_KEYS = ['name', 'execution', 'primary_tasks', 'termination_delay'];

/** A task file with what Petrel will ignore or refuse at launch (see notices.ts). */
export interface ParsedTaskFile extends TaskFile {
  notices: SpecNotice[];
}

/** Maps a problem path to where it is written (file_mounts keys may have been substituted). */
type PathMap = (path: PathSegment[]) => PathSegment[];
const samePath: PathMap = (p) => p;

class FileErrors {
  readonly errors: SpecError[] = [];
  readonly notices: SpecNotice[] = [];
  constructor(
    readonly file: string,
    readonly lineCounter: LineCounter,
  ) {}

  private where(offset: number): { file: string; line: number; column: number } {
    return { file: this.file, ...lineColumn(this.lineCounter, offset) };
  }

  at(offset: number, field: string, message: string): void {
    this.errors.push({ ...this.where(offset), field, message });
  }

  problems(doc: Document, problems: Problem[], map: PathMap = samePath): void {
    for (const p of problems) this.at(locate(doc, map(p.path), p.at), fieldPath(p.path), p.message);
  }

  notice(doc: Document, n: Notice, extra: Pick<SpecNotice, 'task' | 'derived'>, map: PathMap = samePath): void {
    this.notices.push({
      ...this.where(locate(doc, map(n.path), n.at)),
      field: fieldPath(n.path),
      message: n.message,
      effect: n.effect,
      ...(n.jobsOnly ? { jobsOnly: true } : {}),
      ...(extra.task !== undefined ? { task: extra.task } : {}),
      ...(extra.derived ? { derived: true } : {}),
    });
  }

  lineOf(doc: Document, path: PathSegment[]): number {
    return this.where(locate(doc, path)).line;
  }

  fileNotice(offset: number, message: string): void {
    this.notices.push({ ...this.where(offset), field: '', message, effect: 'warn' });
  }
}

/**
 * Numbers and booleans in envs/secrets become strings; take the text as written (`1.10`, not
 * `1.1`), which is what the user meant and what a shell would have seen. A `num_nodes` written as
 * a float (2.0) stays text, so it is refused as SkyPilot refuses it.
 */
function keepSourceText(doc: Document): void {
  if (!isMap(doc.contents)) return;
  for (const pair of doc.contents.items) {
    if (!isScalar(pair.key)) continue;
    const key = String(pair.key.value);
    const v = pair.value;
    if (key === 'num_nodes') keepFloatText(v);
    // PyYAML reads 30.0 as a float, which SkyPilot refuses as a duration; JS would see 30.
    if (key === 'termination_delay') {
      keepFloatText(v);
      if (isMap(v)) for (const entry of v.items) keepFloatText(entry.value);
    }
    if (!['envs', 'secrets'].includes(key) || !isMap(v)) continue;
    for (const entry of v.items) {
      const x = entry.value;
      if (isScalar(x) && (typeof x.value === 'number' || typeof x.value === 'boolean') && typeof x.source === 'string') {
        x.value = x.source;
      }
    }
  }
}

function keepFloatText(v: unknown): void {
  if (isScalar(v) && typeof v.value === 'number' && typeof v.source === 'string' && isPyFloatSource(v.source)) v.value = v.source;
}

/** Keys like `? [a, b]` would be silently stringified by toJS; reject them where they are. */
function complexKeys(doc: Document): number[] {
  const offsets: number[] = [];
  visit(doc, {
    Pair(_, pair) {
      if (isPair(pair) && pair.key !== null && !isScalar(pair.key)) {
        const r = (pair.key as { range?: [number, number, number] }).range;
        offsets.push(r ? r[0] : 0);
      }
    },
  });
  return offsets;
}

/** YAML can express things JSON cannot (recursive aliases, binary, .inf); find the first one. */
function nonJson(v: unknown, path: PathSegment[] = [], ancestors = new Set<unknown>()): { path: PathSegment[]; message: string } | undefined {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return undefined;
  if (typeof v === 'number') {
    return Number.isFinite(v) ? undefined : { path, message: `${String(v)} is not a usable number` };
  }
  if (Array.isArray(v) || isPlainObject(v)) {
    if (ancestors.has(v)) return { path, message: 'a YAML alias refers to itself; recursive structures are not allowed' };
    ancestors.add(v);
    const entries: Array<[PathSegment, unknown]> = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
    for (const [k, x] of entries) {
      const bad = nonJson(x, [...path, k], ancestors);
      if (bad) return bad;
    }
    ancestors.delete(v);
    return undefined;
  }
  return { path, message: `unsupported YAML value ${showValue(String(v))}; use plain strings, numbers, lists and mappings` };
}

interface Header {
  name?: string;
  execution?: 'serial' | 'parallel';
}

function readHeader(raw: Record<string, unknown>, doc: Document, out: FileErrors): Header {
  const problems: Problem[] = [];
  for (const k of Object.keys(raw)) {
    if (!HEADER_KEYS.includes(k)) {
      problems.push({ path: [k], at: 'key', message: `unknown field '${k}' in a header; allowed fields: ${HEADER_KEYS.join(', ')}${didYouMean(k, HEADER_KEYS)}` });
    }
  }
  // SkyPilot takes the pipeline name as written; a task name it contains is checked at launch.
  const name = raw.name === null || raw.name === undefined ? undefined : envText(raw.name);
  let execution: Header['execution'];
  if (raw.execution === 'serial' || raw.execution === 'parallel') {
    execution = raw.execution;
  } else if (hasOwn(raw, 'execution') && raw.execution !== null) {
    problems.push({
      path: ['execution'],
      message: `${showValue(raw.execution)} is not allowed; write execution: serial (lower case) for a pipeline, or execution: parallel for a job group`,
    });
  }
  for (const k of JOB_GROUP_FIELDS) {
    if (hasOwn(raw, k) && execution !== 'parallel') {
      problems.push({ path: [k], at: 'key', message: 'only applies to execution: parallel (a job group); set that in this header or remove this field' });
    }
  }
  out.problems(doc, problems);
  return { ...(name !== undefined ? { name } : {}), ...(execution ? { execution } : {}) };
}

/**
 * With execution: parallel every task document needs a unique name, and primary_tasks and
 * termination_delay may only name those tasks (SkyPilot's dag_utils._load_job_group).
 */
function readGroup(
  header: { doc: Document; raw: Record<string, unknown> },
  taskDocs: ReadonlyArray<{ doc: Document; raw: unknown } | undefined | 'empty'>,
  out: FileErrors,
): JobGroup {
  const members = taskDocs.filter((d): d is { doc: Document; raw: unknown } => d !== undefined && d !== 'empty');
  const names = memberNames(
    members.map((m) => m.raw),
    (i) => out.lineOf(members[i]!.doc, ['name']),
  );
  for (const { doc, problem } of names.problems) out.problems(members[doc]!.doc, [problem]);
  // Documents with YAML errors were reported already; only a group with none at all is wrong here.
  if (taskDocs.every((d) => d === 'empty')) {
    out.problems(header.doc, [{ path: ['execution'], message: 'a job group needs at least one task document after this header (separate documents with ---)' }]);
  }
  const { group, problems } = readJobGroup(header.raw, names.known);
  out.problems(header.doc, problems);
  return group;
}

/**
 * SkyPilot: the first document is a header if it holds only `name` (with `execution`), or, in a
 * file of several documents, if it says `execution: parallel` (a job group, whatever else it holds).
 */
function isHeader(raw: unknown, documentCount: number): raw is Record<string, unknown> {
  if (!isPlainObject(raw)) return false;
  if (raw.execution === 'parallel' && documentCount > 1) return true;
  const keys = Object.keys(raw);
  if (keys.includes('execution') && keys.includes('name')) return true;
  return documentCount > 1 && keys.length === 1 && keys[0] === 'name';
}

/**
 * SkyPilot fills envs (after --env) and inline secrets into file_mounts (keys and values),
 * workdir, volumes and service before checking them. Returns the substituted mapping and a map
 * from each substituted file_mounts key back to the key as written (for error positions).
 */
function substituteRaw(raw: Record<string, unknown>): { raw: Record<string, unknown>; map: PathMap; duplicates: Notice[] } {
  const envs = raw.envs === undefined || raw.envs === null ? undefined : parseEnvMap(raw.envs);
  const secrets = raw.secrets === undefined || raw.secrets === null ? undefined : parseSecrets(raw.secrets);
  const vars = substitutionVars(envs?.ok ? envs.value : {}, secrets?.ok ? secrets.value : {});
  const out: Record<string, unknown> = { ...raw };
  const written = new Map<string, string>();
  const duplicates: Notice[] = [];
  if (isPlainObject(raw.file_mounts)) {
    const mounts: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(raw.file_mounts)) {
      const key = substituteVars(k, vars);
      if (hasOwn(mounts, key)) {
        duplicates.push({ path: ['file_mounts', k], at: 'key', effect: 'warn', message: `also mounts at ${showValue(key)} once envs are filled in; the later entry wins (as in SkyPilot)` });
      }
      written.set(key, k);
      mounts[key] = substituteDeep(v, vars);
    }
    out.file_mounts = mounts;
  }
  for (const k of ['workdir', 'volumes', 'service']) if (raw[k] !== undefined) out[k] = substituteDeep(raw[k], vars);
  const map: PathMap = (path) =>
    path[0] === 'file_mounts' && typeof path[1] === 'string' && written.has(path[1]) ? ['file_mounts', written.get(path[1])!, ...path.slice(2)] : path;
  return { raw: out, map, duplicates };
}

function readTask(original: unknown, doc: Document, out: FileErrors, index: number): TaskSpec | undefined {
  const problems: Problem[] = [];
  const { raw, map, duplicates } = isPlainObject(original) ? substituteRaw(original) : { raw: original, map: samePath, duplicates: [] };
  const r = taskShape.safeParse(raw, { reportInput: true });
  if (!r.success) problems.push(...r.error.issues.flatMap(issueProblems));
  problems.push(...taskConflicts(raw));
  if (r.success && problems.length === 0) {
    const built = buildTask(r.data as TaskShape);
    if (built.ok) {
      for (const n of [...duplicates, ...fieldNotices(raw as Record<string, unknown>)]) out.notice(doc, n, { task: index }, map);
      for (const p of [...launchProblems(built.value), ...unsupportedMounts(built.value)]) {
        out.notice(doc, { ...p, effect: 'refuse' }, { task: index, derived: true }, map);
      }
      return built.value;
    }
    problems.push(...built.problems);
  }
  out.problems(doc, problems, map);
  return undefined;
}

function emptyDocument(contents: unknown): boolean {
  return contents === null || contents === undefined || (isScalar(contents) && contents.value === null);
}

function parseUnchecked(text: string, file: string): ParsedTaskFile {
  const lineCounter = new LineCounter();
  const out = new FileErrors(file, lineCounter);
  const docs = parseAllDocuments(text, {
    lineCounter,
    merge: true,
    prettyErrors: false,
    logLevel: 'silent',
    uniqueKeys: true,
    schema: 'yaml-1.1',
    customTags: pyyamlTags,
  });
  const noTask = () => new TaskSpecError([{ file, line: 1, column: 1, field: '', message: "the file holds no task; write at least 'run:'" }]);
  if (docs.length === 0) throw noTask();

  const raws: Array<{ doc: Document; raw: unknown } | undefined | 'empty'> = docs.map((doc) => {
    if (doc.errors.length) {
      for (const e of doc.errors) out.at(e.pos[0], '', `YAML syntax error: ${e.message}`);
      return undefined;
    }
    if (emptyDocument(doc.contents)) return 'empty';
    const complex = complexKeys(doc);
    if (complex.length) {
      for (const offset of complex) out.at(offset, '', 'mapping keys must be plain strings, not lists or mappings');
      return undefined;
    }
    keepSourceText(doc);
    let raw: unknown;
    try {
      raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (e) {
      out.at(doc.range?.[0] ?? 0, '', `YAML error: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
    const bad = nonJson(raw);
    if (bad) {
      out.problems(doc, [{ path: bad.path, message: bad.message }]);
      return undefined;
    }
    return { doc, raw };
  });
  // As SkyPilot: a file whose documents are all empty (or `{}`) holds no task.
  const present = raws.filter((r): r is { doc: Document; raw: unknown } => r !== undefined && r !== 'empty');
  if (!out.errors.length && !present.some((r) => !(isPlainObject(r.raw) && Object.keys(r.raw).length === 0))) throw noTask();

  let pipelineName: string | undefined;
  let execution: Header['execution'];
  let jobGroup: JobGroup | undefined;
  let taskDocs = raws;
  const first = raws[0];
  const header = first !== undefined && first !== 'empty' && isHeader(first.raw, docs.length);
  if (header && isPlainObject(first.raw)) {
    ({ name: pipelineName, execution } = readHeader(first.raw, first.doc, out));
    taskDocs = raws.slice(1);
    if (execution === 'parallel') {
      jobGroup = readGroup({ doc: first.doc, raw: first.raw }, taskDocs, out);
    }
  }

  const tasks: TaskSpec[] = [];
  taskDocs.forEach((entry, i) => {
    const docIndex = raws.length - taskDocs.length + i;
    if (entry === 'empty') {
      out.fileNotice(docs[docIndex]!.range?.[0] ?? 0, `document ${docIndex + 1} is empty and is skipped (as SkyPilot does); remove the extra '---'`);
      return;
    }
    if (!entry) return;
    const task = readTask(entry.raw, entry.doc, out, tasks.length);
    if (task) tasks.push(task);
  });
  // A header alone is a task with that name (SkyPilot); a header before empty documents is none.
  if (header && taskDocs.length === 0 && execution !== 'parallel') {
    const task: TaskSpec = pipelineName === undefined ? emptyTask() : { ...emptyTask(), name: pipelineName };
    for (const p of launchProblems(task)) out.notice(first.doc, { ...p, effect: 'refuse' }, { task: 0, derived: true });
    tasks.push(task);
  }
  if (out.errors.length) {
    throw new TaskSpecError([...out.errors].sort((a, b) => a.line - b.line || a.column - b.column));
  }
  if (tasks.length === 0) out.fileNotice(first && first !== 'empty' ? (first.doc.range?.[0] ?? 0) : 0, 'the pipeline holds no task (only empty documents follow the header); launch has nothing to run');
  const notices = [...out.notices].sort((a, b) => a.line - b.line || a.column - b.column);
  return {
    ...(pipelineName !== undefined ? { pipelineName } : {}),
    ...(execution ? { execution } : {}),
    ...(jobGroup ? { jobGroup } : {}),
    tasks,
    notices,
  };
}

function emptyTask(): TaskSpec {
  const built = buildTask({} as TaskShape);
  if (!built.ok) throw new Error('an empty task must build');
  return built.value;
}

/** Parses a task file and reports what SkyPilot accepts but Petrel ignores or refuses at launch. */
export function readTaskYaml(text: string, file: string): ParsedTaskFile {
  const name = typeof file === 'string' && file !== '' ? file : '<task>';
  if (typeof text !== 'string') {
    throw new TaskSpecError([{ file: name, line: 0, column: 0, field: '', message: `expected YAML text, got ${showValue(text)}` }]);
  }
  try {
    return parseUnchecked(text, name);
  } catch (e) {
    if (e instanceof TaskSpecError) throw e;
    // Last line of defence: callers rely on TaskSpecError being the only thing thrown.
    const why = e instanceof Error ? e.message : String(e);
    throw new TaskSpecError([{ file: name, line: 0, column: 0, field: '', message: `cannot read this task file: ${why}` }]);
  }
}

export function parseTaskYaml(text: string, file: string): TaskFile {
  const { notices: _notices, ...taskFile } = readTaskYaml(text, file);
  return taskFile;
}
