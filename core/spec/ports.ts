// Ports to open: a port, an inclusive range "a-b", or a list of both. Kept as strings because a
// range is not a number and providers want to pass them through verbatim.
import { fail, ok, showValue, type Parsed, type Problem } from './problems.js';

const EXPECTED = "expected a port 1-65535, a range like '10022-10040', or a list of those";

function inRange(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

export function parsePort(v: unknown): Parsed<string> {
  if (typeof v === 'number') return inRange(v) ? ok(String(v)) : fail(`${v} is not a valid port; ${EXPECTED}`);
  if (typeof v === 'string') {
    const s = v.trim();
    const single = /^\d+$/.exec(s);
    if (single) return inRange(Number(s)) ? ok(String(Number(s))) : fail(`${showValue(v)} is not a valid port; ${EXPECTED}`);
    const range = /^(\d+)\s*-\s*(\d+)$/.exec(s);
    if (range) {
      const a = Number(range[1]);
      const b = Number(range[2]);
      if (!inRange(a) || !inRange(b)) return fail(`${showValue(v)} is outside 1-65535; ${EXPECTED}`);
      if (a > b) return fail(`${showValue(v)} is an empty range (start > end); ${EXPECTED}`);
      return ok(`${a}-${b}`);
    }
  }
  return fail(`${showValue(v)} is not a valid port; ${EXPECTED}`);
}

/** `null` means "no ports" explicitly, which matters when an any_of entry clears the base's ports. */
export function parsePorts(v: unknown): Parsed<string[]> {
  if (v === null) return ok([]);
  const items = Array.isArray(v) ? v : [v];
  const out: string[] = [];
  const problems: Problem[] = [];
  items.forEach((item, i) => {
    const r = parsePort(item);
    if (!r.ok) problems.push(...r.problems.map((p) => ({ ...p, path: Array.isArray(v) ? [i] : [] })));
    else if (!out.includes(r.value)) out.push(r.value);
  });
  return problems.length ? { ok: false, problems } : ok(out);
}
