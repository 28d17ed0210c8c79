// From a validated `resources:` mapping to the task's candidate list. SkyPilot semantics:
// any_of / ordered entries are merged over the base key by key (labels merged, not replaced),
// and several accelerators expand into one candidate each — a set unordered, a list ordered.
import { defaultResourceRequest, type ResourceRequest, type TaskSpec } from '../task.js';
import { compact, hasOwn, isPlainObject, type Parsed, type PathSegment, type Problem } from './problems.js';
import type { ResourceFields, ResourcesSpec } from './resources-schema.js';

type Candidates = TaskSpec['resources'];

const LEGACY_LOCATION = ['cloud', 'region', 'zone'] as const;

/**
 * Conflicts inside one mapping, checked on the raw YAML value so they are reported even when
 * other fields fail validation (zod skips object-level refinements once a child fails).
 */
export function resourceConflicts(raw: unknown, path: PathSegment[]): Problem[] {
  if (!isPlainObject(raw)) return [];
  const problems: Problem[] = [];
  const set = (k: string) => hasOwn(raw, k) && raw[k] !== null && raw[k] !== undefined;
  if (set('infra')) {
    for (const k of LEGACY_LOCATION) {
      if (set(k)) {
        problems.push({
          path: [...path, k],
          at: 'key',
          message: `cannot be combined with 'infra'; put everything in infra: CLOUD/REGION/ZONE (e.g. infra: aws/us-east-1)`,
        });
      }
    }
  }
  if (set('accelerators') && set('gpus')) {
    problems.push({ path: [...path, 'gpus'], at: 'key', message: "'gpus' is another name for 'accelerators'; set only one of them" });
  }
  if (set('any_of') && set('ordered')) {
    problems.push({
      path: [...path, 'ordered'],
      at: 'key',
      message: "cannot be combined with 'any_of'; use any_of to let Petrel pick the cheapest candidate, or ordered to try them in order",
    });
  }
  for (const list of ['any_of', 'ordered']) {
    const entries = raw[list];
    if (Array.isArray(entries)) entries.forEach((e, i) => problems.push(...resourceConflicts(e, [...path, list, i])));
  }
  return problems;
}

interface Merged {
  fields: ResourceFields;
  /** which mapping each key came from, to point conflicts at the right line */
  origin: Partial<Record<keyof ResourceFields, PathSegment[]>>;
}

function canonical(r: ResourceFields): ResourceFields {
  const { gpus, ...rest } = r;
  return gpus !== undefined && rest.accelerators === undefined ? { ...rest, accelerators: gpus } : rest;
}

function definedKeys(r: ResourceFields): Array<keyof ResourceFields> {
  return (Object.keys(r) as Array<keyof ResourceFields>).filter((k) => r[k] !== undefined);
}

function mergeEntry(base: ResourceFields, basePath: PathSegment[], entry: ResourceFields, entryPath: PathSegment[]): Merged {
  const fields: ResourceFields = {};
  const origin: Merged['origin'] = {};
  const assign = (r: ResourceFields, p: PathSegment[]) => {
    for (const k of definedKeys(r)) {
      (fields as Record<string, unknown>)[k] = r[k];
      origin[k] = p;
    }
  };
  assign(base, basePath);
  assign(entry, entryPath);
  if (base.labels && entry.labels) fields.labels = { ...base.labels, ...entry.labels };
  return { fields, origin };
}

function mergedConflicts(m: Merged): Problem[] {
  if (!m.fields.infra) return [];
  const infraFrom = JSON.stringify(m.origin.infra);
  const problems: Problem[] = [];
  for (const k of LEGACY_LOCATION) {
    const from = m.origin[k];
    if (from && JSON.stringify(from) !== infraFrom) {
      problems.push({
        path: [...from, k],
        at: 'key',
        message: `cannot be combined with 'infra' (set in ${pathText(m.origin.infra!)}); write the whole location here as infra: CLOUD/REGION/ZONE`,
      });
    }
  }
  return problems;
}

function pathText(p: PathSegment[]): string {
  return p.map((s, i) => (typeof s === 'number' ? `[${s}]` : i ? `.${s}` : s)).join('');
}

function toRequests(r: ResourceFields): ResourceRequest[] {
  const loc = r.infra ?? { cloud: r.cloud, region: r.region, zone: r.zone };
  const common: ResourceRequest = compact({
    ...defaultResourceRequest(),
    cloud: loc.cloud,
    region: loc.region,
    zone: loc.zone,
    cpus: r.cpus,
    memoryGb: r.memory,
    instanceType: r.instance_type,
    useSpot: r.use_spot ?? false,
    diskSizeGb: r.disk_size,
    diskTier: r.disk_tier,
    networkTier: r.network_tier,
    ports: r.ports ?? [],
    imageId: r.image_id ?? undefined,
    labels: r.labels ?? {},
    jobRecovery: r.job_recovery,
    autostop: r.autostop ?? undefined,
    priority: r.priority ?? 0,
  });
  const options = r.accelerators?.options ?? [{}];
  return options.map((o) => ({ ...common, ...o }));
}

/** JSON with sorted keys at every level, so equal requests built in any key order compare equal. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (isPlainObject(v)) {
    const keys = Object.keys(v).filter((k) => v[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

export function dedupe(candidates: ResourceRequest[]): ResourceRequest[] {
  const seen = new Set<string>();
  return candidates.filter((c) => {
    const key = canonicalJson(c);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export function buildCandidates(spec: ResourcesSpec | undefined, path: PathSegment[]): Parsed<Candidates> {
  if (!spec) return { ok: true, value: { candidates: [defaultResourceRequest()], ordered: false } };
  const { any_of: anyOf, ordered: orderedList, ...rest } = spec;
  const base = canonical(rest);
  const problems: Problem[] = [];
  const accelerators = base.accelerators;
  const accelPath = [...path, spec.accelerators !== undefined ? 'accelerators' : 'gpus'];
  const several = (accelerators?.options.length ?? 0) > 1;

  if (orderedList && several) {
    problems.push({
      path: accelPath,
      message: "several accelerators cannot be combined with 'ordered'; give each ordered entry its own accelerators",
    });
  }
  if (anyOf && several && accelerators?.kind === 'list') {
    problems.push({
      path: accelPath,
      message:
        "a list of accelerators means 'try in this order' and cannot be combined with 'any_of'; use a set such as {A100:1, V100:1} or move them into the any_of entries",
    });
  }

  const entries = anyOf ?? orderedList;
  const listName = anyOf ? 'any_of' : 'ordered';
  const merged: Merged[] = entries
    ? entries.map((e, i) => mergeEntry(base, path, canonical(e), [...path, listName, i]))
    : [{ fields: base, origin: {} }];
  for (const m of merged) problems.push(...mergedConflicts(m));

  // SkyPilot requires one recovery policy per task: it applies to the job, not to a candidate.
  const recoveries = merged.map((m) => JSON.stringify(m.fields.job_recovery ?? null));
  merged.forEach((m, i) => {
    if (recoveries[i] !== recoveries[0] && m.origin.job_recovery) {
      problems.push({
        path: [...m.origin.job_recovery, 'job_recovery'],
        message: 'every candidate must use the same job_recovery; set it once in the base resources',
      });
    }
  });
  if (problems.length) return { ok: false, problems };

  const candidates = dedupe(merged.flatMap((m) => toRequests(m.fields)));
  const ordered = orderedList !== undefined || (!entries && accelerators?.kind === 'list' && candidates.length > 1);
  return { ok: true, value: { candidates, ordered } };
}
