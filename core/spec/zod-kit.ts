// Glue between the pure validators and zod. zod gives us strict object shapes, arrays and the
// issue paths; the validators give the messages (which must quote the bad value and say what is
// allowed — zod's stock messages do neither).
import { z } from 'zod';
import { didYouMean } from './suggest.js';
import { isPlainObject, showValue, type Parsed, type Problem } from './problems.js';

/** Marks unknown-key issues so the issue mapper can rebuild one message per key. */
export const UNKNOWN_KEYS_TAG = 'petrel:unknown-keys:';

export interface UnknownKeyInfo {
  /** what the mapping is, for the "expected a mapping" message */
  what: string;
  allowed: string[];
  /** fields that belong elsewhere, e.g. `accelerators` at top level → "move it under resources:" */
  misplaced?: Record<string, string>;
}

type Ctx = z.core.$RefinementCtx<unknown>;

function report(ctx: Ctx, input: unknown, problems: Problem[]): void {
  for (const p of problems) {
    ctx.addIssue({ code: 'custom', message: p.message, path: p.path, input, ...(p.at ? { params: { at: p.at } } : {}) });
  }
}

/**
 * A field validated by a pure parser. Absent keys stay absent (zod keys are required unless the
 * schema is `.optional()`); `null` is treated as absent too unless the parser wants to see it
 * (ports: null, image_id: null).
 */
export function field<T>(parse: (v: unknown) => Parsed<T>, opts: { seeNull?: boolean } = {}) {
  return z.unknown().transform((v, ctx): T | undefined => {
    if (v === undefined || (v === null && !opts.seeNull)) return undefined;
    const r = parse(v);
    if (r.ok) return r.value;
    report(ctx, v, r.problems);
    return z.NEVER;
  }).optional();
}

/** A field that always fails with a specific message (unsupported or deprecated features). */
export function rejected(message: string) {
  return z.unknown().transform((v, ctx) => {
    if (v === undefined) return undefined;
    ctx.addIssue({ code: 'custom', message, input: v, params: { at: 'key' } });
    return z.NEVER;
  }).optional();
}

export function strictShape<S extends z.core.$ZodLooseShape>(shape: S, info: Omit<UnknownKeyInfo, 'allowed'> & { allowed?: string[] }) {
  const payload: UnknownKeyInfo = { ...info, allowed: info.allowed ?? Object.keys(shape) };
  return z.strictObject(shape, {
    error: (iss) =>
      iss.code === 'unrecognized_keys'
        ? UNKNOWN_KEYS_TAG + JSON.stringify(payload)
        : `expected a mapping of ${info.what}, got ${showValue(iss.input)}`,
  });
}

/** Run a zod schema inside a transform and pass its issues up with relative paths intact. */
export function nested<T>(schema: z.ZodType<T>, input: unknown, ctx: Ctx): { ok: true; data: T } | { ok: false } {
  const r = schema.safeParse(input, { reportInput: true });
  if (r.success) return { ok: true, data: r.data };
  // The issues are already final; re-adding them as raw issues keeps message, code and keys.
  for (const issue of r.error.issues) ctx.issues.push({ ...issue } as unknown as z.core.$ZodRawIssue);
  return { ok: false };
}

/** A value that is either a scalar shorthand or a strict mapping (job_recovery, autostop, …). */
export function scalarOrShape<T, O>(scalar: (v: unknown) => Parsed<T>, shape: z.ZodType<O>, fromShape: (o: O) => T) {
  return z.unknown().transform((v, ctx): T | undefined => {
    if (v === undefined || v === null) return undefined;
    if (isPlainObject(v)) {
      const out = nested(shape, v, ctx);
      return out.ok ? fromShape(out.data) : z.NEVER;
    }
    const r = scalar(v);
    if (r.ok) return r.value;
    report(ctx, v, r.problems);
    return z.NEVER;
  }).optional();
}

export function unknownKeyMessage(key: string, info: UnknownKeyInfo): string {
  const moved = info.misplaced?.[key];
  if (moved) return `'${key}' ${moved}`;
  return `unknown field '${key}'; allowed fields: ${info.allowed.join(', ')}${didYouMean(key, info.allowed)}`;
}

/**
 * A field that must be present; when missing the error points at the parent key. (Absent keys
 * never reach the transform: zod reports them as invalid_type, which issues.ts words the same.)
 */
export function required<T>(name: string, parse: (v: unknown) => Parsed<T>) {
  return z.unknown().transform((v, ctx): T => {
    if (v === undefined || v === null) {
      ctx.addIssue({ code: 'custom', input: v, message: `missing required field '${name}'` });
      return z.NEVER;
    }
    const r = parse(v);
    if (r.ok) return r.value;
    report(ctx, v, r.problems);
    return z.NEVER;
  });
}

/** An optional nested mapping (`null` counts as absent). */
export function optionalShape<T>(schema: z.ZodType<T>) {
  return z.unknown().transform((v, ctx): T | undefined => {
    if (v === undefined || v === null) return undefined;
    const r = nested(schema, v, ctx);
    return r.ok ? r.data : z.NEVER;
  }).optional();
}
