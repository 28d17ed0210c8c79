// Last checks before a task leaves the CLI, and the copy that is safe to log. SkyPilot parses
// some things it only refuses at launch (a task name with spaces, a mount path ending in '/', a
// bucket name left empty, an unset `$VAR`); Petrel does the same: `petrel validate` reports
// them as warnings (launchProblems), and launch refuses them on the final task, after flags.
import { planStorageMount } from '../storage-mounts.js';
import type { FileMount, TaskSpec } from '../task.js';
import { dockerLoginProblems } from './build.js';
import { ENV_NAME, referencedVars } from './env.js';
import { TaskSpecError, type SpecError, type SpecNotice } from './errors.js';
import { MOUNT_MODES, normalizedMode, normalizedStore, STORES, WORKDIR_TARGET } from './file-mounts.js';
import { fieldPath, hasOwn, isPlainObject, showValue, type PathSegment, type Problem } from './problems.js';
import { isTpu } from './resources.js';
import { assertTaskShape } from './task-shape.js';
import { parseTaskName } from './task-schema.js';

export const REDACTED = '<redacted>';

const CLOUD_URI = /^[a-z][a-z0-9+.-]*:\/\//i;

function guard<T>(file: string, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof TaskSpecError) throw e;
    const why = e instanceof Error ? e.message : String(e);
    throw new TaskSpecError([{ file, line: 0, column: 0, field: '', message: `cannot ${what}: ${why}` }]);
  }
}

function slashProblem(what: string, value: string): string {
  return `${what} ${showValue(value)} ends with '/'; file mount paths cannot end with a slash (write '/mydir: /mydir')`;
}

/**
 * `$VAR`s nobody set. Names declared in envs/secrets are left out: a null placeholder is
 * reported as such (pass --env NAME=VALUE), once.
 */
function unsetVars(task: TaskSpec, texts: Array<string | undefined>): string[] {
  const declared = (name: string) => hasOwn(task.envs, name) || hasOwn(task.secrets, name);
  return [...new Set(texts.flatMap((t) => (t === undefined ? [] : referencedVars(t))).filter((n) => !declared(n)))];
}

function unsetMessage(names: string[]): string {
  const list = names.map((n) => `$${n}`).join(', ');
  const flags = names.map((n) => `--env ${n}=VALUE`).join(' ');
  return `${list} ${names.length === 1 ? 'is' : 'are'} not set; declare ${names.length === 1 ? 'it' : 'them'} under envs or pass ${flags}`;
}

function mountProblems(task: TaskSpec, dest: string, mount: FileMount): Problem[] {
  const at = ['file_mounts', dest];
  const problems: Problem[] = [];
  const push = (path: PathSegment[], message: string, key = false) => problems.push(key ? { path, message, at: 'key' } : { path, message });
  if (dest.endsWith('/')) push(at, slashProblem('remote path', dest), true);
  if (CLOUD_URI.test(dest)) push(at, `${showValue(dest)} is a bucket URI; the remote side of a file mount must be a path on the node`, true);
  if (dest === WORKDIR_TARGET && task.workdir !== undefined) {
    push(at, `${WORKDIR_TARGET} is where the workdir is synced; mount this somewhere else or drop 'workdir'`, true);
  }
  const sources = mount.source === undefined ? [] : Array.isArray(mount.source) ? mount.source : [mount.source];
  const unset = unsetVars(task, [dest, ...sources, ...(mount.kind === 'storage' ? [mount.name, mount.store, mount.mode] : [])]);
  if (unset.length) {
    push(at, unsetMessage(unset));
    return problems;
  }
  if (mount.kind === 'path') {
    if (mount.source.endsWith('/')) push(at, slashProblem('source', mount.source));
    return problems;
  }
  // A store or mode still naming a declared placeholder is checked once --env fills it.
  const pending = (v: string) => referencedVars(v).length > 0;
  if (mount.store !== undefined && !pending(mount.store) && !normalizedStore(mount.store)) {
    push([...at, 'store'], `${showValue(mount.store)} is not allowed; expected one of: ${STORES.join(', ')}`);
  }
  if (!pending(mount.mode) && !normalizedMode(mount.mode)) {
    push([...at, 'mode'], `${showValue(mount.mode)} is not allowed; expected one of: ${MOUNT_MODES.join(', ')}`);
  }
  const nameless = mount.name === undefined || mount.name.trim() === '';
  const uri = sources.length === 1 && CLOUD_URI.test(sources[0]!);
  if (mount.store !== 'VOLUME' && nameless && !uri) {
    push(
      [...at, 'name'],
      sources.length
        ? 'the bucket name is empty; set name: to the bucket to upload the source into (e.g. name: my-bucket)'
        : 'the bucket name is empty; fill in name: (e.g. name: my-bucket), or give source: an existing bucket URI',
    );
  }
  return problems;
}

