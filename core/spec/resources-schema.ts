// The raw `resources:` mapping as zod shapes, following SkyPilot 0.14.1's resources schema and
// Resources() checks. Each field is already normalised here (Quantity, Location,
// AcceleratorChoice, …) but the mapping keeps its YAML keys, because any_of/ordered entries are
// merged over the base key by key before candidates are built (resources.ts). Fields SkyPilot
// accepts that Petrel does not run are checked here and reported by notices.ts.
import { z } from 'zod';
import type { Autostop, AutostopWaitFor, DiskTier, JobRecovery, NetworkTier, Quantity, RecoveryStrategy } from '../task.js';
import { parseAccelerators, type AcceleratorChoice } from './accelerators.js';
import { parseCloud, parseInfra, INFRA_FORMS, INFRA_PATTERN, type Location } from './infra.js';
import { checkSchema, type JsonSchema } from './json-schema.js';
import { parsePort } from './ports.js';
import { fail, isPlainObject, ok, showValue, type Parsed, type Problem } from './problems.js';
import { parseDiskSize } from './quantities.js';
import { parseBool, parseEnum, parseInteger, parseText, pythonFloat } from './scalars.js';
import { ACCELERATOR_ARGS, DOCKER_LOGIN_CONFIG, RESOURCE_VOLUMES, TASK_CONFIG } from './skypilot-schemas.js';
import { field, nested, rejected, strictShape } from './zod-kit.js';

export const DISK_TIERS: readonly DiskTier[] = ['low', 'medium', 'high', 'ultra', 'best'];
export const NETWORK_TIERS: readonly NetworkTier[] = ['standard', 'best'];
export const RECOVERY_STRATEGIES: readonly RecoveryStrategy[] = ['FAILOVER', 'EAGER_NEXT_REGION'];
export const AUTOSTOP_WAIT_FOR: readonly AutostopWaitFor[] = ['jobs_and_ssh', 'jobs', 'none'];
/** SkyPilot's DEFAULT_AUTOSTOP_IDLE_MINUTES, used for `autostop: true`. */
export const DEFAULT_IDLE_MINUTES = 5;

/** Task-level fields, so a misplaced one inside resources gets a pointed hint. */
export const TASK_FIELD_NAMES = [
  'name', 'workdir', 'num_nodes', 'resources', 'envs', 'secrets', 'file_mounts', 'setup', 'run', 'config', 'volumes',
];

/** One resources mapping after per-field validation. `null` means "explicitly unset". */
export interface ResourceFields {
  infra?: Location;
  cloud?: string;
  region?: string;
  zone?: string;
  accelerators?: AcceleratorChoice;
  gpus?: AcceleratorChoice;
  /** kept for the TPU checks in resources.ts; no Petrel infra serves TPUs yet */
  accelerator_args?: Record<string, unknown>;
  cpus?: Quantity;
  memory?: Quantity;
  instance_type?: string;
  use_spot?: boolean;
  disk_size?: number;
  disk_tier?: DiskTier;
  network_tier?: NetworkTier;
  ports?: string[];
  image_id?: string | Record<string, string> | null;
  labels?: Record<string, string>;
  /** null: `job_recovery: none` (the default strategy) */
  job_recovery?: JobRecovery | null;
  /** null: `autostop: false` (or a negative idle time, which SkyPilot also reads as off) */
  autostop?: Autostop | null;
  priority?: number;
}

export interface ResourcesSpec extends ResourceFields {
  any_of?: ResourceFields[];
  ordered?: ResourceFields[];
}

