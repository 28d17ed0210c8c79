// CLI flags over a parsed task. Flags win over YAML (SkyPilot precedence); a bad flag value is
// reported against the flag itself, since there is no file position to point at.
import type { ResourceRequest, TaskSpec } from '../task.js';
import { parseAccelerators, type AcceleratorChoice } from './accelerators.js';
import { checkEnvName, substituteDeep, substitutionVars } from './env.js';
import { TaskSpecError, type SpecError } from './errors.js';
import { substituteFileMounts, substituteWorkdir, WORKDIR_TARGET } from './file-mounts.js';
import { parseInfra, parseCloud, type Location } from './infra.js';
import { parsePort } from './ports.js';
import { isPlainObject, showValue, type Parsed } from './problems.js';
import { parseCpus, parseDiskSize, parseMemory } from './quantities.js';
import { dedupe } from './resources.js';
import { DISK_TIERS } from './resources-schema.js';
import { parseBool, parseEnum, parseInteger, parseString } from './scalars.js';
import { assertTaskShape } from './task-shape.js';
import { parseTaskName } from './task-schema.js';

export interface TaskOverrides {
  name?: string;
  workdir?: string;
  numNodes?: number;
  envs?: Record<string, string>;
  secrets?: Record<string, string>;
  infra?: string;
  cloud?: string;
  region?: string;
  zone?: string;
  gpus?: string;
  cpus?: string;
  memory?: string;
  instanceType?: string;
  useSpot?: boolean;
  diskSize?: string;
  diskTier?: string;
  ports?: string[];
  imageId?: string;
}

const FLAGS: Record<keyof TaskOverrides, string> = {
  name: '--name',
  workdir: '--workdir',
  numNodes: '--num-nodes',
  envs: '--env',
  secrets: '--secret',
  infra: '--infra',
  cloud: '--cloud',
  region: '--region',
  zone: '--zone',
  gpus: '--gpus',
  cpus: '--cpus',
  memory: '--memory',
  instanceType: '--instance-type',
  useSpot: '--use-spot',
  diskSize: '--disk-size',
  diskTier: '--disk-tier',
  ports: '--ports',
  imageId: '--image-id',
};

/** SkyPilot's CLI lets `none` clear a value that the YAML set. */
const isNone = (v: unknown) => typeof v === 'string' && v.trim().toLowerCase() === 'none';

class FlagErrors {
  readonly errors: SpecError[] = [];

  add(key: keyof TaskOverrides, field: string, message: string): void {
    this.errors.push({ file: FLAGS[key], line: 0, column: 0, field, message });
  }

  /** Runs a validator on a flag value; undefined means the flag was not given. */
  take<T>(key: keyof TaskOverrides, field: string, value: unknown, parse: (v: unknown) => Parsed<T>): T | undefined {
    if (value === undefined) return undefined;
    const r = parse(value);
    if (r.ok) return r.value;
    for (const p of r.problems) this.add(key, field, p.message);
    return undefined;
  }
}

function readVars(errs: FlagErrors, key: 'envs' | 'secrets', value: unknown): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isPlainObject(value)) {
    errs.add(key, key, `expected NAME=VALUE pairs, got ${showValue(value)}`);
    return undefined;
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    const bad = checkEnvName(k);
    if (bad) errs.add(key, `${key}.${k}`, bad.message);
    else if (typeof v !== 'string') errs.add(key, `${key}.${k}`, `expected a string value, got ${showValue(v)}`);
    else out[k] = v;
  }
  return out;
}

type Edit = (c: ResourceRequest) => ResourceRequest;

function withoutLocation(c: ResourceRequest): ResourceRequest {
  const { cloud: _c, region: _r, zone: _z, ...rest } = c;
  return rest;
}

function withoutAccelerators(c: ResourceRequest): ResourceRequest {
  const { accelerators: _a, acceleratorMemory: _m, ...rest } = c;
  return rest;
}

function setOrClear<K extends keyof ResourceRequest>(key: K, value: ResourceRequest[K] | null): Edit {
  return (c) => {
    const copy = { ...c };
    if (value === null) delete copy[key];
    else copy[key] = value;
    return copy;
  };
}