function stringsIn(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.flatMap(stringsIn);
  if (isPlainObject(v)) return Object.entries(v).flatMap(([k, x]) => [k, ...stringsIn(x)]);
  return [];
}

/**
 * Mounts Petrel cannot serve (buckets on stores other than S3/GCS, volumes, several sources for
 * one mount; core/storage-mounts.ts): refused at launch, and reported by `petrel validate`.
 */
export function unsupportedMounts(task: TaskSpec): Problem[] {
  return Object.entries(task.fileMounts).flatMap(([dest, m]) => {
    // A `$VAR` still unset is reported on its own (it must be set first).
    if (JSON.stringify(m).includes('$')) return [];
    if (m.kind === 'storage') {
      // A store SkyPilot does not know, or an empty bucket name, is reported on its own.
      if (m.store !== undefined && !normalizedStore(m.store)) return [];
      if ((m.name ?? '').trim() === '' && m.source === undefined && m.store?.toUpperCase() !== 'VOLUME') return [];
    }
    const planned = planStorageMount(dest, m);
    return planned && !planned.ok ? [{ path: ['file_mounts', dest], at: 'key' as const, message: planned.message }] : [];
  });
}

/** A volume is a name (existing), or a mapping with size (new), name or host_path (SkyPilot). */
function volumeProblem(v: unknown): string | undefined {
  if (typeof v === 'string') return v.trim() === '' ? 'the volume name is empty' : undefined;
  if (isPlainObject(v)) {
    return ['size', 'name', 'host_path'].some((k) => k in v) ? undefined : "a volume mapping needs 'size' (a new volume), 'name' (an existing one) or 'host_path' (Slurm)";
  }
  return `expected a volume name or a volume mapping, got ${showValue(v)}`;
}

/**
 * What SkyPilot (or Petrel) refuses at launch although the YAML parsed: paths are YAML paths
 * (file_mounts keys as substituted), so validate can point at the line.
 */
export function launchProblems(task: TaskSpec): Problem[] {
  const problems: Problem[] = [];
  if (task.name !== undefined) {
    const r = parseTaskName(task.name);
    if (!r.ok) problems.push({ path: ['name'], message: r.problems[0]!.message });
  }
  for (const k of Object.keys(task.secrets)) {
    if (!ENV_NAME.test(k)) problems.push({ path: ['secrets', k], at: 'key', message: `${showValue(k)} is not a valid variable name; use letters, digits and '_', not starting with a digit` });
  }
  if (task.workdir !== undefined) {
    const texts = typeof task.workdir === 'string' ? [task.workdir] : [task.workdir.url, task.workdir.ref];
    const unset = unsetVars(task, texts);
    if (unset.length) problems.push({ path: ['workdir'], message: unsetMessage(unset) });
  }
  for (const [dest, mount] of Object.entries(task.fileMounts)) if (isPlainObject(mount)) problems.push(...mountProblems(task, dest, mount as FileMount));
  for (const [path, v] of Object.entries(task.volumes)) {
    const unset = unsetVars(task, [path, ...stringsIn(v)]);
    const why = unset.length ? unsetMessage(unset) : volumeProblem(v);
    if (why) problems.push({ path: ['volumes', path], message: why });
  }
  const seen = new Set<string>();
  const once = (p: Problem) => {
    const key = `${fieldPath(p.path)}|${p.message}`;
    if (!seen.has(key)) problems.push(p);
    seen.add(key);
  };
  for (const c of task.resources.candidates) {
    for (const name of Object.keys(isPlainObject(c.accelerators) ? c.accelerators : {})) {
      if (name.trim() === '') once({ path: ['resources', 'accelerators'], message: 'names no accelerator; give a name such as A100:8' });
      else if (isTpu(name)) {
        once({ path: ['resources', 'accelerators'], message: `'${name}' is a TPU; Petrel launches no TPUs yet (neither GCP TPU VMs nor GKE TPU node pools)` });
      }
    }
    for (const [k, field] of [['region', 'region'], ['zone', 'zone'], ['instanceType', 'instance_type']] as const) {
      const v = c[k];
      if (typeof v === 'string' && v.trim() === '') once({ path: ['resources', field], message: 'is empty; give a value or remove the field' });
    }
    const images = typeof c.imageId === 'string' ? { '': c.imageId } : isPlainObject(c.imageId) ? c.imageId : {};
    if (Object.values(images).some((id) => typeof id === 'string' && id.trim() === '')) {
      once({ path: ['resources', 'image_id'], message: 'is empty; give an image id or remove the field' });
    }
    if (isPlainObject(c.imageId) && 'docker' in c.imageId) {
      once({ path: ['resources', 'image_id', 'docker'], at: 'key', message: 'a container image next to per-region VM images is not supported by Petrel yet' });
    }
  }
  return problems;
}

