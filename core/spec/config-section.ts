// One section of $PETREL_HOME/config.yaml (`slurm:`, `kubernetes:`), read for a provider that
// reports every problem with its line and column (YamlProblems).
import { isScalar, type Document } from 'yaml';
import { isPlainObject, showValue } from './problems.js';
import type { YamlProblems } from './yaml-locations.js';

/**
 * The mapping under `key` ({} when there is none), or undefined when it cannot be read (the
 * problems are reported). `what` names the mapping for the message: "Kubernetes settings".
 */
export function readConfigSection(doc: Document, errors: YamlProblems, key: string, what: string): Record<string, unknown> | undefined {
  if (doc.errors.length) {
    for (const e of doc.errors) errors.raw(e.pos[0], `YAML syntax error: ${e.message}`);
    return undefined;
  }
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) return {};
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    errors.raw(0, `YAML error: ${(e as Error).message}`);
    return undefined;
  }
  if (!isPlainObject(raw)) {
    errors.raw(doc.range?.[0] ?? 0, `expected a mapping of settings, got ${showValue(raw)}`);
    return undefined;
  }
  const section = raw[key];
  if (section === undefined || section === null) return {};
  if (!isPlainObject(section)) {
    errors.problem({ path: [key], message: `expected a mapping of ${what}, got ${showValue(section)}` });
    return undefined;
  }
  return section;
}
