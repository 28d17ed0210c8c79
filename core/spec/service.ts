// `service:` (SkyServe) and `pool:` (job pools): Petrel accepts them as SkyPilot 0.14.1 does —
// its schema plus SkyServiceSpec's own checks — so a YAML that SkyPilot would refuse is refused
// here too. Petrel does not run services or pools yet; launch refuses them (notices.ts).
import { checkSchema } from './json-schema.js';
import { fail, isPlainObject, ok, showValue, type Parsed, type Problem } from './problems.js';
import { SERVICE } from './skypilot-schemas.js';

const LB_POLICIES = ['round_robin', 'least_load', 'instance_aware_least_load'];

function num(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

/** SkyServiceSpec.from_yaml_config and its constructor, on an already schema-valid mapping. */
function serviceSemantics(c: Record<string, unknown>): Problem[] {
  const problems: Problem[] = [];
  const at = (path: string[], message: string) => problems.push({ path, message });
  if (c.replicas !== undefined && c.replica_policy !== undefined) {
    at(['replica_policy'], "cannot be combined with 'replicas'; use one of them");
    return problems;
  }
  const probe = c.readiness_probe ?? '/';
  const probeMap = isPlainObject(probe) ? probe : undefined;
  const path = probeMap ? probeMap.path : probe;
  const postData = probeMap?.post_data;
  if (typeof postData === 'string') {
    try {
      JSON.parse(postData);
    } catch {
      at(['readiness_probe', 'post_data'], 'is not valid JSON; give a mapping or a JSON string');
    }
  }
  if (typeof c.ports === 'number' && (c.ports < 1 || c.ports > 65535)) at(['ports'], `${c.ports} is not a port; expected 1-65535`);

  const pool = c.pool as Record<string, unknown> | undefined;
  const isPool = pool !== undefined && Object.keys(pool).length > 0;
  const policy = c.replica_policy as Record<string, unknown> | undefined;
  if (policy !== undefined && isPool) at(['replica_policy'], 'is not supported for a pool; give workers, or min_workers and max_workers');
  if (c.replicas !== undefined && c.workers !== undefined) at(['workers'], "cannot be combined with 'replicas'; use one of them");
  if (c.replicas !== undefined && isPool) at(['replicas'], "is not supported for a pool; use 'workers'");
  if (problems.length) return problems;

  let workers = num(c.workers);
  let queue: number | undefined;
  let poolMax: number | undefined;
  let poolMin: number | undefined;
  if (pool !== undefined) {
    queue = num(pool.queue_length_threshold);
    poolMin = num(pool.min_workers);
    poolMax = num(pool.max_workers);
    workers = num(pool.workers) ?? workers;
    if (poolMin === undefined && poolMax === undefined && workers === undefined) at(['pool'], 'set workers, or both min_workers and max_workers');
    if (queue !== undefined && poolMax === undefined) at(['pool', 'queue_length_threshold'], 'needs max_workers');
    if (poolMin !== undefined && poolMax === undefined) at(['pool', 'min_workers'], 'needs max_workers');
    if (poolMin !== undefined && poolMax !== undefined && poolMin > poolMax) at(['pool', 'min_workers'], `${poolMin} is more than max_workers (${poolMax})`);
  }
  const simplified = num(c.replicas) ?? workers;
  let min: number;
  let max: number | undefined;
  let qps: unknown;
  const policyFields: Record<string, unknown> = {};
  if (policy === undefined || simplified !== undefined) {
    min = simplified ?? 1;
    if (pool !== undefined && poolMax !== undefined && poolMin !== undefined) min = poolMin;
    max = poolMax;
    policyFields.upscale_delay_seconds = pool?.upscale_delay_seconds;
    policyFields.downscale_delay_seconds = pool?.downscale_delay_seconds;
  } else {
    min = policy.min_replicas as number;
    max = num(policy.max_replicas);
    qps = policy.target_qps_per_replica;
    for (const k of ['num_overprovision', 'target_qps_per_replica', 'upscale_delay_seconds', 'downscale_delay_seconds', 'base_ondemand_fallback_replicas', 'dynamic_ondemand_fallback', 'spot_placer']) {
      policyFields[k] = policy[k];
    }
  }
  const lb = c.load_balancing_policy;
  if (isPlainObject(qps) && lb !== 'instance_aware_least_load') {
    at(['replica_policy', 'target_qps_per_replica'], "a per-accelerator mapping needs load_balancing_policy: instance_aware_least_load");
  }
  if (lb === 'instance_aware_least_load' && !isPlainObject(qps)) {
    at(['load_balancing_policy'], 'instance_aware_least_load needs replica_policy.target_qps_per_replica as a mapping of accelerator to QPS');
  }
  if (isPool) {
    const given: Record<string, unknown> = {
      ...policyFields,
      load_balancing_policy: lb,
      ports: c.ports,
      post_data: postData,
      tls: c.tls,
      headers: probeMap?.headers,
    };
    const unsupported = Object.keys(given).filter(
      (k) => given[k] !== undefined && (max !== undefined ? !['upscale_delay_seconds', 'downscale_delay_seconds'].includes(k) : true),
    );
    for (const k of unsupported) at([k], 'is not supported for a pool');
  }
  if (max !== undefined && max < min) at(['replica_policy', 'max_replicas'], `${max} is less than min_replicas (${min})`);
  if (qps !== undefined && max === undefined) at(['replica_policy'], 'target_qps_per_replica needs max_replicas');
  if (qps === undefined && !isPool && max !== undefined && max !== min) {
    at(['replica_policy'], 'min_replicas and max_replicas differ but target_qps_per_replica is not set; set it to autoscale');
  }
  if (typeof path === 'string' && !path.startsWith('/')) at(probeMap ? ['readiness_probe', 'path'] : ['readiness_probe'], `${showValue(path)} must start with '/'`);
  if (typeof lb === 'string' && !LB_POLICIES.includes(lb)) at(['load_balancing_policy'], `${showValue(lb)} is not a policy; expected one of: ${LB_POLICIES.join(', ')}`);
  return problems;
}

export function parseService(v: unknown): Parsed<undefined> {
  if (!isPlainObject(v)) return fail(`expected a mapping of service settings (readiness_probe, replicas, replica_policy, …), got ${showValue(v)}`);
  // SkyPilot validates after dropping top-level nulls.
  const c = Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null));
  const problems = checkSchema(SERVICE, c);
  if (problems.length === 0) problems.push(...serviceSemantics(c));
  return problems.length ? { ok: false, problems } : ok(undefined);
}

/** Top-level `pool:`; SkyPilot checks it as `service: {pool: …}`. */
export function parsePool(v: unknown): Parsed<undefined> {
  if (!isPlainObject(v)) return fail(`expected a mapping of pool settings (workers, min_workers, max_workers, …), got ${showValue(v)}`);
  const r = parseService({ pool: v });
  if (r.ok) return r;
  return { ok: false, problems: r.problems.map((p) => ({ ...p, path: p.path[0] === 'pool' ? p.path.slice(1) : p.path })) };
}
