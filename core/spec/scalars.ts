// Scalar validators shared by the YAML schema and the CLI overrides, so a bad value gets the
// same explanation whichever way it arrived.
import { fail, ok, showValue, type Parsed } from './problems.js';

export function parseString(v: unknown, what = 'a string'): Parsed<string> {
  if (typeof v === 'string' && v.trim() !== '') return ok(v);
  if (typeof v === 'string') return fail(`must not be empty; expected ${what}`);
  const hint = typeof v === 'number' || typeof v === 'boolean' ? ` (quote it: '${String(v)}')` : '';
  return fail(`expected ${what}, got ${showValue(v)}${hint}`);
}

/** Like parseString but an empty string is fine (e.g. `run: ''`). */
export function parseText(v: unknown, what = 'a string'): Parsed<string> {
  if (typeof v === 'string') return ok(v);
  return fail(`expected ${what}, got ${showValue(v)}`);
}

export function parseBool(v: unknown): Parsed<boolean> {
  if (typeof v === 'boolean') return ok(v);
  // YAML 1.2 (what we parse) reads yes/no/on/off as strings, unlike PyYAML which SkyPilot uses.
  const hint = typeof v === 'string' && /^(yes|no|on|off|y|n)$/i.test(v.trim()) ? ' (write true or false)' : '';
  return fail(`expected true or false, got ${showValue(v)}${hint}`);
}

export interface IntRange {
  min?: number;
  max?: number;
  what?: string;
}

export function parseInteger(v: unknown, range: IntRange = {}): Parsed<number> {
  const what = range.what ?? describeRange(range);
  if (typeof v !== 'number' || !Number.isInteger(v)) return fail(`expected ${what}, got ${showValue(v)}`);
  if ((range.min !== undefined && v < range.min) || (range.max !== undefined && v > range.max)) {
    return fail(`${v} is out of range; expected ${what}`);
  }
  return ok(v);
}

function describeRange({ min, max }: IntRange): string {
  if (min !== undefined && max !== undefined) return `an integer from ${min} to ${max}`;
  if (min === 1) return 'a positive integer';
  if (min === 0) return 'an integer ≥ 0';
  if (min !== undefined) return `an integer ≥ ${min}`;
  return 'an integer';
}

/** Case-insensitive enum, normalised to the spelling in `values`. */
export function parseEnum<T extends string>(v: unknown, values: readonly T[]): Parsed<T> {
  const allowed = values.join(', ');
  if (typeof v === 'string') {
    const hit = values.find((x) => x.toLowerCase() === v.trim().toLowerCase());
    if (hit !== undefined) return ok(hit);
  }
  return fail(`${showValue(v)} is not allowed; expected one of: ${allowed}`);
}

const DIGITS = String.raw`\d(?:_?\d)*`;
const PY_FLOAT = new RegExp(String.raw`^[+-]?(?:(?:(?:${DIGITS})(?:\.(?:${DIGITS})?)?|\.${DIGITS})(?:[eE][+-]?${DIGITS})?|inf(?:inity)?|nan)$`, 'i');

/** Python's float() of a string (what SkyPilot applies to cpus, memory and counts); undefined if it raises. */
export function pythonFloat(s: string): number | undefined {
  const t = s.trim();
  if (!PY_FLOAT.test(t)) return undefined;
  const lower = t.toLowerCase().replace(/_/g, '');
  if (lower.endsWith('inf') || lower.endsWith('infinity')) return lower.startsWith('-') ? -Infinity : Infinity;
  if (lower.endsWith('nan')) return NaN;
  return Number(lower);
}