const ENTRY_NULL = 'null is not allowed inside an any_of/ordered entry; drop the field or give it a value';
const MEMORY_SIZE = /^[0-9]+(kb|ki|mb|mi|gb|gi|tb|ti|pb|pi|KB|KI|MB|MI|GB|GI|TB|TI|PB|PI|Kb|Ki|Mb|Mi|Gb|Gi|Tb|Ti|Pb|Pi)?$/;
const TIME = /^[0-9]+(m|h|d|w|M|H|D|W)?$/;
const MINUTES_PER_UNIT: Record<string, number> = { m: 1, h: 60, d: 24 * 60, w: 7 * 24 * 60 };
const GB_PER_UNIT: Record<string, number> = {
  kb: 1 / 1024 ** 2, ki: 1 / 1024 ** 2, mb: 1 / 1024, mi: 1 / 1024, gb: 1, gi: 1, tb: 1024, ti: 1024, pb: 1024 ** 2, pi: 1024 ** 2,
};

function schemaField(schema: JsonSchema) {
  return (v: unknown): Parsed<unknown> => {
    const problems = checkSchema(schema, v);
    return problems.length ? { ok: false, problems } : ok(v);
  };
}

/** A field Petrel checks but does not keep (notices.ts says what happens to it). */
function dropped(parse: (v: unknown) => Parsed<unknown>) {
  return (v: unknown): Parsed<undefined> => {
    const r = parse(v);
    return r.ok ? ok(undefined) : r;
  };
}

function parseInfraField(v: unknown): Parsed<Location> {
  const r = parseInfra(v);
  if (!r.ok) return r;
  if (typeof v === 'string' && !INFRA_PATTERN.test(v)) return fail(`${showValue(v)} is not a valid infra; ${INFRA_FORMS}`);
  return r;
}

/** The YAML `cloud:` field takes SkyPilot's cloud names only (the --cloud flag also takes k8s). */
function parseCloudField(v: unknown): Parsed<string> {
  if (typeof v === 'string' && v.toLowerCase() === 'k8s') {
    return fail("'k8s' is not a cloud name here; write cloud: kubernetes (or infra: k8s)");
  }
  return parseCloud(v);
}

function parseTextField(what: string) {
  return (v: unknown) => parseText(v, what);
}

/** SkyPilot: a number, or text that Python's float() reads after one optional trailing '+'. */
function parseCpusField(v: unknown): Parsed<Quantity> {
  const expected = "expected a positive number or 'N+' meaning at least N (e.g. 4 or '4+')";
  let value: number | undefined;
  let orMore = false;
  if (typeof v === 'number') value = v;
  else if (typeof v === 'string') {
    orMore = v.endsWith('+');
    value = pythonFloat(orMore ? v.slice(0, -1) : v);
    if (value === undefined) return fail(`${showValue(v)} is not a valid CPU count; ${expected}`);
  } else return fail(`expected a number or a string such as '4+', got ${showValue(v)}`);
  if (!Number.isFinite(value)) return fail(`${showValue(v)} is not a usable CPU count; ${expected}`);
  if (!(value > 0)) return fail(`${showValue(v)} is not positive; ${expected}`);
  return ok({ value, orMore });
}

/**
 * SkyPilot's parse_memory_resource (allow_plus, allow_x): GB, or a number with a binary unit, an
 * optional '+', and an 'x' that means "per vCPU" (only SkyPilot's own controllers use that;
 * launch refuses it, see notices.ts). Zero is allowed here for Slurm (checked in resources.ts).
 */
export function parseMemoryField(v: unknown): Parsed<Quantity | undefined> {
  const expected = "expected a positive number of GB, optionally with a unit and '+' meaning at least (e.g. 32, '32+', '64GB+', '1TB')";
  if (typeof v !== 'string' && typeof v !== 'number') return fail(`expected a number or a string such as '32+', got ${showValue(v)}`);
  let s = String(v);
  const orMore = s.endsWith('+');
  if (orMore) s = s.slice(0, -1);
  const perCpu = s.endsWith('x');
  if (perCpu) s = s.slice(0, -1);
  // SkyPilot strips '+' then 'x' but later reads only one of them back, so '4x+' fails there.
  if (perCpu && orMore) return fail(`${showValue(v)} is not a valid memory size; ${expected}`);
  let gb = pythonFloat(s);
  if (gb === undefined) {
    const lower = s.toLowerCase();
    const unit = Object.keys(GB_PER_UNIT).find((u) => lower.endsWith(u));
    const n = unit ? pythonFloat(lower.slice(0, -unit.length)) : undefined;
    if (unit && n !== undefined) gb = n * GB_PER_UNIT[unit]!;
  }
  if (gb === undefined) return fail(`${showValue(v)} is not a valid memory size; ${expected}`);
  if (!Number.isFinite(gb)) return fail(`${showValue(v)} is not a usable memory size; ${expected}`);
  if (gb < 0) return fail(`${showValue(v)} is not positive; ${expected}`);
  return ok(perCpu ? undefined : { value: gb, orMore });
}