function applyUnchecked(task: TaskSpec, overrides: TaskOverrides): TaskSpec {
  assertTaskShape(task, '<task>');
  const errs = new FlagErrors();
  const o: Partial<Record<keyof TaskOverrides, unknown>> = isPlainObject(overrides) ? overrides : {};
  const t = JSON.parse(JSON.stringify(task)) as TaskSpec;
  const edits: Edit[] = [];

  const name = errs.take('name', 'name', o.name, parseTaskName);
  const workdir = errs.take('workdir', 'workdir', o.workdir, (v) => parseString(v, 'a local directory'));
  const numNodes = errs.take('numNodes', 'num_nodes', o.numNodes, (v) =>
    parseInteger(typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v, { min: 1, what: 'a positive whole number of nodes' }),
  );
  const envs = readVars(errs, 'envs', o.envs);
  const secrets = readVars(errs, 'secrets', o.secrets);

  // Location: --infra replaces cloud/region/zone together; the legacy flags narrow it piecewise.
  const legacyGiven = (['cloud', 'region', 'zone'] as const).filter((k) => o[k] !== undefined);
  if (o.infra !== undefined && legacyGiven.length) {
    errs.add('infra', 'resources.infra', `cannot be combined with ${legacyGiven.map((k) => FLAGS[k]).join(', ')}; use --infra CLOUD/REGION/ZONE alone`);
  } else if (o.infra !== undefined) {
    const loc = errs.take('infra', 'resources.infra', o.infra, parseInfra);
    if (loc) edits.push((c) => ({ ...withoutLocation(c), ...loc }));
  } else if (legacyGiven.length) {
    const loc: Location & { clear: Array<keyof Location> } = { clear: [] };
    if (o.cloud !== undefined) {
      loc.clear.push('cloud', 'region', 'zone');
      if (!isNone(o.cloud)) loc.cloud = errs.take('cloud', 'resources.cloud', o.cloud, parseCloud);
    }
    if (o.region !== undefined) {
      loc.clear.push('region', 'zone');
      if (!isNone(o.region)) loc.region = errs.take('region', 'resources.region', o.region, (v) => parseString(v, 'a region name'));
    }
    if (o.zone !== undefined) {
      loc.clear.push('zone');
      if (!isNone(o.zone)) loc.zone = errs.take('zone', 'resources.zone', o.zone, (v) => parseString(v, 'a zone name'));
    }
    edits.push((c) => {
      const copy: ResourceRequest = { ...c };
      for (const k of loc.clear) delete copy[k];
      for (const k of ['cloud', 'region', 'zone'] as const) if (loc[k] !== undefined) copy[k] = loc[k];
      return copy;
    });
  }

  let gpus: AcceleratorChoice | 'none' | undefined;
  if (isNone(o.gpus)) gpus = 'none';
  else gpus = errs.take('gpus', 'resources.accelerators', o.gpus, parseAccelerators);

  const cpus = errs.take('cpus', 'resources.cpus', o.cpus, parseCpus);
  if (cpus) edits.push(setOrClear('cpus', cpus));
  const memory = errs.take('memory', 'resources.memory', o.memory, parseMemory);
  if (memory) edits.push(setOrClear('memoryGb', memory));
  const instanceType = errs.take('instanceType', 'resources.instance_type', o.instanceType, (v) => parseString(v, 'an instance type name'));
  if (instanceType !== undefined) edits.push(setOrClear('instanceType', instanceType));
  const useSpot = errs.take('useSpot', 'resources.use_spot', o.useSpot, parseBool);
  if (useSpot !== undefined) edits.push(setOrClear('useSpot', useSpot));
  const diskSize = errs.take('diskSize', 'resources.disk_size', o.diskSize, parseDiskSize);
  if (diskSize !== undefined) edits.push(setOrClear('diskSizeGb', diskSize));
  if (isNone(o.diskTier)) edits.push(setOrClear('diskTier', null));
  else {
    const tier = errs.take('diskTier', 'resources.disk_tier', o.diskTier, (v) => parseEnum(v, DISK_TIERS));
    if (tier !== undefined) edits.push(setOrClear('diskTier', tier));
  }
  if (o.ports !== undefined) {
    if (!Array.isArray(o.ports)) errs.add('ports', 'resources.ports', `expected a list of ports, got ${showValue(o.ports)}`);
    else {
      const ports: string[] = [];
      o.ports.forEach((p) => {
        const r = errs.take('ports', 'resources.ports', p, parsePort);
        if (r !== undefined && !ports.includes(r)) ports.push(r);
      });
      edits.push(setOrClear('ports', ports));
    }
  }
  const imageId = errs.take('imageId', 'resources.image_id', o.imageId, (v) => parseString(v, 'an image id'));
  if (imageId !== undefined) edits.push(setOrClear('imageId', imageId));

  if (workdir !== undefined && Object.prototype.hasOwnProperty.call(t.fileMounts, WORKDIR_TARGET)) {
    errs.add('workdir', 'workdir', `the task mounts a file at ${WORKDIR_TARGET}, where the workdir is synced; move that mount first`);
  }
  if (errs.errors.length) throw new TaskSpecError(errs.errors);

  if (name !== undefined) t.name = name;
  if (numNodes !== undefined) t.numNodes = numNodes;
  if (envs) t.envs = { ...t.envs, ...envs };
  if (secrets) t.secrets = { ...t.secrets, ...secrets };
  if (workdir !== undefined) t.workdir = workdir;

  const before = t.resources.candidates;
  let candidates = before.map((c) => edits.reduce((acc, edit) => edit(acc), c));
  let ordered = t.resources.ordered;
  if (gpus === 'none') candidates = candidates.map(withoutAccelerators);
  else if (gpus) {
    const choice = gpus;
    candidates = candidates.flatMap((c) => choice.options.map((opt) => ({ ...withoutAccelerators(c), ...opt })));
    // With one base candidate the flag decides the order, as a YAML accelerators list would.
    if (before.length === 1) ordered = choice.kind === 'list' && choice.options.length > 1;
  }
  t.resources = { candidates: dedupe(candidates), ordered };

  // Values that were null placeholders in the YAML can now fill their `${VAR}` references.
  const vars = substitutionVars(t.envs, t.secrets);
  if (t.workdir !== undefined) t.workdir = substituteWorkdir(t.workdir, vars);
  t.fileMounts = substituteFileMounts(t.fileMounts, vars);
  t.volumes = substituteDeep(t.volumes, vars) as TaskSpec['volumes'];
  return JSON.parse(JSON.stringify(t)) as TaskSpec;
}

export function applyOverrides(task: TaskSpec, overrides: TaskOverrides): TaskSpec {
  try {
    return applyUnchecked(task, overrides);
  } catch (e) {
    if (e instanceof TaskSpecError) throw e;
    const why = e instanceof Error ? e.message : String(e);
    throw new TaskSpecError([{ file: '<overrides>', line: 0, column: 0, field: '', message: `cannot apply the command-line overrides: ${why}` }]);
  }
}
