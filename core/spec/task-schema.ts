// The top-level task mapping as a zod shape (one YAML document = one task).
import type { FileMount, GitWorkdir } from '../task.js';
import { parseEnvMap, parseSecrets } from './env.js';
import { fileMountsSchema } from './file-mounts.js';
import { checkSchema, type JsonSchema } from './json-schema.js';
import { fail, isPlainObject, ok, showValue, type Parsed } from './problems.js';
import { RESOURCE_FIELD_NAMES, resourcesSchema, TASK_FIELD_NAMES, type ResourcesSpec } from './resources-schema.js';
import { parseBool, parseInteger, parseString, parseText } from './scalars.js';
import { parsePool, parseService } from './service.js';
import { checkpointShape, type CheckpointShape } from './checkpoint.js';
import { INPUTS_OUTPUTS, MANAGED_SECRETS, TASK_CONFIG, VOLUME_MOUNTS } from './skypilot-schemas.js';
import { field, optionalShape, required, scalarOrShape, strictShape } from './zod-kit.js';

const TASK_NAME = /^[a-zA-Z0-9]+(?:[._-]{1,2}[a-zA-Z0-9]+)*$/;

/** SkyPilot's task-name rule, which it checks at launch (Task.validate_name), not when parsing. */
export function parseTaskName(v: unknown): Parsed<string> {
  const s = parseString(v, 'a task name');
  if (!s.ok) return s;
  if (TASK_NAME.test(s.value)) return s;
  return fail(
    `${showValue(v)} is not a valid name; use letters and digits, separated by at most two of '.', '_' or '-' (e.g. train-llama_v2)`,
  );
}

const workdir = scalarOrShape(
  (v): Parsed<string | GitWorkdir> => parseText(v, 'a local directory or a mapping {url, ref}'),
  strictShape(
    {
      url: required('url', (v) => parseText(v, 'a git repository URL')),
      ref: field((v) => (v === null ? fail('is empty; give a branch, tag or commit, or remove it') : parseText(v, 'a git branch, tag or commit')), { seeNull: true }),
    },
    { what: 'git workdir fields' },
  ),
  (o): GitWorkdir => (o.ref !== undefined ? { url: o.url, ref: o.ref } : { url: o.url }),
);

function schemaField(schema: JsonSchema, what?: string) {
  return (v: unknown): Parsed<unknown> => {
    if (what && schema.type === 'object' && !isPlainObject(v)) return fail(`expected a mapping of ${what}, got ${showValue(v)}`);
    const problems = checkSchema(schema, v);
    return problems.length ? { ok: false, problems } : ok(v);
  };
}

/**
 * SkyPilot's task `config:` schema (skypilot-schemas.ts). Sections it does not know pass, as on
 * SkyPilot's client; launch refuses them (notices.ts). Kept as written: providers read it.
 */
const config = field((v) => schemaField(TASK_CONFIG, 'config keys a task may override')(v) as Parsed<Record<string, unknown>>);

/** Each entry is checked when the volumes are resolved at launch, as in SkyPilot. */
function parseVolumes(v: unknown): Parsed<Record<string, unknown>> {
  if (!isPlainObject(v)) return fail(`expected a mapping of MOUNT_PATH: volume name, got ${showValue(v)}`);
  return ok(v);
}

/** `envs:` written with nothing after it makes SkyPilot fail; say so instead. */
const envs = field(
  (v) => (v === null ? fail("'envs' is empty; add NAME: value lines or remove it") : parseEnvMap(v)),
  { seeNull: true },
);

/** A text field Petrel checks and then drops (notices.ts says what happens to it). */
function dropped(parse: (v: unknown) => Parsed<unknown>) {
  return field((v): Parsed<undefined> => {
    const r = parse(v);
    return r.ok ? ok(undefined) : r;
  });
}

/** SkyPilot wants exactly one entry (and fails on `inputs:` left empty). */
function droppedSeeingNull(parse: (v: unknown) => Parsed<unknown>) {
  return field((v): Parsed<undefined> => {
    const r = parse(v);
    return r.ok ? ok(undefined) : r;
  }, { seeNull: true });
}

