// The `gcp:` section of $PETREL_HOME/config.yaml, with SkyPilot's key names where SkyPilot has
// them, read on every call so an edit applies without a restart:
//
//   gcp:
//     project_id: my-project             # SkyPilot's; else GOOGLE_CLOUD_PROJECT / the credentials file's project
//     ssh_proxy_command: ssh -W %h:%p bastion   # SkyPilot's (or per region); see providers/vm/settings.ts
//     use_internal_ips: true             # SkyPilot's
//     ssh_user: gcpuser                  # Petrel's: the login user Petrel's key is installed for
//     labels: {team: ml}                 # SkyPilot's: on every instance
//     spot_termination_action: DELETE    # Petrel's: what GCE does to a preempted Spot VM (DELETE or STOP)
//     instance_metadata_endpoint: http://metadata.google.internal   # Petrel's: may hold {instance_id}
//     api_endpoint: https://compute-myvpc.p.googleapis.com          # Petrel's: a private endpoint (tests: loopback)
//
// SkyPilot keys Petrel does not implement are refused by name, so a config written for SkyPilot
// never silently loses a setting. Every problem is reported at once, as `file:line:col: field: message`.
import fs from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { formatSpecError, type SpecError } from '../../core/spec/errors.js';
import { isPlainObject, showValue } from '../../core/spec/problems.js';
import { readConfigSection } from '../../core/spec/config-section.js';
import { didYouMean } from '../../core/spec/suggest.js';
import { YamlProblems } from '../../core/spec/yaml-locations.js';
import { configPath } from '../ssh/config.js';
import { readVmAccess, VM_ACCESS_KEYS, type VmAccessSettings } from '../vm/settings.js';
import { ProviderError } from '../types.js';
import { LABEL_KEY, LABEL_VALUE } from './names.js';

export const GCP_KEY = 'gcp';
export const DEFAULT_SSH_USER = 'gcpuser';
export const DEFAULT_METADATA_ENDPOINT = 'http://metadata.google.internal';

export type TerminationAction = 'DELETE' | 'STOP';

export interface ApiEndpoint {
  /** as written, for messages */
  url: string;
  host: string;
  port: number;
  protocol: 'http' | 'https';
}

export interface GcpConfig {
  file: string;
  projectId?: string;
  access: VmAccessSettings;
  labels: Record<string, string>;
  terminationAction: TerminationAction;
  metadataEndpoint: string;
  apiEndpoint?: ApiEndpoint;
}

const OWN_KEYS = ['project_id', 'labels', 'spot_termination_action', 'instance_metadata_endpoint', 'api_endpoint'] as const;
const KNOWN_KEYS: readonly string[] = [...OWN_KEYS, ...VM_ACCESS_KEYS];

/** SkyPilot's gcp: keys that Petrel does not implement (yet): refused, never ignored. */
const SKYPILOT_UNSUPPORTED: Record<string, string> = {
  vpc_name: 'instances use the project\'s default network',
  force_enable_external_ips: 'instances always get an external IP unless use_internal_ips is set',
  specific_reservations: 'reservations are not used',
  prioritize_reservations: 'reservations are not used',
  managed_instance_group: 'instances are created one by one, not in managed instance groups',
  remote_identity: 'instances get no service account of Petrel\'s choosing',
  enable_gvnic: 'the default NIC is used',
  enable_gpu_direct: 'GPUDirect networking is not set up',
  placement_policy: 'no placement policy is applied',
  provision_timeout: 'Petrel waits for the zone operation instead',
  dws: 'Dynamic Workload Scheduler requests are not made',
};

export function readGcpConfig(home: string): GcpConfig {
  const file = configPath(home);
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ProviderError('config', formatSpecError({ file, line: 0, column: 0, field: '', message: `cannot read it: ${(err as Error).message}` }), 'cloud');
    }
  }
  const r = parseGcpSection(text, file);
  if (r.problems.length) throw new ProviderError('config', r.problems.map(formatSpecError).join('\n'), 'cloud');
  return r.config;
}

