// The raw `resources:` mapping as zod shapes. Each field is already normalised here (Quantity,
// Location, AcceleratorChoice, …) but the mapping keeps its YAML keys, because any_of/ordered
// entries are merged over the base key by key before candidates are built (resources.ts).
import { z } from 'zod';
import type { Autostop, AutostopWaitFor, DiskTier, JobRecovery, NetworkTier, Quantity, RecoveryStrategy } from '../task.js';
import { parseAccelerators, type AcceleratorChoice } from './accelerators.js';
import { parseCloud, parseInfra, type Location } from './infra.js';
import { parsePorts } from './ports.js';
import { fail, isPlainObject, ok, showValue, type Parsed, type Problem } from './problems.js';
import { parseCpus, parseDiskSize, parseIdleMinutes, parseMemory } from './quantities.js';
import { parseBool, parseEnum, parseInteger, parseString } from './scalars.js';
import { field, nested, rejected, scalarOrShape, strictShape } from './zod-kit.js';

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
  job_recovery?: JobRecovery;
  /** null: `autostop: false` */
  autostop?: Autostop | null;
  priority?: number;
}

export interface ResourcesSpec extends ResourceFields {
  any_of?: ResourceFields[];
  ordered?: ResourceFields[];
}

function parseImageId(v: unknown): Parsed<string | Record<string, string> | null> {
  if (v === null) return ok(null);
  if (typeof v === 'string') return parseString(v, "an image id (e.g. 'docker:ubuntu:22.04')");
  if (isPlainObject(v)) {
    const entries = Object.entries(v);
    if (entries.length === 0) return fail("an empty mapping names no image; expected an image id or {REGION: IMAGE_ID}");
    const out: Record<string, string> = {};
    const problems: Problem[] = [];
    for (const [region, id] of entries) {
      const r = parseString(id, 'an image id for this region');
      if (r.ok) out[region] = r.value;
      else problems.push(...r.problems.map((p) => ({ ...p, path: [region] })));
    }
    return problems.length ? { ok: false, problems } : ok(out);
  }
  return fail(`expected an image id or {REGION: IMAGE_ID}, got ${showValue(v)}`);
}

function parseLabels(v: unknown): Parsed<Record<string, string>> {
  if (!isPlainObject(v)) return fail(`expected a mapping of label names to strings, got ${showValue(v)}`);
  const out: Record<string, string> = {};
  const problems: Problem[] = [];
  for (const [k, value] of Object.entries(v)) {
    const r = parseString(value, 'a label value string');
    if (r.ok) out[k] = r.value;
    else problems.push(...r.problems.map((p) => ({ ...p, path: [k] })));
  }
  return problems.length ? { ok: false, problems } : ok(out);
}

