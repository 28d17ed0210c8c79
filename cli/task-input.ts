// Turns `petrel launch|exec [YAML|CMD] [flags]` into a validated task, or a UserError that
// names the file, line and field. Nothing is submitted before this succeeds.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  applyOverrides,
  assertReadyToLaunch,
  formatSpecNotice,
  readTaskYaml,
  taskFromCommand,
  TaskSpecError,
  type SpecNotice,
  type TaskOverrides,
} from '../core/spec/index.js';
import { planStorageMount } from '../core/storage-mounts.js';
import type { JobGroup, TaskSpec } from '../core/task.js';
import { UserError } from './errors.js';
import type { TaskFlags } from './task-flags.js';

/** The variable an `--env`/`--secret` item names: `K=V` and `K` (taken from your environment) alike. */
export function flagKey(item: string): string {
  const eq = item.indexOf('=');
  return eq < 0 ? item : item.slice(0, eq);
}

function keyValues(flag: string, items: string[] | undefined): Record<string, string> | undefined {
  if (!items) return undefined;
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    const key = flagKey(item);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new UserError(`${flag}: '${key}' is not a valid variable name`);
    if (eq >= 0) out[key] = item.slice(eq + 1);
    else if (process.env[key] !== undefined) out[key] = process.env[key]!;
    else throw new UserError(`${flag} ${key}: not set in your environment; use ${flag} ${key}=VALUE`);
  }
  return out;
}

export function overridesFromFlags(flags: TaskFlags): TaskOverrides {
  let numNodes: number | undefined;
  if (flags.numNodes !== undefined) {
    numNodes = Number(flags.numNodes);
    if (!Number.isInteger(numNodes) || numNodes < 1) throw new UserError(`--num-nodes: '${flags.numNodes}' is not a positive whole number`);
  }
  return {
    name: flags.name,
    workdir: flags.workdir,
    numNodes,
    envs: keyValues('--env', flags.env),
    secrets: keyValues('--secret', flags.secret),
    infra: flags.infra,
    cloud: flags.cloud,
    region: flags.region,
    zone: flags.zone,
    gpus: flags.gpus,
    cpus: flags.cpus,
    memory: flags.memory,
    instanceType: flags.instanceType,
    useSpot: flags.useSpot,
    diskSize: flags.diskSize,
    diskTier: flags.diskTier,
    ports: flags.ports,
    imageId: flags.imageId,
  };
}

export interface LoadedTask {
  task: TaskSpec;
  /** the YAML file, or undefined for a bare command */
  file?: string;
}

function looksLikeYamlPath(arg: string): boolean {
  return /\.ya?ml$/i.test(arg.trim()) && !/\s/.test(arg.trim());
}

/** Parse errors become UserErrors whose message lists every error with file:line:col. */
export function specErrorsToUserError(err: unknown): never {
  if (err instanceof TaskSpecError) throw new UserError(err.message);
  throw err;
}

export interface LoadedTasks {
  tasks: TaskSpec[];
  pipelineName?: string;
  execution?: 'serial' | 'parallel';
  jobGroup?: JobGroup;
  file: string;
  /** what SkyPilot accepts but Petrel ignores (warn) or refuses at launch (refuse) */
  notices: SpecNotice[];
}

export function loadTasks(entrypoint: string): LoadedTasks {
  let text: string;
  try {
    text = fs.readFileSync(entrypoint, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? `${entrypoint}: no such file` : `${entrypoint}: cannot read: ${(err as Error).message}`);
  }
  try {
    const parsed = readTaskYaml(text, entrypoint);
    return {
      tasks: parsed.tasks,
      pipelineName: parsed.pipelineName,
      ...(parsed.execution ? { execution: parsed.execution } : {}),
      ...(parsed.jobGroup ? { jobGroup: parsed.jobGroup } : {}),
      file: entrypoint,
      notices: parsed.notices,
    };
  } catch (err) {
    specErrorsToUserError(err);
  }
}

const stderrLine = (line: string) => {
  process.stderr.write(`${line}\n`);
};

/**
 * `note` prints what Petrel accepts but ignores (one line each, e.g. `inputs:`); fields SkyPilot
 * accepts but Petrel cannot run are refused here, before anything is submitted.
 */
export function loadTask(entrypoint: string | undefined, flags: TaskFlags, what: string, note: (line: string) => void = stderrLine): LoadedTask {
  let task: TaskSpec;
  let file: string | undefined;
  let notices: SpecNotice[] = [];
  if (entrypoint === undefined) throw new UserError(`${what}: give a task YAML file or a command to run`);
  if (looksLikeYamlPath(entrypoint) || fs.existsSync(entrypoint)) {
    const loaded = loadTasks(entrypoint);
    if (loaded.tasks.length === 0) throw new UserError(`${entrypoint}: holds no task; ${what} has nothing to run`);
    if (loaded.tasks.length !== 1 || loaded.execution === 'parallel') {
      const shape = loaded.execution === 'parallel' ? `a job group of ${loaded.tasks.length} tasks` : `a pipeline of ${loaded.tasks.length} tasks`;
      throw new UserError(`${entrypoint}: holds ${shape}; ${what} runs one task (pipelines and job groups run as managed jobs: petrel jobs launch ${entrypoint})`);
    }
    task = loaded.tasks[0]!;
    file = entrypoint;
    notices = loaded.notices.filter((n) => n.task === undefined || n.task === 0);
  } else {
    task = taskFromCommand(entrypoint);
  }
  return { task: prepareTask(task, file, overridesFromFlags(flags), notices, what === 'jobs launch', note), file };
}

