// envs/secrets maps and `${VAR}` substitution.
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

/**
 * Values may be strings, numbers or booleans (coerced to text, as SkyPilot does) or null, a
 * placeholder that --env/--secret must fill before launch. The YAML reader hands numbers over in
 * their source spelling, so `VERSION: 1.10` stays "1.10".
 */
export function parseEnvMap(v: unknown, flag: '--env' | '--secret'): Parsed<Record<string, string | null>> {
  if (!isPlainObject(v)) return fail(`expected a mapping of NAME: value, got ${showValue(v)}`);
  const out: Record<string, string | null> = {};
  const problems: Problem[] = [];
  for (const [k, value] of Object.entries(v)) {
    const bad = checkEnvName(k);
    if (bad) problems.push(bad);
    else if (value === null || typeof value === 'string') out[k] = value;
    else if (typeof value === 'number' || typeof value === 'boolean') out[k] = String(value);
    else {
      problems.push({
        path: [k],
        message: `expected a string, a number, or nothing (to be filled with ${flag} ${k}=VALUE), got ${showValue(value)}`,
      });
    }
  }
  return problems.length ? { ok: false, problems } : ok(out);
}

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

/**
 * Replaces `${VAR}` and `$VAR` with known values. Unknown names and null placeholders are left
 * as written, so a later --env can still fill them (see applyOverrides).
 */
export function substituteVars(s: string, vars: Record<string, string | null>): string {
  return s.replace(REFERENCE, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!;
    const value = Object.prototype.hasOwnProperty.call(vars, name) ? vars[name] : undefined;
    return typeof value === 'string' ? value : whole;
  });
}

/** envs then secrets: a secret wins when both define a name, as in SkyPilot. */
export function substitutionVars(envs: Record<string, string | null>, secrets: Record<string, string | null>): Record<string, string | null> {
  const vars: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(envs)) vars[k] = v;
  for (const [k, v] of Object.entries(secrets)) if (v !== null || !(k in vars)) vars[k] = v;
  return vars;
}
