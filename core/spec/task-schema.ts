// The top-level task mapping as a zod shape (one YAML document = one task).
import { z } from 'zod';
import type { FileMount, GitWorkdir } from '../task.js';
import { parseEnvMap } from './env.js';
import { fileMountsSchema } from './file-mounts.js';
import { fail, isPlainObject, ok, showValue, type Parsed } from './problems.js';
import { RESOURCE_FIELD_NAMES, resourcesSchema, TASK_FIELD_NAMES, type ResourcesSpec } from './resources-schema.js';
import { parseInteger, parseString, parseText } from './scalars.js';
import { field, optionalShape, rejected, required, scalarOrShape, strictShape } from './zod-kit.js';

const TASK_NAME = /^[a-zA-Z0-9]+(?:[._-]{1,2}[a-zA-Z0-9]+)*$/;

export function parseTaskName(v: unknown): Parsed<string> {
  const s = parseString(v, 'a task name');
  if (!s.ok) return s;
  if (TASK_NAME.test(s.value)) return s;
  return fail(
    `${showValue(v)} is not a valid name; use letters and digits, separated by at most two of '.', '_' or '-' (e.g. train-llama_v2)`,
  );
}

const workdir = scalarOrShape(
  (v): Parsed<string | GitWorkdir> => parseString(v, 'a local directory or a mapping {url, ref}'),
  strictShape(
    {
      url: required('url', (v) => parseString(v, 'a git repository URL')),
      ref: field((v) => parseString(v, 'a git branch, tag or commit')),
    },
    { what: 'git workdir fields' },
  ),
  (o): GitWorkdir => (o.ref !== undefined ? { url: o.url, ref: o.ref } : { url: o.url }),
);

function loose(keys: string[], what: string) {
  return optionalShape(strictShape(Object.fromEntries(keys.map((k) => [k, z.unknown().optional()])), { what }));
}

/** `OVERRIDEABLE_CONFIG_KEYS_IN_TASK` from SkyPilot: the only config a task may carry. */
const configShape = strictShape(
  {
    docker: loose(['run_options'], 'docker config keys'),
    nvidia_gpus: loose(['disable_ecc'], 'nvidia_gpus config keys'),
    kubernetes: loose(['pod_config', 'custom_metadata', 'provision_timeout', 'dws', 'kueue', 'remote_identity'], 'kubernetes config keys'),
    ssh: loose(['pod_config', 'custom_metadata', 'provision_timeout'], 'ssh config keys'),
    gcp: loose(['managed_instance_group', 'enable_gvnic', 'enable_gpu_direct', 'placement_policy'], 'gcp config keys'),
    vast: loose(['datacenter_only', 'create_instance_kwargs'], 'vast config keys'),
    active_workspace: field((v) => parseString(v, 'a workspace name')),
  },
  { what: 'config keys a task may override' },
);

/** Validated for shape, then kept exactly as written (it is forwarded to providers). */
const config = z.unknown().transform((v, ctx): Record<string, unknown> | undefined => {
  if (v === undefined || v === null) return undefined;
  const r = configShape.safeParse(v, { reportInput: true });
  if (!r.success) {
    for (const issue of r.error.issues) ctx.issues.push({ ...issue } as unknown as z.core.$ZodRawIssue);
    return z.NEVER;
  }
  return v as Record<string, unknown>;
}).optional();

function parseVolumes(v: unknown): Parsed<Record<string, unknown>> {
  if (!isPlainObject(v)) return fail(`expected a mapping of MOUNT_PATH: volume name, got ${showValue(v)}`);
  for (const [path, vol] of Object.entries(v)) {
    if (!(typeof vol === 'string' && vol.trim() !== '') && !isPlainObject(vol)) {
      return fail(`expected a volume name or a volume mapping, got ${showValue(vol)}`, [path]);
    }
  }
  return ok(v);
}

const misplacedAtTop: Record<string, string> = {
  ...Object.fromEntries(
    RESOURCE_FIELD_NAMES.map((k) => [k, `is a resources field; move it under 'resources:'`]),
  ),
  execution: "is only allowed in the first (header) document of a multi-document pipeline, next to 'name'",
};

export const taskShape = strictShape(
  {
    name: field(parseTaskName),
    workdir,
    num_nodes: field((v) => parseInteger(v, { min: 1, what: 'a positive whole number of nodes' })),
    resources: optionalShape(resourcesSchema),
    envs: field((v) => parseEnvMap(v, '--env')),
    secrets: field((v) => parseEnvMap(v, '--secret')),
    file_mounts: fileMountsSchema,
    setup: field((v) => parseText(v, 'a bash script')),
    run: field((v) => parseText(v, 'a bash script')),
    config,
    volumes: field(parseVolumes),
    service: rejected("not supported by Petrel yet (SkyPilot's SkyServe services are planned)"),
    pool: rejected("not supported by Petrel yet (SkyPilot's job pools are planned)"),
    event_callback: rejected('not supported by Petrel yet (job status callbacks are planned)'),
    inputs: rejected("not supported by Petrel yet (SkyPilot's egress-cost inputs/outputs are planned)"),
    outputs: rejected("not supported by Petrel yet (SkyPilot's egress-cost inputs/outputs are planned)"),
  },
  { what: 'task fields', allowed: TASK_FIELD_NAMES, misplaced: misplacedAtTop },
);

export interface TaskShape {
  name?: string;
  workdir?: string | GitWorkdir;
  num_nodes?: number;
  resources?: ResourcesSpec;
  envs?: Record<string, string | null>;
  secrets?: Record<string, string | null>;
  file_mounts?: Record<string, FileMount>;
  setup?: string;
  run?: string;
  config?: Record<string, unknown>;
  volumes?: Record<string, unknown>;
}