/** Overrides, launch checks, and the workdir and file mounts resolved on this machine. */
function prepareTask(task: TaskSpec, file: string | undefined, overrides: TaskOverrides, notices: SpecNotice[], jobs: boolean, note: (line: string) => void): TaskSpec {
  try {
    task = applyOverrides(task, overrides);
    assertReadyToLaunch(task, file ?? 'command line', notices, jobs);
  } catch (err) {
    specErrorsToUserError(err);
  }
  for (const n of notices) if (n.effect === 'warn') note(formatSpecNotice(n));
  if (typeof task.workdir === 'string') {
    const dir = path.resolve(task.workdir);
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
      throw new UserError(`${file ?? '--workdir'}: workdir: '${task.workdir}' is not a directory`);
    }
    task = { ...task, workdir: dir };
  } else if (task.workdir) {
    throw new UserError(`${file}: workdir: git workdirs (url/ref) are not supported by Petrel yet; use a local directory`);
  }
  return { ...task, fileMounts: resolveFileMounts(task, file ?? 'command line', jobs ? 'jobs launch' : 'launch') };
}

export interface LoadedPipeline {
  file: string;
  name?: string;
  execution: 'serial' | 'parallel';
  jobGroup?: JobGroup;
  tasks: TaskSpec[];
}

/**
 * A multi-document YAML for `jobs launch`: every task checked as a single one would be, all
 * before anything is submitted. --env/--secret and the resource flags apply to every task (as
 * SkyPilot applies them to each task of a DAG); --name names the pipeline.
 */
export function loadPipeline(loaded: LoadedTasks, flags: TaskFlags, note: (line: string) => void = stderrLine): LoadedPipeline {
  const { name, ...perTask } = overridesFromFlags(flags);
  const tasks = loaded.tasks.map((task, i) =>
    prepareTask(
      task,
      loaded.file,
      perTask,
      loaded.notices.filter((n) => n.task === i || (n.task === undefined && i === 0)),
      true,
      note,
    ),
  );
  const pipelineName = name ?? loaded.pipelineName;
  return {
    file: loaded.file,
    ...(pipelineName !== undefined ? { name: pipelineName } : {}),
    execution: loaded.execution ?? 'serial',
    ...(loaded.jobGroup ? { jobGroup: loaded.jobGroup } : {}),
    tasks,
  };
}

/** A YAML file that holds more than one task, or a job group: `jobs launch` runs it as a pipeline. */
export function pipelineIn(entrypoint: string | undefined): LoadedTasks | undefined {
  if (entrypoint === undefined || !(looksLikeYamlPath(entrypoint) || fs.existsSync(entrypoint))) return undefined;
  const loaded = loadTasks(entrypoint);
  return loaded.tasks.length > 1 || loaded.execution === 'parallel' ? loaded : undefined;
}

/**
 * Local sources become absolute paths that exist; bucket mounts (S3, GCS) are checked, with their
 * local `source` (uploaded into a bucket Petrel creates) made absolute; what Petrel cannot serve
 * is refused with the reason.
 */
function resolveFileMounts(task: TaskSpec, where: string, what: string): TaskSpec['fileMounts'] {
  const out: TaskSpec['fileMounts'] = {};
  const absolute = (source: string) => path.resolve(source.replace(/^~(?=\/|$)/, os.homedir()));
  for (const [dest, mount] of Object.entries(task.fileMounts)) {
    const planned = planStorageMount(dest, mount);
    if (planned) {
      if (!planned.ok) throw new UserError(`${where}: file_mounts.${dest}: ${planned.message}`);
      if (what !== 'jobs launch') throw new UserError(`${where}: file_mounts.${dest}: bucket mounts run with managed jobs for now (petrel jobs launch); mount a local path here`);
      if (planned.localSource !== undefined && mount.kind === 'storage') {
        const source = absolute(planned.localSource);
        if (!fs.existsSync(source) || !fs.statSync(source).isDirectory()) throw new UserError(`${where}: file_mounts.${dest}.source: local directory '${planned.localSource}' does not exist`);
        out[dest] = { ...mount, source };
      } else out[dest] = mount;
      continue;
    }
    if (mount.kind !== 'path') throw new UserError(`${where}: file_mounts.${dest}: not a mount Petrel can serve`);
    const source = absolute(mount.source);
    if (!fs.existsSync(source)) throw new UserError(`${where}: file_mounts.${dest}: local path '${mount.source}' does not exist`);
    out[dest] = { kind: 'path', source };
  }
  return out;
}