function parseDiskSizeField(v: unknown): Parsed<number> {
  if (typeof v === 'string' && !MEMORY_SIZE.test(v)) {
    return fail(`${showValue(v)} is not a valid disk size; expected a whole number of GB or a size string (e.g. 256, '100GB', '1TB')`);
  }
  if (typeof v === 'number' && !Number.isInteger(v)) return fail(`${v} is not a whole number; expected a whole number of GB or a size string (e.g. 256, '100GB', '1TB')`);
  return parseDiskSize(v);
}

function parseSizeOnly(v: unknown): Parsed<unknown> {
  if ((typeof v === 'string' && MEMORY_SIZE.test(v)) || (typeof v === 'number' && Number.isInteger(v))) return ok(v);
  return fail(`expected a whole number of GB or a size string (e.g. 256, '100GB'), got ${showValue(v)}`);
}

/** SkyPilot splits on commas, strips each token, then wants a port or an inclusive range. */
function parsePortsField(v: unknown): Parsed<string[]> {
  if (v === null) return ok([]);
  const expected = "expected a port 1-65535, a range like '10022-10040', or a list of those";
  if (typeof v !== 'string' && typeof v !== 'number' && !Array.isArray(v)) return fail(`${showValue(v)} is not a valid port; ${expected}`);
  const items = Array.isArray(v) ? v : [v];
  const out: string[] = [];
  const problems: Problem[] = [];
  items.forEach((item, i) => {
    const path = Array.isArray(v) ? [i] : [];
    if (typeof item === 'number' && !Number.isInteger(item)) {
      problems.push({ path, message: `${item} is not a valid port; ${expected}` });
      return;
    }
    if (typeof item !== 'string' && typeof item !== 'number') {
      problems.push({ path, message: `${showValue(item)} is not a valid port; ${expected}` });
      return;
    }
    if (typeof item === 'number') {
      const r = parsePort(item);
      if (!r.ok) problems.push(...r.problems.map((p) => ({ ...p, path })));
      else if (!out.includes(r.value)) out.push(r.value);
      return;
    }
    for (const token of String(item).split(',').map((t) => t.trim()).filter((t) => t !== '')) {
      if (/\s/.test(token)) {
        problems.push({ path, message: `${showValue(token)} is not a valid port; ${expected} (no spaces inside a range)` });
        continue;
      }
      const r = parsePort(token);
      if (!r.ok) problems.push(...r.problems.map((p) => ({ ...p, path })));
      else if (!out.includes(r.value)) out.push(r.value);
    }
  });
  return problems.length ? { ok: false, problems } : ok(out);
}

/** A string, a {REGION: IMAGE_ID} mapping (`docker:` key: a container image next to VM images), or null. */
function parseImageId(v: unknown): Parsed<string | Record<string, string> | null> {
  if (v === null) return ok(null);
  if (typeof v === 'string') return ok(v.trim());
  if (isPlainObject(v)) {
    const out: Record<string, string> = {};
    const problems: Problem[] = [];
    for (const [region, id] of Object.entries(v)) {
      if (typeof id !== 'string') problems.push({ path: [region], message: `expected an image id for this region, got ${showValue(id)}` });
      else out[region.trim()] = id.trim();
    }
    if (problems.length) return { ok: false, problems };
    if (out.docker !== undefined) {
      const prefixed = Object.keys(out).filter((k) => k !== 'docker' && out[k]!.startsWith('docker:'));
      if (prefixed.length) {
        return fail(`image_id has both a 'docker' key and docker: images for ${prefixed.join(', ')}; give the container image one way only`, [prefixed[0]!]);
      }
    }
    return ok(Object.keys(out).length ? out : null);
  }
  return fail(`expected an image id or {REGION: IMAGE_ID}, got ${showValue(v)}`);
}

