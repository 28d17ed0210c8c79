// Fields SkyPilot's parser accepts that Petrel does not run as written. `petrel validate`
// accepts them and says what will happen; launch ignores the 'warn' ones (after saying so) and
// refuses the 'refuse' ones (launch-checks.ts). Computed on the raw, already substituted task
// mapping, after it passed validation.
import { isPlainObject, showValue, type Notice, type PathSegment } from './problems.js';
import { strategyOf } from './resources-schema.js';
import { TASK_CONFIG } from './skypilot-schemas.js';

const INTERNAL = 'an internal SkyPilot field; Petrel ignores it';

const TOP_LEVEL: Record<string, Omit<Notice, 'path'>> = {
  service: { effect: 'refuse', message: "SkyServe services are not supported by Petrel yet (remove 'service:' to run the task itself)" },
  pool: { effect: 'refuse', message: 'job pools are not supported by Petrel yet' },
  event_callback: { effect: 'refuse', message: 'job status callbacks (event_callback) are not supported by Petrel yet' },
  inputs: { effect: 'warn', message: "ignored: Petrel does not estimate egress costs (SkyPilot's inputs/outputs hints)" },
  outputs: { effect: 'warn', message: "ignored: Petrel does not estimate egress costs (SkyPilot's inputs/outputs hints)" },
  api_server_access: { effect: 'warn', message: 'ignored: Petrel has no API server credentials to give the job' },
  file_mounts_mapping: { effect: 'warn', message: INTERNAL },
  volume_mounts: { effect: 'warn', message: INTERNAL },
  _metadata: { effect: 'warn', message: INTERNAL },
};

const RESOURCE_FIELDS: Record<string, Omit<Notice, 'path'>> = {
  local_disk: { effect: 'refuse', message: 'instance-local disks (local_disk) are not supported by Petrel yet' },
  max_hourly_cost: { effect: 'refuse', message: "Petrel's optimizer cannot cap the hourly cost (max_hourly_cost) yet" },
  volumes: { effect: 'refuse', message: 'disk volumes under resources are not supported by Petrel yet' },
  ephemeral_storage: { effect: 'warn', message: 'ignored: SkyPilot dropped ephemeral_storage; use disk_size' },
  priority_class: { effect: 'warn', message: 'ignored: Kueue priority classes are not supported by Petrel' },
  _no_missing_accel_warnings: { effect: 'warn', message: INTERNAL },
  _is_image_managed: { effect: 'warn', message: INTERNAL },
  _requires_fuse: { effect: 'warn', message: INTERNAL },
  _docker_login_config: { effect: 'warn', message: INTERNAL },
  _cluster_config_overrides: { effect: 'warn', message: `${INTERNAL} (use the top-level config:)` },
};

const JOB_RECOVERY_KEYS = ['strategy', 'max_restarts_on_errors', 'recover_on_exit_codes'];
const CONFIG_SECTIONS = Object.keys(TASK_CONFIG.properties ?? {}).filter((k) => k !== 'hooks');

function notice(path: PathSegment[], n: Omit<Notice, 'path'>, at?: 'key'): Notice {
  return at ? { path, ...n, at } : { path, ...n };
}

function mentionsTpu(accelerators: unknown): boolean {
  return accelerators !== undefined && accelerators !== null && /tpu/i.test(JSON.stringify(accelerators));
}

function jobRecoveryNotices(jr: unknown, path: PathSegment[]): Notice[] {
  const unknownStrategy = (name: string, at: PathSegment[]): Notice =>
    notice(at, { effect: 'refuse', message: `unknown recovery strategy ${showValue(name)}; Petrel knows FAILOVER and EAGER_NEXT_REGION` });
  if (typeof jr === 'string') return strategyOf(jr) ? [] : [unknownStrategy(jr, path)];
  if (!isPlainObject(jr)) return [];
  const out: Notice[] = [];
  if (typeof jr.strategy === 'string' && !strategyOf(jr.strategy)) out.push(unknownStrategy(jr.strategy, [...path, 'strategy']));
  for (const k of Object.keys(jr)) {
    if (!JOB_RECOVERY_KEYS.includes(k)) {
      out.push(notice([...path, k], {
        effect: 'refuse',
        message: `'${k}' is a setting of a SkyPilot plugin strategy; Petrel knows ${JOB_RECOVERY_KEYS.join(', ')}`,
      }, 'key'));
    }
  }
  return out;
}

/** One resources mapping (the base, or an any_of/ordered entry merged over it). */
function resourceNotices(r: Record<string, unknown>, path: PathSegment[], base?: Record<string, unknown>): Notice[] {
  const out: Notice[] = [];
  for (const [k, n] of Object.entries(RESOURCE_FIELDS)) if (r[k] !== undefined && r[k] !== null) out.push(notice([...path, k], n, 'key'));
  const accelerators = r.accelerators ?? r.gpus ?? base?.accelerators ?? base?.gpus;
  if (isPlainObject(r.accelerator_args) && !mentionsTpu(accelerators)) {
    out.push(notice([...path, 'accelerator_args'], { effect: 'warn', message: 'ignored: accelerator_args only apply to TPUs' }, 'key'));
  }
  if (typeof r.memory === 'string' && /x\+?$/.test(r.memory)) {
    out.push(notice([...path, 'memory'], {
      effect: 'refuse',
      message: `memory per vCPU (${showValue(r.memory)}) is only used by SkyPilot's own controllers; give GB (e.g. memory: 32+)`,
    }));
  }
  if (typeof r.autostop === 'number' && r.autostop < 0) {
    out.push(notice([...path, 'autostop'], { effect: 'warn', message: 'a negative idle time turns autostop off (as in SkyPilot)' }));
  }
  if (r.job_recovery !== undefined) out.push(...jobRecoveryNotices(r.job_recovery, [...path, 'job_recovery']));
  return out;
}