/** A launch problem the YAML already had is shown at its line (from the parse-time notice). */
function asError(file: string, p: Problem, notices: readonly SpecNotice[] = []): SpecError {
  const field = fieldPath(p.path);
  const seen = notices.find((n) => n.derived && n.field === field && n.message === p.message);
  return seen ? { file: seen.file, line: seen.line, column: seen.column, field, message: p.message } : { file, line: 0, column: 0, field, message: p.message };
}

/**
 * Every env/secret left as a null placeholder must have been filled by --env/--secret, and
 * nothing SkyPilot or Petrel refuses at launch may remain. `refusals` are the parse-time
 * notices about fields as written (readTaskYaml); `jobs` says whether this is a managed job.
 */
export function assertReadyToLaunch(task: TaskSpec, file: string, refusals: readonly SpecNotice[] = [], jobs = false): void {
  guard(String(file), 'check the task', () => {
    assertTaskShape(task, String(file));
    const errors: SpecError[] = [];
    for (const [kind, flag] of [['envs', '--env'], ['secrets', '--secret']] as const) {
      for (const [k, v] of Object.entries(task[kind])) {
        if (v === null || v === undefined) {
          errors.push({ file: String(file), line: 0, column: 0, field: `${kind}.${k}`, message: `no value; pass ${flag} ${k}=VALUE` });
        }
      }
    }
    for (const p of dockerLoginProblems(task.envs, task.secrets)) errors.push(asError(String(file), p));
    const notices = Array.isArray(refusals) ? refusals : [];
    for (const p of [...launchProblems(task), ...unsupportedMounts(task)]) errors.push(asError(String(file), p, notices));
    for (const n of notices) {
      if (n.effect === 'refuse' && !n.derived && (jobs || !n.jobsOnly)) {
        errors.push({ file: n.file, line: n.line, column: n.column, field: n.field, message: n.message });
      }
    }
    if (errors.length) throw new TaskSpecError(errors.sort((a, b) => a.line - b.line || a.column - b.column));
  });
}

/**
 * A copy safe for logs, workflow memos and dry runs: secret values become '<redacted>', also
 * where `${SECRET}` was substituted into workdir or file_mounts. Unfilled (null) secrets stay
 * null so a dry run still shows what is missing.
 */
export function redactTask(task: TaskSpec): TaskSpec {
  return guard('<task>', 'redact the task', () => {
    assertTaskShape(task, '<task>');
    const copy = JSON.parse(JSON.stringify(task)) as TaskSpec;
    const values = Object.values(copy.secrets).filter((v): v is string => typeof v === 'string' && v !== '');
    // Longest first, so a secret that contains another is scrubbed whole.
    values.sort((a, b) => b.length - a.length);
    const scrub = (s: string) => values.reduce((acc, v) => acc.split(v).join(REDACTED), s);
    const scrubDeep = (v: unknown): unknown => {
      if (typeof v === 'string') return scrub(v);
      if (Array.isArray(v)) return v.map(scrubDeep);
      if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [scrub(k), scrubDeep(x)]));
      return v;
    };
    copy.secrets = Object.fromEntries(Object.entries(copy.secrets).map(([k, v]) => [k, v === null ? null : REDACTED]));
    if (values.length) {
      if (copy.workdir !== undefined) copy.workdir = scrubDeep(copy.workdir) as TaskSpec['workdir'];
      copy.fileMounts = scrubDeep(copy.fileMounts) as TaskSpec['fileMounts'];
      copy.volumes = scrubDeep(copy.volumes) as TaskSpec['volumes'];
    }
    return copy;
  });
}
