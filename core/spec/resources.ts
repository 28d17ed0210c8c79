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
  // SkyPilot renames the alias before anything else, so even `accelerators:` left empty counts.
  if (hasOwn(raw, 'accelerators') && hasOwn(raw, 'gpus')) {
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

/** Kubernetes (GKE) TPU names; other TPU names are Cloud TPUs on GCP (SkyPilot's is_tpu_on_gke). */
const GKE_TPUS = ['tpu-v4-podslice', 'tpu-v5-lite-device', 'tpu-v5-lite-podslice', 'tpu-v5p-slice', 'tpu-v6e-slice'];

export function isTpu(name: string): boolean {
  return name.toLowerCase().includes('tpu');
}

function location(r: ResourceFields): { cloud?: string; region?: string; zone?: string } {
  return r.infra ?? { cloud: r.cloud, region: r.region, zone: r.zone };
}

function mergedConflicts(m: Merged): Problem[] {
  const problems: Problem[] = [];
  if (m.fields.infra) {
    const infraFrom = JSON.stringify(m.origin.infra);
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
  }
  const cloud = location(m.fields).cloud;
  // SkyPilot allows a zero memory request only on Slurm (it then leaves --mem out).
  if (m.fields.memory?.value === 0 && cloud !== 'slurm') {
    problems.push({ path: [...(m.origin.memory ?? []), 'memory'], message: "0 is not positive; memory: 0 is only allowed on Slurm (infra: slurm/…)" });
  }
  // SkyPilot's Resources._set_accelerators: TPUs belong to GCP or Kubernetes (GKE), and a TPU
  // VM has no separate instance type.
  for (const option of m.fields.accelerators?.options ?? []) {
    const name = Object.keys(option.accelerators ?? {})[0];
    if (name === undefined || !isTpu(name)) continue;
    const at = [...(m.origin.accelerators ?? []), 'accelerators'];
    if (cloud !== undefined && cloud !== 'gcp' && cloud !== 'kubernetes') {
      problems.push({ path: at, message: `'${name}' is a TPU; TPUs run only on GCP or Kubernetes (GKE), not on '${cloud}'` });
      continue;
    }
    const onGcp = cloud === 'gcp' || (cloud === undefined && !GKE_TPUS.includes(name));
    const tpuVm = m.fields.accelerator_args?.tpu_vm ?? true;
    if (onGcp && !GKE_TPUS.includes(name) && tpuVm && m.fields.instance_type !== undefined && m.fields.instance_type !== 'TPU-VM') {
      problems.push({
        path: [...(m.origin.instance_type ?? []), 'instance_type'],
        message: `a TPU VM ('${name}') takes no instance_type (got '${m.fields.instance_type}'); drop it, or set accelerator_args.tpu_vm: false for a TPU node`,
      });
    }
  }
  return problems;
}

function pathText(p: PathSegment[]): string {
  return p.map((s, i) => (typeof s === 'number' ? `[${s}]` : i ? `.${s}` : s)).join('');
}

function toRequests(r: ResourceFields): ResourceRequest[] {
  const loc = location(r);
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
    jobRecovery: r.job_recovery ?? undefined,
    autostop: r.autostop ?? undefined,
    priority: r.priority ?? 0,
  });
  const options = r.accelerators?.options ?? [{}];
  return options.map((o) => {
    const c = { ...common, ...o };
    // As SkyPilot does: a TPU with no cloud goes to GKE for GKE TPU names, otherwise to GCP.
    const name = Object.keys(o.accelerators ?? {})[0];
    if (c.cloud === undefined && name !== undefined && isTpu(name)) c.cloud = GKE_TPUS.includes(name) ? 'kubernetes' : 'gcp';
    return c;
  });
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
    : [{ fields: base, origin: Object.fromEntries(definedKeys(base).map((k) => [k, path])) }];
  for (const m of merged) problems.push(...mergedConflicts(m));

  // Different job_recovery values per candidate are refused by managed jobs only (notices.ts).
  if (problems.length) return { ok: false, problems };

  const candidates = dedupe(merged.flatMap((m) => toRequests(m.fields)));
  const ordered = orderedList !== undefined || (!entries && accelerators?.kind === 'list' && candidates.length > 1);
  return { ok: true, value: { candidates, ordered } };
}
