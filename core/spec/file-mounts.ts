// file_mounts: remote path → local path / bucket URI, or a storage (or volume) mapping. Values
// arrive here after envs were substituted (parse.ts), as in SkyPilot; a store or mode that still
// names an unset `$VAR` is left for launch to check (launch-checks.ts).
import { z } from 'zod';
import type { FileMount, GitWorkdir } from '../task.js';
import { referencedVars, substituteVars } from './env.js';
import { checkSchema } from './json-schema.js';
import { fail, isPlainObject, ok, showValue, type Parsed, type Problem } from './problems.js';
import { parseBool, parseEnum, parseText } from './scalars.js';
import { STORAGE_CONFIG } from './skypilot-schemas.js';
import { field, strictShape } from './zod-kit.js';

/** SkyPilot 0.14.1's StoreType. */
export const STORES = ['S3', 'GCS', 'AZURE', 'R2', 'IBM', 'OCI', 'NEBIUS', 'COREWEAVE', 'VASTDATA', 'HF', 'VOLUME'] as const;
export const MOUNT_MODES = ['MOUNT', 'COPY', 'MOUNT_CACHED'] as const;
/** SkyPilot's FileMountType: tuned MOUNT_CACHED presets. */
export const FILE_MOUNT_TYPES = ['MODEL_CHECKPOINT_RO', 'MODEL_CHECKPOINT_RW', 'DATASET_RO', 'DATASET_RW'] as const;
/** Where SkyPilot (and Petrel) put the workdir on every node. */
export const WORKDIR_TARGET = '~/sky_workdir';

const hasVar = (v: unknown): boolean => typeof v === 'string' && referencedVars(v).length > 0;

/** An enum value, or text that still names an unset `$VAR` (checked at launch, once it is set). */
function enumOrVar<T extends string>(values: readonly T[]) {
  return (v: unknown): Parsed<T | string> => (hasVar(v) ? ok(v as string) : parseEnum(v, values));
}

function parseSource(v: unknown): Parsed<string | string[]> {
  if (Array.isArray(v)) {
    if (v.length === 0) return fail('an empty list names no source; expected a path/URI or a list of them');
    const problems: Problem[] = [];
    const out: string[] = [];
    v.forEach((x, i) => {
      const r = parseText(x, 'a local path or bucket URI');
      if (r.ok) out.push(r.value);
      else problems.push(...r.problems.map((p) => ({ ...p, path: [i] })));
    });
    return problems.length ? { ok: false, problems } : ok(out);
  }
  return parseText(v, 'a local path or bucket URI (or a list of them)');
}

function parseStorageConfig(v: unknown): Parsed<Record<string, unknown>> {
  if (!isPlainObject(v)) return fail(`expected a mapping of storage settings (mount_cached, mount, disk_size, …), got ${showValue(v)}`);
  const problems = checkSchema(STORAGE_CONFIG, v);
  return problems.length ? { ok: false, problems } : ok(v);
}

/** SkyPilot's storage schema; null fields count as absent, as in SkyPilot. */
const storageShape = strictShape(
  {
    name: field((v) => parseText(v, 'a bucket name')),
    source: field(parseSource),
    store: field(enumOrVar(STORES)),
    persistent: field(parseBool),
    mode: field(enumOrVar(MOUNT_MODES)),
    type: field(enumOrVar(FILE_MOUNT_TYPES)),
    config: field(parseStorageConfig),
    _is_sky_managed: field(parseBool),
    _bucket_sub_path: field((v) => parseText(v, 'a path inside the bucket')),
    _force_delete: field(parseBool),
  },
  { what: 'storage fields', allowed: ['name', 'source', 'store', 'persistent', 'mode', 'type', 'config'] },
).superRefine((o, ctx) => {
  if (hasVar(o.mode)) return;
  const mode = o.mode ?? 'MOUNT';
  const needs = (what: string, path: string[], wanted: string) =>
    ctx.addIssue({ code: 'custom', path, message: `${what} only applies with mode: ${wanted} (the mode here is ${mode})`, params: { at: 'key' } });
  if (o.type !== undefined && mode !== 'MOUNT_CACHED') needs('type', ['type'], 'MOUNT_CACHED');
  if (o.config?.mount_cached != null && mode !== 'MOUNT_CACHED') needs('config.mount_cached', ['config', 'mount_cached'], 'MOUNT_CACHED');
  if (o.config?.mount != null && mode !== 'MOUNT') needs('config.mount', ['config', 'mount'], 'MOUNT');
});

