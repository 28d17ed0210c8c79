// A small JSON-Schema checker for the sections Petrel accepts from SkyPilot but does not model
// field by field (service, pool, config, storage config, …). It knows the keywords SkyPilot's
// schemas use (see skypilot-schemas.ts) and words each problem the way the rest of core/spec
// does: what was wrong, and what is allowed.
import { didYouMean } from './suggest.js';
import { isPlainObject, showValue, type PathSegment, type Problem } from './problems.js';

export type JsonType = 'string' | 'integer' | 'number' | 'boolean' | 'object' | 'array' | 'null';

export interface JsonSchema {
  type?: JsonType | JsonType[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  patternProperties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minProperties?: number;
  maxProperties?: number;
  minLength?: number;
  maxLength?: number;
  enum?: unknown[];
  /** SkyPilot's custom keywords */
  case_insensitive_enum?: string[];
  case_sensitive_enum?: string[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  pattern?: string;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  not?: JsonSchema;
}

const TYPE_WORDS: Record<JsonType, string> = {
  string: 'a string',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
  null: 'nothing (null)',
};

function typeOf(v: unknown): JsonType | undefined {
  if (v === null) return 'null';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  if (Array.isArray(v)) return 'array';
  if (isPlainObject(v)) return 'object';
  return undefined;
}

function typeMatches(v: unknown, t: JsonType): boolean {
  const actual = typeOf(v);
  return actual === t || (t === 'number' && actual === 'integer');
}

function types(s: JsonSchema): JsonType[] | undefined {
  if (s.type === undefined) return undefined;
  return Array.isArray(s.type) ? s.type : [s.type];
}

function accepts(s: JsonSchema, v: unknown): boolean {
  const ts = types(s);
  return ts === undefined || ts.some((t) => typeMatches(v, t));
}

function describe(ss: JsonSchema[]): string {
  const words = ss.flatMap((s) => {
    const ts = types(s);
    if (!ts) return ['a value'];
    return ts.map((t) => (s.enum ? `one of ${s.enum.map((x) => showValue(x)).join(', ')}` : TYPE_WORDS[t]));
  });
  const unique = [...new Set(words)];
  return unique.length <= 1 ? (unique[0] ?? 'a value') : `${unique.slice(0, -1).join(', ')} or ${unique[unique.length - 1]}`;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Problems of `value` against `schema`, with paths relative to `value`. */
export function checkSchema(schema: JsonSchema, value: unknown, path: PathSegment[] = []): Problem[] {
  const branches = schema.anyOf ?? schema.oneOf;
  if (branches) {
    const fitting = branches.filter((b) => accepts(b, value));
    if (fitting.length === 0) return [{ path, message: `expected ${describe(branches)}, got ${showValue(value)}` }];
    let first: Problem[] | undefined;
    for (const b of fitting) {
      const problems = checkSchema(b, value, path);
      if (problems.length === 0) return checkRest(schema, value, path);
      first ??= problems;
    }
    return first!;
  }
  return checkRest(schema, value, path);
}

function checkRest(s: JsonSchema, v: unknown, path: PathSegment[]): Problem[] {
  const ts = types(s);
  if (ts && !ts.some((t) => typeMatches(v, t))) {
    const hint = (typeof v === 'number' || typeof v === 'boolean') && ts.includes('string') ? ` (quote it: '${String(v)}')` : '';
    return [{ path, message: `expected ${describe([s])}, got ${showValue(v)}${hint}` }];
  }
  const problems: Problem[] = [];
  const fail = (message: string, at: PathSegment[] = path, key = false) =>
    problems.push(key ? { path: at, message, at: 'key' } : { path: at, message });

  if (s.enum && !s.enum.some((x) => sameJson(x, v))) fail(`${showValue(v)} is not allowed; expected one of: ${s.enum.join(', ')}`);
  if (s.case_sensitive_enum && !s.case_sensitive_enum.includes(v as string)) {
    fail(`${showValue(v)} is not allowed; expected one of: ${s.case_sensitive_enum.join(', ')}`);
  }
  if (s.case_insensitive_enum && typeof v === 'string' && !s.case_insensitive_enum.some((x) => x.toLowerCase() === v.toLowerCase())) {
    fail(`${showValue(v)} is not allowed; expected one of: ${s.case_insensitive_enum.join(', ')}`);
  }
  if (typeof v === 'number') {
    if (s.minimum !== undefined && v < s.minimum) fail(`${v} is too small; expected at least ${s.minimum}`);
    if (s.maximum !== undefined && v > s.maximum) fail(`${v} is too large; expected at most ${s.maximum}`);
    if (s.exclusiveMinimum !== undefined && !(v > s.exclusiveMinimum)) fail(`${v} is too small; expected more than ${s.exclusiveMinimum}`);
  }
  if (typeof v === 'string') {
    if (s.pattern !== undefined && !new RegExp(s.pattern).test(v)) fail(`${showValue(v)} does not have the expected form (${s.pattern})`);
    if (s.minLength !== undefined && v.length < s.minLength) fail(s.minLength === 1 ? 'must not be empty' : `must be at least ${s.minLength} characters`);
    if (s.maxLength !== undefined && v.length > s.maxLength) fail(`is longer than ${s.maxLength} characters`);
  }
  if (Array.isArray(v)) {
    if (s.minItems !== undefined && v.length < s.minItems) fail(`expected at least ${s.minItems} item${s.minItems === 1 ? '' : 's'}`);
    if (s.maxItems !== undefined && v.length > s.maxItems) fail(`expected at most ${s.maxItems} items`);
    if (s.uniqueItems) {
      v.forEach((x, i) => {
        if (v.findIndex((y) => sameJson(x, y)) < i) fail(`${showValue(x)} is listed twice; list each value once`, [...path, i]);
      });
    }
    if (s.items) v.forEach((x, i) => problems.push(...checkSchema(s.items!, x, [...path, i])));
  }
  if (isPlainObject(v)) {
    const keys = Object.keys(v);
    if (s.minProperties !== undefined && keys.length < s.minProperties) fail(`expected at least ${s.minProperties} entr${s.minProperties === 1 ? 'y' : 'ies'}`);
    if (s.maxProperties !== undefined && keys.length > s.maxProperties) {
      fail(`expected at most ${s.maxProperties} entr${s.maxProperties === 1 ? 'y' : 'ies'}, got ${keys.length}`);
    }
    for (const r of s.required ?? []) if (!keys.includes(r)) fail(`missing required field '${r}'`);
    const known = Object.keys(s.properties ?? {});
    for (const k of keys) {
      const sub = s.properties?.[k];
      if (sub) {
        problems.push(...checkSchema(sub, v[k], [...path, k]));
        continue;
      }
      const byPattern = Object.entries(s.patternProperties ?? {}).filter(([p]) => new RegExp(p).test(k));
      if (byPattern.length) {
        for (const [, ps] of byPattern) problems.push(...checkSchema(ps, v[k], [...path, k]));
        continue;
      }
      const extra = s.additionalProperties;
      if (extra === false) {
        const allowed = known.length ? `allowed fields: ${known.join(', ')}${didYouMean(k, known)}` : 'no fields are allowed here';
        const patterns = Object.keys(s.patternProperties ?? {});
        fail(patterns.length ? `'${k}' does not have the expected form (${patterns.join(', ')})` : `unknown field '${k}'; ${allowed}`, [...path, k], true);
      } else if (extra && extra !== true) {
        problems.push(...checkSchema(extra, v[k], [...path, k]));
      }
    }
  }
  if (s.not && checkSchema(s.not, v, path).length === 0) {
    const forbidden = (s.not.anyOf ?? [s.not]).flatMap((x) => x.required ?? []);
    fail(forbidden.length ? `must not set ${forbidden.map((k) => `'${k}'`).join(' or ')}` : 'this value is not allowed here');
  }
  return problems;
}
