// One validated task mapping → TaskSpec, plus the cross-field checks that zod cannot express.
import type { TaskSpec } from '../task.js';
import { substitutionVars } from './env.js';
import { substituteFileMounts, substituteWorkdir, WORKDIR_TARGET } from './file-mounts.js';
import { compact, hasOwn, isPlainObject, type Parsed, type Problem } from './problems.js';
import { buildCandidates, resourceConflicts } from './resources.js';
import type { TaskShape } from './task-schema.js';

/** Checked on the raw mapping so they show up alongside per-field errors. */
export function taskConflicts(raw: unknown): Problem[] {
  if (!isPlainObject(raw)) return [];
  const problems = resourceConflicts(raw.resources, ['resources']);
  const mounts = raw.file_mounts;
  if (raw.workdir != null && isPlainObject(mounts) && hasOwn(mounts, WORKDIR_TARGET)) {
    problems.push({
      path: ['file_mounts', WORKDIR_TARGET],
      at: 'key',
      message: `${WORKDIR_TARGET} is where the workdir is synced; mount this somewhere else or drop 'workdir'`,
    });
  }
  return problems;
}

export function buildTask(shape: TaskShape): Parsed<TaskSpec> {
  const resources = buildCandidates(shape.resources, ['resources']);
  if (!resources.ok) return resources;
  const envs = shape.envs ?? {};
  const secrets = shape.secrets ?? {};
  const vars = substitutionVars(envs, secrets);
  const task: TaskSpec = compact({
    name: shape.name,
    workdir: shape.workdir === undefined ? undefined : substituteWorkdir(shape.workdir, vars),
    numNodes: shape.num_nodes ?? 1,
    resources: resources.value,
    envs,
    secrets,
    fileMounts: substituteFileMounts(shape.file_mounts ?? {}, vars),
    setup: shape.setup,
    run: shape.run,
    config: shape.config ?? {},
    volumes: shape.volumes ?? {},
  });
  // Plain JSON by contract (Temporal payloads); this also unshares YAML alias references.
  return { ok: true, value: JSON.parse(JSON.stringify(task)) as TaskSpec };
}