function parseLabels(v: unknown): Parsed<Record<string, string>> {
  if (!isPlainObject(v)) return fail(`expected a mapping of label names to strings, got ${showValue(v)}`);
  const out: Record<string, string> = {};
  const problems: Problem[] = [];
  for (const [k, value] of Object.entries(v)) {
    if (typeof value === 'string') out[k] = value;
    else {
      const hint = typeof value === 'number' || typeof value === 'boolean' ? ` (quote it: '${String(value)}')` : '';
      problems.push({ path: [k], message: `expected a label value string, got ${showValue(value)}${hint}` });
    }
  }
  return problems.length ? { ok: false, problems } : ok(out);
}

/**
 * SkyPilot upper-cases a strategy name and resolves it at launch; `none` (exactly) means "no
 * explicit recovery". Names Petrel does not know are accepted here and refused at launch.
 */
export function strategyOf(name: string): RecoveryStrategy | 'none' | undefined {
  if (name === 'none') return 'none';
  return RECOVERY_STRATEGIES.find((s) => s === name.toUpperCase());
}

function parseExitCodes(v: unknown): Parsed<number[]> {
  const one = (x: unknown) => parseInteger(x, { min: 0, max: 255, what: 'an exit code from 0 to 255' });
  if (!Array.isArray(v)) {
    const r = one(v);
    return r.ok ? ok([r.value]) : fail(`${r.problems[0]!.message}, or a list of them`);
  }
  const out: number[] = [];
  const problems: Problem[] = [];
  v.forEach((x, i) => {
    const r = one(x);
    if (!r.ok) problems.push(...r.problems.map((p) => ({ ...p, path: [i] })));
    else if (out.includes(r.value)) problems.push({ path: [i], message: `exit code ${r.value} is listed twice; list each code once` });
    else out.push(r.value);
  });
  return problems.length ? { ok: false, problems } : ok(out);
}

function parseJobRecovery(v: unknown): Parsed<JobRecovery | null> {
  if (typeof v === 'string') {
    const s = strategyOf(v);
    if (s === 'none') return ok(null);
    return ok({ ...(s ? { strategy: s } : {}), maxRestartsOnErrors: 0, recoverOnExitCodes: [] });
  }
  if (!isPlainObject(v)) return fail(`expected a strategy name (FAILOVER, EAGER_NEXT_REGION) or a mapping {strategy, max_restarts_on_errors, recover_on_exit_codes}, got ${showValue(v)}`);
  const problems: Problem[] = [];
  let strategy: RecoveryStrategy | undefined;
  if (v.strategy !== undefined && v.strategy !== null) {
    if (typeof v.strategy !== 'string') problems.push({ path: ['strategy'], message: `expected a strategy name (FAILOVER, EAGER_NEXT_REGION), got ${showValue(v.strategy)}` });
    else {
      const s = strategyOf(v.strategy);
      if (s === 'none') return problems.length ? { ok: false, problems } : ok(null);
      strategy = s;
    }
  }
  let maxRestarts = 0;
  if (v.max_restarts_on_errors !== undefined) {
    const r = parseInteger(v.max_restarts_on_errors, { min: 0 });
    if (r.ok) maxRestarts = r.value;
    else problems.push(...r.problems.map((p) => ({ ...p, path: ['max_restarts_on_errors'] })));
  }
  let codes: number[] = [];
  if (v.recover_on_exit_codes !== undefined) {
    const r = parseExitCodes(v.recover_on_exit_codes);
    if (r.ok) codes = r.value;
    else problems.push(...r.problems.map((p) => ({ ...p, path: ['recover_on_exit_codes', ...p.path] })));
  }
  // Other keys are strategy settings of SkyPilot plugins: accepted here, refused at launch.
  if (problems.length) return { ok: false, problems };
  return ok({ ...(strategy ? { strategy } : {}), maxRestartsOnErrors: maxRestarts, recoverOnExitCodes: codes });
}

