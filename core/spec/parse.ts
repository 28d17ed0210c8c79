// Task YAML text → TaskFile. Reads every document, collects every problem (syntax, shape,
// cross-field) with its file position, and throws them together as one TaskSpecError.
import { isMap, isPair, isScalar, LineCounter, parseAllDocuments, visit, type Document } from 'yaml';
import type { TaskFile, TaskSpec } from '../task.js';
import { buildTask, taskConflicts } from './build.js';
import { TaskSpecError, type SpecError } from './errors.js';
import { issueProblems } from './issues.js';
import { fieldPath, hasOwn, isPlainObject, showValue, type PathSegment, type Problem } from './problems.js';
import { parseEnum } from './scalars.js';
import { parseTaskName, taskShape, type TaskShape } from './task-schema.js';
import { lineColumn, locate } from './yaml-locations.js';

const MAX_ALIAS_COUNT = 100;
const HEADER_KEYS = ['name', 'execution', 'primary_tasks', 'termination_delay'];

class FileErrors {
  readonly errors: SpecError[] = [];
  constructor(
    readonly file: string,
    readonly lineCounter: LineCounter,
  ) {}

  at(offset: number, field: string, message: string): void {
    this.errors.push({ file: this.file, ...lineColumn(this.lineCounter, offset), field, message });
  }

  problems(doc: Document, problems: Problem[]): void {
    for (const p of problems) this.at(locate(doc, p.path, p.at), fieldPath(p.path), p.message);
  }
}

/**
 * Numbers and booleans in envs/secrets become strings; take the text as written (`1.10`, not
 * `1.1`), which is what the user meant and what a shell would have seen.
 */
function keepSourceText(doc: Document): void {
  if (!isMap(doc.contents)) return;
  for (const pair of doc.contents.items) {
    if (!isScalar(pair.key) || !['envs', 'secrets'].includes(String(pair.key.value)) || !isMap(pair.value)) continue;
    for (const entry of pair.value.items) {
      const v = entry.value;
      if (isScalar(v) && (typeof v.value === 'number' || typeof v.value === 'boolean') && typeof v.source === 'string') {
        v.value = v.source;
      }
    }
  }
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

function readHeader(raw: Record<string, unknown>, doc: Document, out: FileErrors): string | undefined {
  const problems: Problem[] = [];
  for (const k of Object.keys(raw)) {
    if (!HEADER_KEYS.includes(k)) {
      problems.push({ path: [k], at: 'key', message: `unknown field '${k}' in a pipeline header; allowed fields: name, execution` });
    }
  }
  let name: string | undefined;
  if (raw.name !== undefined && raw.name !== null) {
    const r = parseTaskName(raw.name);
    if (r.ok) name = r.value;
    else problems.push(...r.problems.map((p) => ({ ...p, path: ['name'] })));
  }
  if (hasOwn(raw, 'execution')) {
    const e = parseEnum(raw.execution, ['serial', 'parallel'] as const);
    if (!e.ok) problems.push(...e.problems.map((p) => ({ ...p, path: ['execution'] })));
    else if (e.value === 'parallel') {
      problems.push({
        path: ['execution'],
        message: "not supported by Petrel yet (SkyPilot's parallel JobGroups are planned); use execution: serial or drop it",
      });
    }
  }
  for (const k of ['primary_tasks', 'termination_delay']) {
    if (hasOwn(raw, k) && raw.execution !== 'parallel') {
      problems.push({ path: [k], at: 'key', message: 'only applies to execution: parallel, which Petrel does not support yet' });
    }
  }
  out.problems(doc, problems);
  return name;
}

function isHeader(raw: unknown, documentCount: number): raw is Record<string, unknown> {
  if (!isPlainObject(raw)) return false;
  const keys = Object.keys(raw);
  if (keys.includes('execution')) return true;
  return documentCount > 1 && keys.length === 1 && keys[0] === 'name';
}

function readTask(raw: unknown, doc: Document, out: FileErrors): TaskSpec | undefined {
  const problems: Problem[] = [];
  const r = taskShape.safeParse(raw, { reportInput: true });
  if (!r.success) problems.push(...r.error.issues.flatMap(issueProblems));
  problems.push(...taskConflicts(raw));
  if (r.success && problems.length === 0) {
    const built = buildTask(r.data as TaskShape);
    if (built.ok) return built.value;
    problems.push(...built.problems);
  }
  out.problems(doc, problems);
  return undefined;
}

function parseUnchecked(text: string, file: string): TaskFile {
  const lineCounter = new LineCounter();
  const out = new FileErrors(file, lineCounter);
  const docs = parseAllDocuments(text, {
    lineCounter,
    merge: true,
    prettyErrors: false,
    logLevel: 'silent',
    uniqueKeys: true,
  });
  if (docs.length === 0) {
    throw new TaskSpecError([{ file, line: 1, column: 1, field: '', message: "the file holds no task; write at least 'run:'" }]);
  }

  const raws: Array<{ doc: Document; raw: unknown } | undefined> = docs.map((doc, i) => {
    if (doc.errors.length) {
      for (const e of doc.errors) out.at(e.pos[0], '', `YAML syntax error: ${e.message}`);
      return undefined;
    }
    const contents = doc.contents;
    if (contents === null || (isScalar(contents) && contents.value === null)) {
      out.at(doc.range?.[0] ?? 0, '', `document ${i + 1} is empty; remove the extra '---' or put a task in it`);
      return undefined;
    }
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

  let pipelineName: string | undefined;
  let taskDocs = raws;
  const first = raws[0];
  if (first && isHeader(first.raw, docs.length)) {
    pipelineName = readHeader(first.raw, first.doc, out);
    taskDocs = raws.slice(1);
    if (taskDocs.length === 0) {
      out.at(first.doc.range?.[0] ?? 0, '', "a pipeline header must be followed by tasks, each in its own '---' document");
    }
  }

  const tasks: TaskSpec[] = [];
  for (const entry of taskDocs) {
    if (!entry) continue;
    const task = readTask(entry.raw, entry.doc, out);
    if (task) tasks.push(task);
  }
  if (out.errors.length) {
    throw new TaskSpecError([...out.errors].sort((a, b) => a.line - b.line || a.column - b.column));
  }
  return pipelineName !== undefined ? { pipelineName, tasks } : { tasks };
}

export function parseTaskYaml(text: string, file: string): TaskFile {
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
