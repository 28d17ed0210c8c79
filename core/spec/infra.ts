// Where a task may run: `infra: cloud[/region[/zone]]` and the legacy cloud/region/zone fields.
// Mirrors SkyPilot's InfraInfo.from_str, except that SSH pools keep their plain name (SkyPilot
// prefixes `ssh-` internally because it stores pools as kubeconfig contexts; Petrel does not).
import { didYouMean } from './suggest.js';
import { fail, ok, showValue, type Parsed } from './problems.js';

/** SkyPilot 0.14.1's 25 infra names (sky/skylet/constants.py ALL_CLOUDS) plus Petrel's `local`. */
export const KNOWN_CLOUDS = [
  'aws', 'azure', 'gcp', 'ibm', 'lambda', 'scp', 'oci', 'kubernetes', 'runpod', 'vast', 'vsphere',
  'cudo', 'fluidstack', 'paperspace', 'primeintellect', 'do', 'nebius', 'ssh', 'slurm',
  'hyperbolic', 'seeweb', 'shadeform', 'yotta', 'mithril', 'verda', 'local',
] as const;

/**
 * SkyPilot's schema pattern for the YAML `infra:` field (schemas.py _get_infra_pattern), with
 * Petrel's `local` added. parseInfra itself is more forgiving (surrounding slashes and spaces)
 * because it also reads the --infra flag.
 */
export const INFRA_PATTERN = new RegExp(
  `^(?:(?:${KNOWN_CLOUDS.filter((c) => c !== 'kubernetes').join('|')})(?:/[^/]+(?:/[^/]+)?)?|\\*(?:/[^/]+(?:/[^/]+)?)?|(?:kubernetes|k8s)(?:/.+)?)$`,
  'i',
);

const CLOUD_ALIASES: Record<string, string> = { k8s: 'kubernetes' };

export const INFRA_FORMS =
  "expected CLOUD[/REGION[/ZONE]] (e.g. aws/us-east-1), '*' as a wildcard (e.g. */us-east-1), " +
  'k8s[/CONTEXT], ssh/POOL, slurm/CLUSTER/PARTITION or local';

export interface Location {
  cloud?: string;
  region?: string;
  zone?: string;
}

function location(cloud: string | undefined, region: string | undefined, zone: string | undefined): Location {
  const out: Location = {};
  if (cloud && cloud !== '*') out.cloud = cloud;
  if (region && region !== '*') out.region = region;
  if (zone && zone !== '*') out.zone = zone;
  return out;
}

export function normalizeCloud(name: string, within?: string): Parsed<string> {
  const lower = name.trim().toLowerCase();
  const cloud = CLOUD_ALIASES[lower] ?? lower;
  if ((KNOWN_CLOUDS as readonly string[]).includes(cloud)) return ok(cloud);
  const context = within === undefined ? '' : ` in infra ${showValue(within)}`;
  return fail(`unknown cloud ${showValue(name)}${context}; known: ${KNOWN_CLOUDS.join(', ')}, k8s${didYouMean(lower, [...KNOWN_CLOUDS, 'k8s'])}`);
}

export function parseInfra(v: unknown): Parsed<Location> {
  if (typeof v !== 'string') return fail(`expected an infra string, got ${showValue(v)}; ${INFRA_FORMS}`);
  const trimmed = v.trim().replace(/^\/+|\/+$/g, '');
  if (trimmed === '') return fail(`${showValue(v)} is empty; ${INFRA_FORMS}`);
  const parts = trimmed.split('/').map((p) => p.trim());
  if (parts.includes('')) return fail(`${showValue(v)} has an empty part (double slash); ${INFRA_FORMS}`);
  const head = parts[0]!.toLowerCase();
  const rest = parts.slice(1);

  // Kubernetes contexts (e.g. EKS ARNs) and SSH pool names may themselves contain slashes.
  if (head === 'k8s' || head === 'kubernetes') return ok(location('kubernetes', rest.join('/') || undefined, undefined));
  if (head === 'ssh') return ok(location('ssh', rest.join('/') || undefined, undefined));

  if (rest.length > 2) return fail(`${showValue(v)} has too many parts; ${INFRA_FORMS}`);
  if (head === '*') return ok(location(undefined, rest[0], rest[1]));
  const cloud = normalizeCloud(parts[0]!, v);
  if (!cloud.ok) return cloud;
  return ok(location(cloud.value, rest[0], rest[1]));
}

export function parseCloud(v: unknown): Parsed<string> {
  if (typeof v !== 'string' || v.trim() === '') return fail(`expected a cloud name, got ${showValue(v)}; known: ${KNOWN_CLOUDS.join(', ')}`);
  return normalizeCloud(v);
}