function parseIdleMinutes(v: unknown): Parsed<number> {
  if (typeof v !== 'string' || !TIME.test(v)) {
    return fail(`${showValue(v)} is not a valid idle time; expected whole minutes or a duration such as '10m', '2h', '1d', '1w'`);
  }
  const m = /^(\d+)([a-z])?$/i.exec(v)!;
  return ok(Number(m[1]) * MINUTES_PER_UNIT[(m[2] ?? 'm').toLowerCase()]!);
}

function parseAutostopScalar(v: unknown): Parsed<Autostop | null> {
  if (v === false) return ok(null);
  if (v === true) return ok({ idleMinutes: DEFAULT_IDLE_MINUTES, down: false });
  // A negative idle time switches autostop off in SkyPilot (as `sky autostop -i -1` does).
  if (typeof v === 'number' && Number.isInteger(v)) return ok(v < 0 ? null : { idleMinutes: v, down: false });
  if (typeof v === 'string') {
    const m = parseIdleMinutes(v);
    if (!m.ok) return fail(`${m.problems[0]!.message}; or true, false, or a mapping {idle_minutes, down, wait_for, hook, hook_timeout}`);
    return ok({ idleMinutes: m.value, down: false });
  }
  return fail(`${showValue(v)} is not a valid autostop; expected true, false, whole minutes, a duration such as '10m', or a mapping {idle_minutes, down, wait_for, hook, hook_timeout}`);
}

/** Inside a nested mapping SkyPilot's schema sees null as a value of the wrong type. */
function nonNull<T>(parse: (v: unknown) => Parsed<T>) {
  return field((v) => (v === null ? fail('is empty; give a value or remove the field') : parse(v)), { seeNull: true });
}

const autostopShape = strictShape(
  {
    idle_minutes: nonNull((v) => parseInteger(v, { min: 0, what: 'a whole number of minutes ≥ 0' })),
    down: nonNull(parseBool),
    wait_for: nonNull((v) => parseEnum(v, AUTOSTOP_WAIT_FOR)),
    hook: nonNull((v) => parseText(v, 'a bash script')),
    hook_timeout: nonNull((v) => parseInteger(v, { min: 1, what: 'a whole number of seconds ≥ 1' })),
  },
  { what: 'autostop fields' },
);

function autostopField(entry: boolean) {
  return z.unknown().transform((v, ctx): Autostop | null | undefined => {
    if (v === undefined || (v === null && !entry)) return undefined;
    if (isPlainObject(v)) {
      const r = nested(autostopShape, v, ctx);
      if (!r.ok) return z.NEVER;
      const o = r.data;
      return {
        idleMinutes: o.idle_minutes ?? DEFAULT_IDLE_MINUTES,
        down: o.down ?? false,
        ...(o.wait_for ? { waitFor: o.wait_for } : {}),
        ...(o.hook !== undefined ? { hook: o.hook } : {}),
        ...(o.hook_timeout !== undefined ? { hookTimeoutSeconds: o.hook_timeout } : {}),
      };
    }
    const r = v === null ? fail(ENTRY_NULL) : parseAutostopScalar(v);
    if (r.ok) return r.value;
    for (const p of r.problems) ctx.addIssue({ code: 'custom', message: p.message, path: p.path, input: v });
    return z.NEVER;
  }).optional();
}

