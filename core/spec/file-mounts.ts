// file_mounts: remote path → local path / bucket URI, or a storage mapping.
import { z } from 'zod';
import type { FileMount, GitWorkdir } from '../task.js';
import { substituteVars } from './env.js';
import { isPlainObject, showValue, type Parsed, type Problem } from './problems.js';
import { parseBool, parseEnum, parseString } from './scalars.js';
import { field, rejected, strictShape } from './zod-kit.js';

export const STORES = ['S3', 'GCS', 'AZURE', 'R2', 'IBM', 'OCI', 'NEBIUS', 'COREWEAVE', 'VOLUME'] as const;
export const MOUNT_MODES = ['MOUNT', 'COPY', 'MOUNT_CACHED'] as const;
/** Where SkyPilot (and Petrel) put the workdir on every node. */
export const WORKDIR_TARGET = '~/sky_workdir';

const CLOUD_URI = /^[a-z][a-z0-9+.-]*:\/\//i;

function parseSource(v: unknown): Parsed<string | string[]> {
  if (Array.isArray(v)) {
    if (v.length === 0) return { ok: false as const, problems: [{ path: [], message: 'an empty list names no source; expected a path/URI or a list of them' }] };
    const problems: Problem[] = [];
    const out: string[] = [];
    v.forEach((x, i) => {
      const r = parseString(x, 'a local path or bucket URI');
      if (r.ok) out.push(r.value);
      else problems.push(...r.problems.map((p) => ({ ...p, path: [i] })));
    });
    return problems.length ? { ok: false as const, problems } : { ok: true as const, value: out };
  }
  return parseString(v, 'a local path or bucket URI (or a list of them)');
}

const storageShape = strictShape(
  {
    name: field((v) => parseString(v, 'a bucket name')),
    source: field(parseSource),
    store: field((v) => parseEnum(v, STORES)),
    persistent: field(parseBool),
    mode: field((v) => parseEnum(v, MOUNT_MODES)),
    config: rejected('not supported by Petrel yet (storage volume config is planned)'),
  },
  { what: 'storage fields', allowed: ['name', 'source', 'store', 'persistent', 'mode'] },
).superRefine((o, ctx) => {
  if (o.name === undefined && o.source === undefined) {
    ctx.addIssue({ code: 'custom', message: "a storage mount needs 'name' (a bucket) or 'source'", params: { at: 'key' } });
  }
});

function slashProblem(what: string, value: string): string {
  return `${what} ${showValue(value)} ends with '/'; file mount paths cannot end with a slash (write '/mydir: /mydir')`;
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
    if (target.trim() === '') problem([target], 'the remote path is empty', 'key');
    else if (CLOUD_URI.test(target)) problem([target], `${showValue(target)} is a bucket URI; the remote side of a file mount must be a path on the node`, 'key');
    else if (target.length > 1 && target.endsWith('/')) problem([target], slashProblem('remote path', target), 'key');
    if (typeof source === 'string') {
      if (source.trim() === '') problem([target], 'expected a local path or bucket URI, got an empty string');
      else if (source.endsWith('/') && !/^[a-z0-9+.-]+:\/\/[^/]*\/$/i.test(source)) problem([target], slashProblem('source', source));
      else out[target] = { kind: 'path', source };
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
          mode: s.data.mode ?? 'MOUNT',
        };
      }
    } else {
      problem([target], `expected a local path, a bucket URI or a storage mapping {name, source, store, persistent, mode}, got ${showValue(source)}`);
    }
  }
  return failed ? z.NEVER : out;
}).optional();

/** Substitutes envs/secrets into remote paths, sources and bucket names (not into setup/run). */
export function substituteFileMounts(mounts: Record<string, FileMount>, vars: Record<string, string | null>): Record<string, FileMount> {
  const out: Record<string, FileMount> = {};
  for (const [target, mount] of Object.entries(mounts)) {
    const sub = (s: string) => substituteVars(s, vars);
    if (mount.kind === 'path') out[sub(target)] = { kind: 'path', source: sub(mount.source) };
    else {
      out[sub(target)] = {
        ...mount,
        ...(mount.name !== undefined ? { name: sub(mount.name) } : {}),
        ...(mount.source !== undefined ? { source: Array.isArray(mount.source) ? mount.source.map(sub) : sub(mount.source) } : {}),
      };
    }
  }
  return out;
}

export function substituteWorkdir(w: string | GitWorkdir, vars: Record<string, string | null>): string | GitWorkdir {
  if (typeof w === 'string') return substituteVars(w, vars);
  return { url: substituteVars(w.url, vars), ...(w.ref !== undefined ? { ref: substituteVars(w.ref, vars) } : {}) };
}
