// envs/secrets maps and `${VAR}` substitution, as SkyPilot reads and applies them.
import { fail, isPlainObject, ok, showValue, type Parsed, type Problem } from './problems.js';

export const ENV_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function checkEnvName(name: string): Problem | undefined {
  if (ENV_NAME.test(name)) return undefined;
  return {
    path: [name],
    at: 'key',
    message: `${showValue(name)} is not a valid variable name; use letters, digits and '_', not starting with a digit`,
  };
}

/** Python's repr(), for values inside a list or mapping that SkyPilot turns into text. */
function pythonRepr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'string') return v.includes("'") && !v.includes('"') ? `"${v}"` : `'${v.replace(/'/g, "\\'")}'`;
  if (typeof v === 'number') return String(v);
  if (Array.isArray(v)) return `[${v.map(pythonRepr).join(', ')}]`;
  if (isPlainObject(v)) return `{${Object.entries(v).map(([k, x]) => `${pythonRepr(k)}: ${pythonRepr(x)}`).join(', ')}}`;
  return String(v);
}

/**
 * What SkyPilot's `str(value)` makes of an env/secret value. Scalars reach here already as the
 * text written in the YAML (see keepSourceText in parse.ts); lists and mappings become Python's
 * text for them, e.g. `[a, b]` → "['a', 'b']".
 */
export function envText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return pythonRepr(v);
}

/**
 * envs: values may be anything but a null placeholder becomes text, as in SkyPilot (`str(v)`);
 * null is a placeholder that --env must fill before launch. Names must be valid variable names.
 */
export function parseEnvMap(v: unknown): Parsed<Record<string, string | null>> {
  if (!isPlainObject(v)) return fail(`expected a mapping of NAME: value, got ${showValue(v)}`);
  const out: Record<string, string | null> = {};
  const problems: Problem[] = [];
  for (const [k, value] of Object.entries(v)) {
    const bad = checkEnvName(k);
    if (bad) problems.push(bad);
    else out[k] = value === null ? null : envText(value);
  }
  return problems.length ? { ok: false, problems } : ok(out);
}

const SECRET_REF = 'secrets:';
const SECRET_SCOPES = ['personal.', 'workspace.', 'global.'];

/** `secrets:workspace.HF_TOKEN` → HF_TOKEN (SkyPilot's _parse_secret_name). */
export function secretRefName(ref: string): { name: string; scope?: string } {
  const raw = ref.startsWith(SECRET_REF) ? ref.slice(SECRET_REF.length) : ref;
  const scope = SECRET_SCOPES.find((p) => raw.startsWith(p));
  return scope ? { name: raw.slice(scope.length), scope: scope.slice(0, -1) } : { name: raw };
}

/**
 * secrets: a mapping (inline values, or null for a value given with --secret at launch) or
 * SkyPilot's list of managed references (`- secrets:HF_TOKEN`). Petrel has no managed secret
 * store, so a reference becomes a null placeholder that --secret fills, like `HF_TOKEN: null`.
 * Names are not checked here (SkyPilot does not either); launch checks them.
 */
export function parseSecrets(v: unknown): Parsed<Record<string, string | null>> {
  const out: Record<string, string | null> = {};
  if (Array.isArray(v)) {
    const problems: Problem[] = [];
    v.forEach((item, i) => {
      if (typeof item !== 'string') problems.push({ path: [i], message: `expected a reference like 'secrets:HF_TOKEN', got ${showValue(item)}` });
      else if (!item.startsWith(SECRET_REF)) {
        problems.push({
          path: [i],
          message: `${showValue(item)} is not a secret reference; list items must be 'secrets:NAME' (for inline values use a mapping: NAME: value)`,
        });
      } else out[secretRefName(item).name] = null;
    });
    return problems.length ? { ok: false, problems } : ok(out);
  }
  if (!isPlainObject(v)) return fail(`expected a mapping of NAME: value or a list of 'secrets:NAME' references, got ${showValue(v)}`);
  const problems: Problem[] = [];
  for (const [k, value] of Object.entries(v)) {
    if (k.startsWith(SECRET_REF)) {
      if (value !== null) {
        problems.push({ path: [k], message: `a secret reference (${showValue(k)}) takes no value; drop the 'secrets:' prefix to give the value inline` });
      } else out[secretRefName(k).name] = null;
    } else out[k] = value === null ? null : envText(value);
  }
  return problems.length ? { ok: false, problems } : ok(out);
}

/** SkyPilot's pattern (task.py _fill_in_env_vars): `$VAR`, `${VAR}`, and its loose braces. */
const REFERENCE = /\$\{?\b([a-zA-Z_][a-zA-Z0-9_]*)\b\}?/g;

/**
 * Replaces `${VAR}` and `$VAR` with known values. Unknown names and null placeholders are left
 * as written, so a later --env can still fill them (see applyOverrides).
 */
export function substituteVars(s: string, vars: Record<string, string | null>): string {
  return s.replace(REFERENCE, (whole, name: string) => {
    const value = Object.prototype.hasOwnProperty.call(vars, name) ? vars[name] : undefined;
    return typeof value === 'string' ? value : whole;
  });
}

/** Names still referenced as `$VAR` / `${VAR}` in a string. */
export function referencedVars(s: string): string[] {
  return [...new Set([...s.matchAll(REFERENCE)].map((m) => m[1]!))];
}

/** Every string in a YAML value, mapping keys included (SkyPilot substitutes the JSON dump). */
export function substituteDeep(v: unknown, vars: Record<string, string | null>): unknown {
  if (typeof v === 'string') return substituteVars(v, vars);
  if (Array.isArray(v)) return v.map((x) => substituteDeep(x, vars));
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[substituteVars(k, vars)] = substituteDeep(x, vars);
    return out;
  }
  return v;
}

/** envs then secrets: a secret wins when both define a name, as in SkyPilot. */
export function substitutionVars(envs: Record<string, string | null>, secrets: Record<string, string | null>): Record<string, string | null> {
  const vars: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(envs)) vars[k] = v;
  for (const [k, v] of Object.entries(secrets)) if (v !== null || !(k in vars)) vars[k] = v;
  return vars;
}