function parseInputsOutputs(v: unknown): Parsed<unknown> {
  if (v === null || (isPlainObject(v) && Object.keys(v).length === 0)) return fail('names no bucket; give one entry {URI: SIZE_GB} or remove it');
  return schemaField(INPUTS_OUTPUTS, 'one bucket URI to its size in GB')(v);
}

const VOLUME_CONFIG_KEYS = ['name', 'type', 'cloud', 'region', 'zone', 'name_on_cloud', 'size'];

/** Internal: SkyPilot writes resolved volumes here; each needs its full volume_config. */
function parseVolumeMounts(v: unknown): Parsed<unknown> {
  const r = schemaField(VOLUME_MOUNTS)(v);
  if (!r.ok) return r;
  const problems = (v as unknown[]).flatMap((m, i) => {
    const c = (m as Record<string, unknown>).volume_config;
    if (!isPlainObject(c)) return [{ path: [i], message: "missing required field 'volume_config'" }];
    return VOLUME_CONFIG_KEYS.filter((k) => !(k in c)).map((k) => ({ path: [i, 'volume_config'], message: `missing required field '${k}'` }));
  });
  return problems.length ? { ok: false, problems } : r;
}

function parseObject(what: string) {
  return (v: unknown): Parsed<unknown> => (isPlainObject(v) ? ok(v) : fail(`expected a mapping of ${what}, got ${showValue(v)}`));
}

const misplacedAtTop: Record<string, string> = {
  ...Object.fromEntries(
    RESOURCE_FIELD_NAMES.map((k) => [k, `is a resources field; move it under 'resources:'`]),
  ),
  execution:
    "is only allowed in the first (header) document of a multi-document file, next to 'name' (serial for a pipeline, parallel for a job group)",
  primary_tasks: "is a job group setting; put it in the first (header) document, next to 'name' and 'execution: parallel'",
  termination_delay: "is a job group setting; put it in the first (header) document, next to 'name' and 'execution: parallel'",
};

/** Accepted as SkyPilot accepts them, then ignored or refused at launch (notices.ts). */
const ACCEPTED_ELSEWHERE = ['service', 'pool', 'event_callback', 'inputs', 'outputs', 'managed_secrets', 'api_server_access'];

export const taskShape = strictShape(
  {
    name: field((v) => parseText(v, 'a task name')),
    workdir,
    num_nodes: field((v) => parseInteger(v, { min: 1, what: 'a positive whole number of nodes' })),
    resources: optionalShape(resourcesSchema),
    envs,
    secrets: field(parseSecrets),
    managed_secrets: field(schemaField(MANAGED_SECRETS)),
    file_mounts: fileMountsSchema,
    setup: field((v) => parseText(v, 'a bash script')),
    run: field((v) => parseText(v, 'a bash script')),
    config,
    volumes: field(parseVolumes),
    service: dropped(parseService),
    pool: dropped(parsePool),
    event_callback: dropped((v) => parseText(v, 'a bash script')),
    inputs: droppedSeeingNull(parseInputsOutputs),
    outputs: droppedSeeingNull(parseInputsOutputs),
    api_server_access: dropped(parseBool),
    file_mounts_mapping: dropped(parseObject('internal file mount paths')),
    volume_mounts: dropped(parseVolumeMounts),
    _metadata: dropped(parseObject('internal metadata')),
    // Petrel's own (SkyPilot would reject the file): see checkpoint.ts.
    checkpoint: optionalShape(checkpointShape),
  },
  { what: 'task fields', allowed: [...TASK_FIELD_NAMES, ...ACCEPTED_ELSEWHERE, 'checkpoint'], misplaced: misplacedAtTop },
);


export interface TaskShape {
  name?: string;
  workdir?: string | GitWorkdir;
  num_nodes?: number;
  resources?: ResourcesSpec;
  envs?: Record<string, string | null>;
  secrets?: Record<string, string | null>;
  managed_secrets?: unknown[];
  file_mounts?: Record<string, FileMount>;
  setup?: string;
  run?: string;
  config?: Record<string, unknown>;
  volumes?: Record<string, unknown>;
  checkpoint?: CheckpointShape;
}
