// Accelerator requests in every SkyPilot spelling. The result keeps SkyPilot's distinction between
// a set (any of these, cheapest wins) and a list (try in this order), because that decides
// whether the task's candidates are `ordered`.
import { fail, isPlainObject, ok, showValue, type Parsed, type Problem } from './problems.js';
import { pythonFloat } from './scalars.js';

export interface AcceleratorOption {
  /** name → count; exactly one entry */
  accelerators?: Record<string, number>;
  /**
   * Memory-based demand, canonical `[manufacturer:]SIZE[+][:COUNT]` e.g. `80GB+`, `nvidia:80GB+:8`,
   * `48GB:2`. The optimizer expands it to concrete devices from its catalog (SkyPilot does the
   * same at parse time, but core/ has no catalog). Use parseAcceleratorMemory to read it.
   */
  acceleratorMemory?: string;
}

export interface AcceleratorChoice {
  /** single: one option; set: any of the options; list: options in preference order */
  kind: 'single' | 'set' | 'list';
  options: AcceleratorOption[];
}

export const ACCELERATOR_FORMS =
  'expected NAME, NAME:COUNT (e.g. A100:8), {NAME: COUNT}, a list or a set of those';

const MEMORY = /^(\d+)([GMT])B(\+?)$/i;
/** SkyPilot takes any name; Petrel keeps out whitespace and the characters of its set/list forms. */
const NAME = /^[^\s:,{}[\]]+$/;
const MANUFACTURER = /^[A-Za-z][A-Za-z0-9_-]*$/;
const COUNT = /^(\d+(\.\d*)?|\.\d+)$/;

function invalid(s: string): string {
  return `${showValue(s)} is not a valid accelerator; ${ACCELERATOR_FORMS}`;
}

function canonicalMemory(m: RegExpExecArray): string {
  return `${m[1]}${m[2]!.toUpperCase()}B${m[3]}`;
}

function parseCount(s: string, whole: string, integerOnly: boolean): Parsed<number> {
  // SkyPilot reads the count with Python's float() (so 1e1 is 10).
  const n = COUNT.test(s) ? Number(s) : pythonFloat(s);
  if (n === undefined) return fail(invalid(whole));
  if (!(n > 0) || !Number.isFinite(n)) {
    return fail(`${showValue(whole)} asks for ${s} accelerators; the count must be positive (fractions such as T4:0.5 are allowed)`);
  }
  if (integerOnly && !Number.isInteger(n)) {
    return fail(`${showValue(whole)}: the count of a memory-based request must be a whole number`);
  }
  return ok(n);
}

/** One accelerator spelled as a string: `A100`, `A100:8`, `T4:0.5`, `80GB+`, `nvidia:80GB+:8`, `48GB:2`. */
export function parseAcceleratorString(raw: string): Parsed<AcceleratorOption> {
  const s = raw.trim();
  if (s === '') return fail(invalid(raw));
  const parts = s.split(':').map((p) => p.trim());
  const mem = (i: number) => MEMORY.exec(parts[i] ?? '');
  if (parts.length === 3) {
    const m = mem(1);
    if (!m || !MANUFACTURER.test(parts[0]!)) {
      return fail(`${invalid(raw)}; a three-part value must be MANUFACTURER:MEMORY:COUNT (e.g. nvidia:80GB+:8)`);
    }
    const c = parseCount(parts[2]!, raw, true);
    if (!c.ok) return c;
    return ok({ acceleratorMemory: `${parts[0]!.toLowerCase()}:${canonicalMemory(m)}:${c.value}` });
  }
  if (parts.length === 2) {
    const first = mem(0);
    if (first) {
      const c = parseCount(parts[1]!, raw, true);
      if (!c.ok) return c;
      return ok({ acceleratorMemory: `${canonicalMemory(first)}:${c.value}` });
    }
    const second = mem(1);
    if (second) {
      if (!MANUFACTURER.test(parts[0]!)) return fail(invalid(raw));
      return ok({ acceleratorMemory: `${parts[0]!.toLowerCase()}:${canonicalMemory(second)}` });
    }
    if (!NAME.test(parts[0]!)) return fail(invalid(raw));
    const c = parseCount(parts[1]!, raw, false);
    if (!c.ok) return c;
    return ok({ accelerators: { [parts[0]!]: c.value } });
  }
  if (parts.length === 1) {
    const m = mem(0);
    if (m) return ok({ acceleratorMemory: canonicalMemory(m) });
    if (NAME.test(s)) return ok({ accelerators: { [s]: 1 } });
  }
  return fail(invalid(raw));
}