function parseStrategy(v: unknown): Parsed<RecoveryStrategy> {
  return parseEnum(v, RECOVERY_STRATEGIES);
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

const jobRecoveryShape = strictShape(
  {
    strategy: field(parseStrategy),
    max_restarts_on_errors: field((v) => parseInteger(v, { min: 0 })),
    recover_on_exit_codes: field(parseExitCodes),
  },
  { what: 'job_recovery fields' },
);

const jobRecovery = scalarOrShape(
  (v): Parsed<JobRecovery> => {
    const s = parseStrategy(v);
    if (!s.ok) return fail(`${s.problems[0]!.message}, or a mapping {strategy, max_restarts_on_errors, recover_on_exit_codes}`);
    return ok({ strategy: s.value, maxRestartsOnErrors: 0, recoverOnExitCodes: [] });
  },
  jobRecoveryShape,
  (o): JobRecovery => ({
    ...(o.strategy ? { strategy: o.strategy } : {}),
    maxRestartsOnErrors: o.max_restarts_on_errors ?? 0,
    recoverOnExitCodes: o.recover_on_exit_codes ?? [],
  }),
);

const autostopShape = strictShape(
  {
    idle_minutes: field(parseIdleMinutes),
    down: field(parseBool),
    wait_for: field((v) => parseEnum(v, AUTOSTOP_WAIT_FOR)),
    hook: field((v) => parseString(v, 'a bash script')),
    hook_timeout: field((v) => parseInteger(v, { min: 1, what: 'a whole number of seconds ≥ 1' })),
  },
  { what: 'autostop fields' },
);

const autostop = scalarOrShape(
  (v): Parsed<Autostop | null> => {
    if (v === false) return ok(null);
    if (v === true) return ok({ idleMinutes: DEFAULT_IDLE_MINUTES, down: false });
    const m = parseIdleMinutes(v);
    if (!m.ok) return fail(`${m.problems[0]!.message}; or true, false, or a mapping {idle_minutes, down, wait_for, hook, hook_timeout}`);
    return ok({ idleMinutes: m.value, down: false });
  },
  autostopShape,
  (o): Autostop => ({
    idleMinutes: o.idle_minutes ?? DEFAULT_IDLE_MINUTES,
    down: o.down ?? false,
    ...(o.wait_for ? { waitFor: o.wait_for } : {}),
    ...(o.hook !== undefined ? { hook: o.hook } : {}),
    ...(o.hook_timeout !== undefined ? { hookTimeoutSeconds: o.hook_timeout } : {}),
  }),
);

const singleResourceShape = {
  infra: field(parseInfra),
  cloud: field(parseCloud),
  region: field((v) => parseString(v, 'a region name')),
  zone: field((v) => parseString(v, 'a zone name')),
  accelerators: field(parseAccelerators),
  gpus: field(parseAccelerators),
  cpus: field(parseCpus),
  memory: field(parseMemory),
  instance_type: field((v) => parseString(v, 'an instance type name')),
  use_spot: field(parseBool),
  disk_size: field(parseDiskSize),
  disk_tier: field((v) => parseEnum(v, DISK_TIERS)),
  network_tier: field((v) => parseEnum(v, NETWORK_TIERS)),
  ports: field(parsePorts, { seeNull: true }),
  image_id: field(parseImageId, { seeNull: true }),
  labels: field(parseLabels),
  job_recovery: jobRecovery,
  autostop,
  priority: field((v) => parseInteger(v, { min: -1000, max: 1000 })),
  accelerator_args: rejected('not supported by Petrel yet (TPU accelerator_args are planned)'),
  volumes: rejected('not supported by Petrel yet (per-instance disk volumes are planned); use top-level volumes for named volumes'),
  spot_recovery: rejected("'spot_recovery' is deprecated and not accepted; use 'job_recovery' instead (same values, e.g. job_recovery: FAILOVER)"),
};

const SUPPORTED_RESOURCE_FIELDS = Object.keys(singleResourceShape).filter(
  (k) => !['accelerator_args', 'volumes', 'spot_recovery'].includes(k),
);

const taskFieldHints = Object.fromEntries(
  TASK_FIELD_NAMES.filter((k) => k !== 'volumes').map((k) => [k, 'is a task field, not a resources field; move it to the top level']),
);

const resourceEntry = strictShape(
  {
    ...singleResourceShape,
    any_of: rejected('cannot be nested inside any_of/ordered entries'),
    ordered: rejected('cannot be nested inside any_of/ordered entries'),
  },
  { what: 'resources fields', allowed: SUPPORTED_RESOURCE_FIELDS, misplaced: taskFieldHints },
);

function candidateList(v: unknown, ctx: z.core.$RefinementCtx<unknown>): ResourceFields[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.length === 0) {
    ctx.addIssue({
      code: 'custom',
      input: v,
      message: `expected a non-empty list of resources mappings (each merged over the base resources), got ${showValue(v)}`,
    });
    return z.NEVER;
  }
  const r = nested(z.array(resourceEntry), v, ctx);
  return r.ok ? (r.data as ResourceFields[]) : z.NEVER;
}

export const resourcesSchema = strictShape(
  {
    ...singleResourceShape,
    any_of: z.unknown().transform(candidateList).optional(),
    ordered: z.unknown().transform(candidateList).optional(),
  },
  { what: 'resources fields', allowed: [...SUPPORTED_RESOURCE_FIELDS, 'any_of', 'ordered'], misplaced: taskFieldHints },
);

export const RESOURCE_FIELD_NAMES = [...SUPPORTED_RESOURCE_FIELDS, 'any_of', 'ordered'];
