// zod issues → Problems. Most messages were written by our validators already; this adds the
// per-key "unknown field" messages and the generic fallbacks.
import type { z } from 'zod';
import { showValue, type PathSegment, type Problem } from './problems.js';
import { UNKNOWN_KEYS_TAG, unknownKeyMessage, type UnknownKeyInfo } from './zod-kit.js';

function segments(path: readonly PropertyKey[]): PathSegment[] {
  return path.map((s) => (typeof s === 'number' ? s : String(s)));
}

function unknownKeyInfo(message: string): UnknownKeyInfo | undefined {
  if (!message.startsWith(UNKNOWN_KEYS_TAG)) return undefined;
  try {
    return JSON.parse(message.slice(UNKNOWN_KEYS_TAG.length)) as UnknownKeyInfo;
  } catch {
    return undefined;
  }
}

export function issueProblems(issue: z.core.$ZodIssue): Problem[] {
  const path = segments(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const info = unknownKeyInfo(issue.message) ?? { what: 'fields', allowed: [] };
    return issue.keys.map((k) => ({ path: [...path, k], at: 'key' as const, message: unknownKeyMessage(k, info) }));
  }
  const at = (issue as { params?: { at?: 'key' | 'value' } }).params?.at;
  const input = (issue as { input?: unknown }).input;
  let message = issue.message;
  if (issue.code === 'invalid_type' && input === undefined) {
    message = `missing required field '${String(path[path.length - 1] ?? '')}'`;
  } else if (issue.code !== 'custom' && !message.includes(showValue(input))) {
    message = `${message} (got ${showValue(input)})`;
  }
  return [at ? { path, message, at } : { path, message }];
}