export interface AcceleratorMemory {
  manufacturer?: string;
  memoryGb: number;
  /** `80GB+`: at least this much memory per device */
  orMore: boolean;
  count: number;
}

const GB_PER_UNIT: Record<string, number> = { M: 1 / 1024, G: 1, T: 1024 };

/** Reads the canonical acceleratorMemory string back (for the optimizer). */
export function parseAcceleratorMemory(spec: string): AcceleratorMemory | undefined {
  const parts = spec.split(':');
  const memIndex = parts.findIndex((p) => MEMORY.test(p));
  if (memIndex < 0 || memIndex > 1 || parts.length > 3) return undefined;
  const m = MEMORY.exec(parts[memIndex]!)!;
  const manufacturer = memIndex === 1 ? parts[0] : undefined;
  const countText = parts[memIndex + 1];
  const count = countText === undefined ? 1 : Number(countText);
  if (!Number.isInteger(count) || count <= 0) return undefined;
  return {
    ...(manufacturer ? { manufacturer } : {}),
    memoryGb: Number(m[1]) * GB_PER_UNIT[m[2]!.toUpperCase()]!,
    orMore: m[3] === '+',
    count,
  };
}

function sameOption(a: AcceleratorOption, b: AcceleratorOption): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function collect(kind: 'set' | 'list', items: Array<{ text: string; path: (string | number)[] }>): Parsed<AcceleratorChoice> {
  const options: AcceleratorOption[] = [];
  const problems: Problem[] = [];
  for (const item of items) {
    const r = parseAcceleratorString(item.text);
    if (!r.ok) problems.push(...r.problems.map((p) => ({ ...p, path: [...item.path, ...p.path] })));
    else if (!options.some((o) => sameOption(o, r.value))) options.push(r.value);
  }
  if (problems.length) return { ok: false, problems };
  return ok({ kind: options.length === 1 ? 'single' : kind, options });
}

/** Splits `{A100:1, V100:1}` / `[A100:1, V100:1]` written as one string (quoted YAML or --gpus). */
function splitBracketed(s: string): { kind: 'set' | 'list'; items: string[] } | undefined {
  const t = s.trim();
  const kind = t.startsWith('{') && t.endsWith('}') ? 'set' : t.startsWith('[') && t.endsWith(']') ? 'list' : undefined;
  if (!kind) return undefined;
  return { kind, items: t.slice(1, -1).split(',').map((x) => x.trim()) };
}

export function parseAccelerators(v: unknown): Parsed<AcceleratorChoice> {
  if (typeof v === 'string') {
    const bracketed = splitBracketed(v);
    if (bracketed) {
      if (bracketed.items.every((x) => x === '')) return fail(`${showValue(v)} names no accelerator; ${ACCELERATOR_FORMS}`);
      return collect(bracketed.kind, bracketed.items.map((text) => ({ text, path: [] })));
    }
    const r = parseAcceleratorString(v);
    return r.ok ? ok({ kind: 'single', options: [r.value] }) : r;
  }
  if (Array.isArray(v)) {
    if (v.length === 0) return fail(`an empty list names no accelerator; ${ACCELERATOR_FORMS}`);
    const bad = v.findIndex((x) => typeof x !== 'string');
    if (bad >= 0) return fail(`list items must be strings like 'A100:8', got ${showValue(v[bad])}`, [bad]);
    return collect('list', (v as string[]).map((text, i) => ({ text, path: [i] })));
  }
  if (isPlainObject(v)) {
    const entries = Object.entries(v);
    if (entries.length === 0) return fail(`an empty mapping names no accelerator; ${ACCELERATOR_FORMS}`);
    const items: Array<{ text: string; path: string[] }> = [];
    for (const [name, count] of entries) {
      // `{A100:1, V100:1}` unquoted is a YAML flow mapping whose keys carry the counts and whose
      // values are null; SkyPilot reads it as a set, and so do we.
      if (count === null) items.push({ text: name, path: [name] });
      else if (typeof count === 'number') {
        if (!(count > 0) || !Number.isFinite(count)) {
          return fail(`${name}: ${count} is not a valid count; the count must be positive (fractions such as 0.5 are allowed)`, [name]);
        }
        items.push({ text: `${name}:${count}`, path: [name] });
      } else return fail(`the count of '${name}' must be a number, got ${showValue(count)}`, [name]);
    }
    return collect('set', items);
  }
  return fail(`expected an accelerator, got ${showValue(v)}; ${ACCELERATOR_FORMS}`);
}