/** SkyPilot's `resources.volumes` entries: schema, then Resources._set_volumes. */
function parseResourceVolumes(v: unknown): Parsed<unknown> {
  const problems = checkSchema(RESOURCE_VOLUMES, v);
  if (problems.length) return { ok: false, problems };
  (v as Array<Record<string, unknown>>).forEach((vol, i) => {
    if (!('path' in vol)) problems.push({ path: [i], message: "a volume needs 'path' (where it is mounted)" });
    const type = typeof vol.storage_type === 'string' && vol.storage_type.toLowerCase() === 'instance' ? 'instance' : 'network';
    if (type === 'network') {
      if (vol.disk_size !== undefined && typeof vol.disk_size !== 'number') {
        problems.push({ path: [i, 'disk_size'], message: `a network volume's size must be a whole number of GB, got ${showValue(vol.disk_size)}` });
      }
      if (!('name' in vol)) problems.push({ path: [i], message: "a network volume needs 'name'; for a disk local to the instance set storage_type: instance" });
    }
  });
  return problems.length ? { ok: false, problems } : ok(v);
}

/** SkyPilot's normalize_local_disk: 'mode:size[+]', 'mode' or 'size[+]'; mode nvme or ssd. */
function parseLocalDisk(v: unknown): Parsed<unknown> {
  if (typeof v !== 'string') return fail(`expected a string such as 'nvme:1000+', got ${showValue(v)}`);
  const expected = "expected 'mode:size[+]', 'mode' or 'size[+]' with mode nvme or ssd and a positive size in GB (e.g. 'nvme:1000+')";
  const parts = v.toLowerCase().trim().split(':');
  const sizeOk = (s: string) => {
    const n = pythonFloat(s.replace(/\++$/, ''));
    return n !== undefined && n > 0;
  };
  if (parts.length === 1) return ['nvme', 'ssd'].includes(parts[0]!) || sizeOk(parts[0]!) ? ok(v) : fail(`${showValue(v)} is not a valid local disk; ${expected}`);
  if (parts.length === 2 && ['nvme', 'ssd'].includes(parts[0]!) && sizeOk(parts[1]!)) return ok(v);
  return fail(`${showValue(v)} is not a valid local disk; ${expected}`);
}

function parsePositiveNumber(v: unknown): Parsed<unknown> {
  if (typeof v !== 'number') return fail(`expected a number of dollars per hour, got ${showValue(v)}`);
  return v > 0 ? ok(v) : fail(`${v} is not positive; expected a number of dollars per hour above 0`);
}

function parseClusterConfigOverrides(v: unknown): Parsed<unknown> {
  if (!isPlainObject(v)) return fail(`expected a mapping of config keys, got ${showValue(v)}`);
  return schemaField(TASK_CONFIG)(v);
}

/**
 * The per-mapping fields. In the base mapping a null value means "absent" (SkyPilot strips
 * top-level nulls before validating); inside any_of/ordered entries it is an error, except
 * where SkyPilot's schema allows null (ports, image_id).
 */
function singleResourceShape(entry: boolean) {
  const f = <T>(parse: (v: unknown) => Parsed<T>, opts: { seeNull?: boolean } = {}) =>
    entry && !opts.seeNull ? field((v) => (v === null ? fail(ENTRY_NULL) : parse(v)), { seeNull: true }) : field(parse, opts);
  const acceleratorsField = f(entry ? parseEntryAccelerators : parseTopAccelerators);
  return {
    infra: f(parseInfraField),
    cloud: f(parseCloudField),
    region: f(parseTextField('a region name')),
    zone: f(parseTextField('a zone name')),
    accelerators: acceleratorsField,
    gpus: acceleratorsField,
    accelerator_args: f((v) => schemaField(ACCELERATOR_ARGS)(v) as Parsed<Record<string, unknown>>),
    cpus: f(parseCpusField),
    memory: f(parseMemoryField),
    instance_type: f(parseTextField('an instance type name')),
    use_spot: f(parseBool),
    disk_size: f(parseDiskSizeField),
    ephemeral_storage: f(dropped(parseSizeOnly)),
    disk_tier: f((v) => parseEnum(v, DISK_TIERS)),
    network_tier: f((v) => parseEnum(v, NETWORK_TIERS)),
    local_disk: f(dropped(parseLocalDisk)),
    max_hourly_cost: f(dropped(parsePositiveNumber)),
    ports: f(parsePortsField, { seeNull: true }),
    image_id: f(parseImageId, { seeNull: true }),
    labels: f(parseLabels),
    job_recovery: f(parseJobRecovery),
    autostop: autostopField(entry),
    priority: f((v) => parseInteger(v, { min: -1000, max: 1000 })),
    priority_class: f(dropped((v) => parseText(v, 'a priority class name'))),
    volumes: f(dropped(parseResourceVolumes)),
    _no_missing_accel_warnings: f(dropped(parseBool)),
    _is_image_managed: f(dropped(parseBool)),
    _requires_fuse: f(dropped(parseBool)),
    _docker_login_config: f(dropped(schemaField(DOCKER_LOGIN_CONFIG))),
    _cluster_config_overrides: f(dropped(parseClusterConfigOverrides)),
    hooks: rejected('lifecycle hooks go under the top-level config.hooks, not under resources'),
    spot_recovery: rejected("'spot_recovery' is deprecated and not accepted; use 'job_recovery' instead (same values, e.g. job_recovery: FAILOVER)"),
  };
}