const VOLUME_STORAGE_TYPES = ['network', 'instance'];

/**
 * `store: volume` (lower case, as SkyPilot matches it) is a disk volume rather than a bucket.
 * SkyPilot skips the storage schema for it and checks it as a `resources.volumes` entry.
 */
function volumeProblems(v: Record<string, unknown>): Problem[] {
  const problems: Problem[] = [];
  const config = hasOwnKey(v, 'config') ? v.config : {};
  if (!isPlainObject(config)) return [{ path: ['config'], message: `expected a mapping of volume settings (disk_size, disk_tier, storage_type, attach_mode), got ${showValue(config)}` }];
  if (v.name !== undefined && v.name !== null && typeof v.name !== 'string') {
    problems.push({ path: ['name'], message: `expected a volume name, got ${showValue(v.name)}${typeof v.name === 'number' ? ` (quote it: '${v.name}')` : ''}` });
  }
  for (const [k, expected] of [['disk_tier', 'a disk tier'], ['storage_type', 'network or instance'], ['attach_mode', 'read_write or read_only'], ['path', 'a path']] as const) {
    if (config[k] !== undefined && typeof config[k] !== 'string') problems.push({ path: ['config', k], message: `expected ${expected}, got ${showValue(config[k])}` });
  }
  if (config.name !== undefined && typeof config.name !== 'string') problems.push({ path: ['config', 'name'], message: `expected a volume name, got ${showValue(config.name)}` });
  if (config.auto_delete !== undefined && typeof config.auto_delete !== 'boolean') {
    problems.push({ path: ['config', 'auto_delete'], message: `expected true or false, got ${showValue(config.auto_delete)}` });
  }
  const storageType = typeof config.storage_type === 'string' && VOLUME_STORAGE_TYPES.includes(config.storage_type.toLowerCase()) ? config.storage_type.toLowerCase() : 'network';
  const size = config.disk_size;
  if (size !== undefined) {
    if (storageType === 'network') {
      if (typeof size !== 'number' || !Number.isInteger(size)) problems.push({ path: ['config', 'disk_size'], message: `a network volume's size must be a whole number of GB, got ${showValue(size)}` });
    } else if (!(Number.isInteger(size) || (typeof size === 'string' && /^[0-9]+(kb|ki|mb|mi|gb|gi|tb|ti|pb|pi|KB|KI|MB|MI|GB|GI|TB|TI|PB|PI|Kb|Ki|Mb|Mi|Gb|Gi|Tb|Ti|Pb|Pi)?$/.test(size)))) {
      problems.push({ path: ['config', 'disk_size'], message: `expected a whole number of GB or a size such as '100GB', got ${showValue(size)}` });
    }
  }
  const name = typeof config.name === 'string' && config.name ? config.name : v.name;
  if (storageType === 'network' && !(typeof name === 'string' && name !== '')) {
    problems.push({
      path: [],
      message: "a network volume needs 'name' (the volume to attach or create); for a disk local to the instance set config: {storage_type: instance}",
      at: 'key',
    });
  }
  return problems;
}

function hasOwnKey(o: object, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, k);
}

export function isVolumeMount(v: unknown): boolean {
  return isPlainObject(v) && v.store === 'volume';
}

