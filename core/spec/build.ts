// One validated task mapping → TaskSpec, plus the cross-field checks that zod cannot express.
import { buildCheckpoint } from './checkpoint.js';
import type { TaskSpec } from '../task.js';
import { secretRefName } from './env.js';
import { compact, hasOwn, isPlainObject, type Parsed, type Problem } from './problems.js';
import { buildCandidates, resourceConflicts } from './resources.js';
import type { TaskShape } from './task-schema.js';

const DOCKER_LOGIN = ['SKYPILOT_DOCKER_USERNAME', 'SKYPILOT_DOCKER_PASSWORD', 'SKYPILOT_DOCKER_SERVER'];

/**
 * SkyPilot's _check_docker_login_config: the private-registry login variables go together, all
 * in envs or all in (inline) secrets. A null env counts as given: --env must fill it anyway.
 */
export function dockerLoginProblems(envs: Record<string, unknown>, secrets: Record<string, unknown>): Problem[] {
  const inEnvs = DOCKER_LOGIN.filter((k) => hasOwn(envs, k));
  const inSecrets = DOCKER_LOGIN.filter((k) => hasOwn(secrets, k) && secrets[k] !== null);
  if (inEnvs.length && inSecrets.length) {
    return [{
      path: ['secrets', inSecrets[0]!],
      at: 'key',
      message: `the docker login variables must all be in envs or all in secrets; found ${inEnvs.join(', ')} in envs and ${inSecrets.join(', ')} in secrets`,
    }];
  }
  const [where, given] = inEnvs.length ? (['envs', inEnvs] as const) : (['secrets', inSecrets] as const);
  if (given.length && given.length < DOCKER_LOGIN.length) {
    return [{
      path: [where, given[0]!],
      at: 'key',
      message: `the docker login variables go together; also set ${DOCKER_LOGIN.filter((k) => !given.includes(k)).join(', ')} in ${where}`,
    }];
  }
  return [];
}

/** Checked on the raw mapping so they show up alongside per-field errors. */
export function taskConflicts(raw: unknown): Problem[] {
  if (!isPlainObject(raw)) return [];
  const problems = resourceConflicts(raw.resources, ['resources']);
  if (raw.service != null && raw.pool != null) {
    problems.push({ path: ['pool'], at: 'key', message: "cannot be combined with 'service'; a task is a service or a pool, not both" });
  }
  return problems;
}

/** `managed_secrets:` names become placeholders that --secret fills (Petrel has no secret store). */
function managedSecretNames(list: unknown[] | undefined): string[] {
  const names: string[] = [];
  for (const entry of list ?? []) {
    if (typeof entry === 'string') names.push(secretRefName(entry).name);
    else if (isPlainObject(entry)) names.push(...Object.keys(entry).map((k) => secretRefName(k).name));
  }
  return names;
}

/** `shape` arrives with envs already substituted into file_mounts, workdir and volumes (parse.ts). */
export function buildTask(shape: TaskShape): Parsed<TaskSpec> {
  const resources = buildCandidates(shape.resources, ['resources']);
  if (!resources.ok) return resources;
  const envs = shape.envs ?? {};
  const secrets = { ...(shape.secrets ?? {}) };
  for (const name of managedSecretNames(shape.managed_secrets)) if (!hasOwn(secrets, name)) secrets[name] = null;
  const problems = dockerLoginProblems(envs, secrets);
  if (problems.length) return { ok: false, problems };
  const task: TaskSpec = compact({
    name: shape.name,
    workdir: shape.workdir,
    numNodes: shape.num_nodes ?? 1,
    resources: resources.value,
    envs,
    secrets,
    fileMounts: shape.file_mounts ?? {},
    setup: shape.setup,
    run: shape.run,
    config: shape.config ?? {},
    volumes: shape.volumes ?? {},
    checkpoint: shape.checkpoint ? buildCheckpoint(shape.checkpoint) : undefined,
  });
  // Plain JSON by contract (Temporal payloads); this also unshares YAML alias references.
  return { ok: true, value: JSON.parse(JSON.stringify(task)) as TaskSpec };
}