/** What SkyPilot's jobs controller compares: the strategy upper-cased, `none` as no setting. */
function recoveryKey(jr: unknown): string {
  if (jr === undefined || jr === null) return 'null';
  if (typeof jr === 'string') return jr === 'none' ? 'null' : JSON.stringify({ strategy: jr.toUpperCase() });
  if (isPlainObject(jr)) {
    if (jr.strategy === 'none') return 'null';
    const o: Record<string, unknown> = { ...jr, strategy: typeof jr.strategy === 'string' ? jr.strategy.toUpperCase() : null };
    return JSON.stringify(Object.keys(o).sort().map((k) => [k, o[k]]));
  }
  return JSON.stringify(jr);
}

function resourcesNotices(res: unknown): Notice[] {
  if (!isPlainObject(res)) return [];
  const out = resourceNotices(res, ['resources']);
  const listName = Array.isArray(res.any_of) && res.any_of.length ? 'any_of' : Array.isArray(res.ordered) && res.ordered.length ? 'ordered' : undefined;
  if (!listName) return out;
  const entries = res[listName] as unknown[];
  entries.forEach((e, i) => {
    if (isPlainObject(e)) out.push(...resourceNotices(e, ['resources', listName, i], res));
  });
  // SkyPilot's managed-job controller wants one recovery policy for all candidates.
  const keys = entries.map((e) => recoveryKey(isPlainObject(e) && 'job_recovery' in e ? e.job_recovery : res.job_recovery));
  entries.forEach((e, i) => {
    if (keys[i] !== keys[0] && isPlainObject(e) && 'job_recovery' in e) {
      out.push(notice(['resources', listName, i, 'job_recovery'], {
        effect: 'refuse',
        jobsOnly: true,
        message: 'every candidate must use the same job_recovery (managed jobs refuse this); set it once in the base resources',
      }));
    }
  });
  return out;
}

function configNotices(config: unknown): Notice[] {
  if (!isPlainObject(config)) return [];
  const out: Notice[] = [];
  for (const k of Object.keys(config)) {
    if (k === 'hooks') {
      out.push(notice(['config', 'hooks'], {
        effect: 'refuse',
        message: 'lifecycle hooks (config.hooks) are not supported by Petrel yet; for a script run at autostop use resources.autostop.hook',
      }, 'key'));
    } else if (!CONFIG_SECTIONS.includes(k)) {
      out.push(notice(['config', k], {
        effect: 'refuse',
        message: `'${k}' is not a config section a task may override (SkyPilot's API server refuses it too); allowed: ${CONFIG_SECTIONS.join(', ')}`,
      }, 'key'));
    }
  }
  return out;
}

function envValueNotices(map: unknown, field: 'envs' | 'secrets'): Notice[] {
  if (!isPlainObject(map)) return [];
  return Object.entries(map)
    .filter(([, v]) => Array.isArray(v) || isPlainObject(v))
    .map(([k]) => notice([field, k], { effect: 'warn', message: 'a list or mapping becomes its Python text (as SkyPilot does); quote the value to say exactly what the job sees' }));
}

function secretRefNotices(raw: Record<string, unknown>): Notice[] {
  const out: Notice[] = [];
  const scoped = (ref: string) => /^(?:secrets:)?(?:personal|workspace|global)\./.test(ref);
  const secrets = raw.secrets;
  if (Array.isArray(secrets)) {
    secrets.forEach((s, i) => {
      if (typeof s === 'string' && scoped(s)) out.push(notice(['secrets', i], { effect: 'warn', message: 'the scope is ignored: Petrel has no secret store; pass the value with --secret NAME=VALUE' }));
    });
  } else if (isPlainObject(secrets)) {
    for (const k of Object.keys(secrets)) if (scoped(k)) out.push(notice(['secrets', k], { effect: 'warn', message: 'the scope is ignored: Petrel has no secret store; pass the value with --secret NAME=VALUE' }, 'key'));
  }
  const managed = raw.managed_secrets;
  if (Array.isArray(managed)) {
    managed.forEach((m, i) => {
      const mounted = isPlainObject(m) && Object.values(m).some((o) => isPlainObject(o) && o.mount_path !== undefined);
      out.push(
        mounted
          ? notice(['managed_secrets', i], { effect: 'refuse', message: 'mounting a secret as a file (mount_path) is not supported by Petrel yet' })
          : notice(['managed_secrets', i], { effect: 'warn', message: 'Petrel has no secret store: pass the value with --secret NAME=VALUE at launch' }),
      );
    });
  }
  return out;
}

export function fieldNotices(raw: Record<string, unknown>): Notice[] {
  const out: Notice[] = [];
  for (const [k, n] of Object.entries(TOP_LEVEL)) if (raw[k] !== undefined && raw[k] !== null) out.push(notice([k], n, 'key'));
  out.push(...resourcesNotices(raw.resources));
  out.push(...configNotices(raw.config));
  out.push(...envValueNotices(raw.envs, 'envs'), ...envValueNotices(raw.secrets, 'secrets'));
  out.push(...secretRefNotices(raw));
  return out;
}