export const fileMountsSchema = z.unknown().transform((v, ctx): Record<string, FileMount> | undefined => {
  if (v === undefined || v === null) return undefined;
  if (!isPlainObject(v)) {
    ctx.addIssue({ code: 'custom', input: v, message: `expected a mapping of REMOTE_PATH: source, got ${showValue(v)}` });
    return z.NEVER;
  }
  const out: Record<string, FileMount> = {};
  let failed = false;
  const problem = (path: (string | number)[], message: string, at?: 'key') => {
    failed = true;
    ctx.addIssue({ code: 'custom', input: v, path, message, ...(at ? { params: { at } } : {}) });
  };
  for (const [target, source] of Object.entries(v)) {
    if (target === '') problem([target], 'the remote path is empty', 'key');
    if (typeof source === 'string') {
      out[target] = { kind: 'path', source };
    } else if (isVolumeMount(source)) {
      const s = source as Record<string, unknown>;
      const problems = volumeProblems(s);
      for (const p of problems) problem([target, ...p.path], p.message, p.at === 'key' ? 'key' : undefined);
      if (!problems.length) {
        out[target] = {
          kind: 'storage',
          ...(typeof s.name === 'string' && s.name ? { name: s.name } : {}),
          ...(typeof s.source === 'string' && s.source ? { source: s.source } : {}),
          ...(Array.isArray(s.source) && s.source.length && s.source.every((x) => typeof x === 'string') ? { source: s.source as string[] } : {}),
          store: 'VOLUME',
          persistent: Boolean(s.persistent ?? false),
          mode: 'MOUNT',
        };
      }
    } else if (isPlainObject(source)) {
      const s = storageShape.safeParse(source, { reportInput: true });
      if (!s.success) {
        failed = true;
        for (const issue of s.error.issues) ctx.issues.push({ ...issue, path: [target, ...issue.path] } as unknown as z.core.$ZodRawIssue);
      } else {
        out[target] = {
          kind: 'storage',
          ...(s.data.name !== undefined ? { name: s.data.name } : {}),
          ...(s.data.source !== undefined ? { source: s.data.source } : {}),
          ...(s.data.store !== undefined ? { store: s.data.store } : {}),
          persistent: s.data.persistent ?? true,
          // A mode that is still `$VAR` is checked once the variable is set (launch-checks.ts).
          mode: (s.data.mode ?? 'MOUNT') as 'MOUNT',
        };
      }
    } else {
      problem([target], `expected a local path, a bucket URI or a storage mapping {name, source, store, persistent, mode}, got ${showValue(source)}`);
    }
  }
  return failed ? z.NEVER : out;
}).optional();

/** Case-insensitive store/mode once their `$VAR`s are set; undefined while they are not valid. */
export function normalizedStore(store: string): (typeof STORES)[number] | undefined {
  return STORES.find((s) => s === store.toUpperCase());
}

export function normalizedMode(mode: string): (typeof MOUNT_MODES)[number] | undefined {
  return MOUNT_MODES.find((m) => m === mode.toUpperCase());
}

/**
 * Substitutes envs/secrets into remote paths, sources, bucket names, stores and modes (not into
 * setup/run, which see the real environment). Used again after --env fills placeholders.
 */
export function substituteFileMounts(mounts: Record<string, FileMount>, vars: Record<string, string | null>): Record<string, FileMount> {
  const out: Record<string, FileMount> = {};
  for (const [target, mount] of Object.entries(mounts)) {
    const sub = (s: string) => substituteVars(s, vars);
    if (mount.kind === 'path') out[sub(target)] = { kind: 'path', source: sub(mount.source) };
    else {
      const store = mount.store !== undefined ? sub(mount.store) : undefined;
      const mode = sub(mount.mode);
      out[sub(target)] = {
        ...mount,
        ...(mount.name !== undefined ? { name: sub(mount.name) } : {}),
        ...(mount.source !== undefined ? { source: Array.isArray(mount.source) ? mount.source.map(sub) : sub(mount.source) } : {}),
        ...(store !== undefined ? { store: normalizedStore(store) ?? store } : {}),
        mode: (normalizedMode(mode) ?? mode) as 'MOUNT',
      };
    }
  }
  return out;
}

export function substituteWorkdir(w: string | GitWorkdir, vars: Record<string, string | null>): string | GitWorkdir {
  if (typeof w === 'string') return substituteVars(w, vars);
  return { url: substituteVars(w.url, vars), ...(w.ref !== undefined ? { ref: substituteVars(w.ref, vars) } : {}) };
}
