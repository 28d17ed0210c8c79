// Validators are pure functions returning Parsed<T>. They know nothing about files or flags:
// a Problem carries a path relative to the value being checked, and the caller (YAML parser or
// CLI override code) decides where that path lives (file position or flag name).

export type PathSegment = string | number;

export interface Problem {
  path: PathSegment[];
  message: string;
  /** point at the mapping key instead of the value (unknown or misplaced fields, bad env names) */
  at?: 'key' | 'value';
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; problems: Problem[] };

/**
 * Something SkyPilot's parser accepts that Petrel does not run as written: 'warn' is accepted
 * and launched (the field is ignored or converted, and the user is told), 'refuse' is accepted
 * by `petrel validate` but refused by launch. `jobsOnly` refusals apply to managed jobs only.
 */
export interface Notice extends Problem {
  effect: 'warn' | 'refuse';
  jobsOnly?: boolean;
}

export function ok<T>(value: T): Parsed<T> {
  return { ok: true, value };
}

export function fail(message: string, path: PathSegment[] = [], at?: 'key' | 'value'): { ok: false; problems: Problem[] } {
  return { ok: false, problems: [at ? { path, message, at } : { path, message }] };
}

export function prefixProblems(prefix: PathSegment[], problems: Problem[]): Problem[] {
  return problems.map((p) => ({ ...p, path: [...prefix, ...p.path] }));
}

const PLAIN_SEGMENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** `['resources', 'any_of', 1, 'cpus']` → `resources.any_of[1].cpus`; odd keys are quoted. */
export function fieldPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (PLAIN_SEGMENT.test(seg)) out += out ? `.${seg}` : seg;
    else out += `['${seg}']`;
  }
  return out;
}

const MAX_SHOWN = 60;

/** How a bad value is quoted inside messages: strings in single quotes, the rest as JSON. */
export function showValue(v: unknown): string {
  if (typeof v === 'string') return `'${truncate(v)}'`;
  if (v === undefined) return 'nothing';
  if (v === null || typeof v === 'number' || typeof v === 'boolean') return String(v);
  try {
    return truncate(JSON.stringify(v) ?? String(v));
  } catch {
    return Array.isArray(v) ? 'a list' : 'a mapping';
  }
}

function truncate(s: string): string {
  return s.length > MAX_SHOWN ? `${s.slice(0, MAX_SHOWN - 1)}…` : s;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

export function hasOwn(o: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, key);
}

/** Drop keys whose value is undefined so results stay plain JSON and compare cleanly. */
export function compact<T extends object>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as T;
}