/** Base mapping: any accelerators form (a list, a set, several names). */
function parseTopAccelerators(v: unknown): Parsed<AcceleratorChoice> {
  if (v === '') return ok({ kind: 'single', options: [{ accelerators: { '': 1 } }] });
  return parseAccelerators(v);
}

/** any_of/ordered entries: SkyPilot's schema allows one accelerator, as text or {NAME: COUNT}. */
function parseEntryAccelerators(v: unknown): Parsed<AcceleratorChoice> {
  if (Array.isArray(v)) return fail("a list of accelerators is not allowed inside an any_of/ordered entry; give each entry one accelerator (e.g. A100:8)");
  if (isPlainObject(v)) {
    const entries = Object.entries(v);
    if (entries.length > 1) return fail('inside an any_of/ordered entry give one accelerator (e.g. {A100: 8}); use one entry per accelerator');
    if (entries.length === 1 && typeof entries[0]![1] !== 'number') {
      return fail(`the count of '${entries[0]![0]}' must be a number, got ${showValue(entries[0]![1])}`, [entries[0]![0]]);
    }
  }
  return parseTopAccelerators(v);
}

const RESOURCE_FIELDS_LISTED = Object.keys(singleResourceShape(false)).filter((k) => !k.startsWith('_') && !['hooks', 'spot_recovery'].includes(k));

const taskFieldHints = Object.fromEntries(
  TASK_FIELD_NAMES.filter((k) => k !== 'volumes').map((k) => [k, 'is a task field, not a resources field; move it to the top level']),
);

const resourceEntry = strictShape(
  {
    ...singleResourceShape(true),
    any_of: rejected('cannot be nested inside any_of/ordered entries'),
    ordered: rejected('cannot be nested inside any_of/ordered entries'),
  },
  { what: 'resources fields', allowed: RESOURCE_FIELDS_LISTED, misplaced: taskFieldHints },
);

function candidateList(v: unknown, ctx: z.core.$RefinementCtx<unknown>): ResourceFields[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) {
    ctx.addIssue({ code: 'custom', input: v, message: `expected a list of resources mappings (each merged over the base resources), got ${showValue(v)}` });
    return z.NEVER;
  }
  // An empty list is no list at all, as in SkyPilot.
  if (v.length === 0) return undefined;
  const r = nested(z.array(resourceEntry), v, ctx);
  return r.ok ? (r.data as ResourceFields[]) : z.NEVER;
}

export const resourcesSchema = strictShape(
  {
    ...singleResourceShape(false),
    any_of: z.unknown().transform(candidateList).optional(),
    ordered: z.unknown().transform(candidateList).optional(),
  },
  { what: 'resources fields', allowed: [...RESOURCE_FIELDS_LISTED, 'any_of', 'ordered'], misplaced: taskFieldHints },
);

export const RESOURCE_FIELD_NAMES = [...RESOURCE_FIELDS_LISTED, 'any_of', 'ordered'];