export function parseGcpSection(text: string, file: string): { config: GcpConfig; problems: SpecError[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, logLevel: 'silent', uniqueKeys: true });
  const errors = new YamlProblems(file, doc, lines);
  const section = readConfigSection(doc, errors, GCP_KEY, 'GCP settings') ?? {};
  const config: GcpConfig = {
    file,
    access: readVmAccess(section, errors, 'gcp', DEFAULT_SSH_USER),
    labels: {},
    terminationAction: 'DELETE',
    metadataEndpoint: DEFAULT_METADATA_ENDPOINT,
  };

  for (const key of Object.keys(section)) {
    if (KNOWN_KEYS.includes(key)) continue;
    const why = SKYPILOT_UNSUPPORTED[key];
    errors.problem({
      path: [GCP_KEY, key],
      at: 'key',
      message: why
        ? `SkyPilot's '${key}' is not supported by Petrel: ${why}; remove it`
        : `unknown field '${key}'; allowed fields: ${KNOWN_KEYS.join(', ')}${didYouMean(key, KNOWN_KEYS)}`,
    });
  }
  const present = (k: string) => section[k] !== undefined && section[k] !== null;

  if (present('project_id')) {
    const v = section.project_id;
    // GCE project ids: 6-30 characters, lowercase letters, digits, hyphens (domain-scoped ones have "example.com:").
    if (typeof v === 'string' && /^([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(v)) config.projectId = v;
    else errors.problem({ path: [GCP_KEY, 'project_id'], message: `expected a GCP project id (6-30 lowercase letters, digits and hyphens, starting with a letter), got ${showValue(v)}` });
  }

  if (present('labels')) {
    const v = section.labels;
    if (!isPlainObject(v)) {
      errors.problem({ path: [GCP_KEY, 'labels'], message: `expected a mapping of label names to values, got ${showValue(v)}` });
    } else {
      for (const [k, val] of Object.entries(v)) {
        const value = typeof val === 'number' || typeof val === 'boolean' ? String(val) : val;
        if (!LABEL_KEY.test(k)) {
          errors.problem({ path: [GCP_KEY, 'labels', k], at: 'key', message: `GCP label keys are 1-63 lowercase letters, digits, '_' or '-', starting with a letter; got ${showValue(k)}` });
        } else if (k.startsWith('petrel-')) {
          errors.problem({ path: [GCP_KEY, 'labels', k], at: 'key', message: `labels starting with 'petrel-' are Petrel's own` });
        } else if (typeof value !== 'string' || !LABEL_VALUE.test(value)) {
          errors.problem({ path: [GCP_KEY, 'labels', k], message: `GCP label values are at most 63 lowercase letters, digits, '_' or '-'; got ${showValue(val)}` });
        } else {
          config.labels[k] = value;
        }
      }
    }
  }

  if (present('spot_termination_action')) {
    const v = section.spot_termination_action;
    const up = typeof v === 'string' ? v.toUpperCase() : v;
    if (up === 'DELETE' || up === 'STOP') config.terminationAction = up;
    else errors.problem({ path: [GCP_KEY, 'spot_termination_action'], message: `expected DELETE or STOP (what GCE does with a preempted Spot VM), got ${showValue(v)}` });
  }

  if (present('instance_metadata_endpoint')) {
    const v = section.instance_metadata_endpoint;
    if (typeof v === 'string' && /^https?:\/\/[^\s/]+/.test(v)) config.metadataEndpoint = v.replace(/\/+$/, '');
    else errors.problem({ path: [GCP_KEY, 'instance_metadata_endpoint'], message: `expected an http:// URL (default ${DEFAULT_METADATA_ENDPOINT}; may contain {instance_id}), got ${showValue(v)}` });
  }

  if (present('api_endpoint')) {
    const v = section.api_endpoint;
    const parsed = typeof v === 'string' ? parseApiEndpoint(v) : undefined;
    if (parsed) config.apiEndpoint = parsed;
    else errors.problem({ path: [GCP_KEY, 'api_endpoint'], message: `expected the Compute API's address as a URL (https://host[:port], or http://127.0.0.1:port for a local stand-in), got ${showValue(v)}` });
  }

  return { config, problems: [...errors.list].sort((a, b) => a.line - b.line || a.column - b.column) };
}

export function parseApiEndpoint(s: string): ApiEndpoint | undefined {
  let u: URL;
  try {
    u = new URL(/^[a-z]+:\/\//i.test(s) ? s : `https://${s}`);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
  if (u.pathname !== '/' || u.search || u.hash || u.username) return undefined;
  const protocol = u.protocol === 'http:' ? 'http' : 'https';
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return { url: s, host, port: u.port ? Number(u.port) : protocol === 'http' ? 80 : 443, protocol };
}
