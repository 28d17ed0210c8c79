// The `aws:` section of $PETREL_HOME/config.yaml, with SkyPilot's keys where Petrel implements
// them (so a SkyPilot config works unchanged) and a clear refusal where it does not:
//
//   aws:
//     ssh_proxy_command: ssh -W %h:%p bastion   # or per region (providers/vm/settings.ts)
//     use_internal_ips: false
//     ssh_user: ubuntu                          # Petrel: the image's login user
//     vpc_name: my-vpc                          # the VPC (tag Name) to launch in; default: the default VPC
//     security_group_name: my-sg                # default: petrel-ssh / petrel-ports-<hash of the task's ports>
//     labels: {team: ml}                        # tags on every instance
//     disk_encrypted: true
//     instance_metadata_endpoint: http://169.254.169.254   # Petrel: where nodes ask for interruption notices
//
// Read on every call, so an edit applies without restarting the worker. Every problem is
// reported at once, as `file:line:col: field: message`.
import fs from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { readConfigSection } from '../../core/spec/config-section.js';
import { formatSpecError, type SpecError } from '../../core/spec/errors.js';
import { isPlainObject, showValue } from '../../core/spec/problems.js';
import { didYouMean } from '../../core/spec/suggest.js';
import { YamlProblems } from '../../core/spec/yaml-locations.js';
import { configPath } from '../ssh/config.js';
import { ProviderError } from '../types.js';
import { DEFAULT_METADATA_URL } from '../vm/interruption.js';
import { readVmAccess, VM_ACCESS_KEYS, type VmAccessSettings } from '../vm/settings.js';

export const AWS_KEY = 'aws';

export interface AwsConfig {
  file: string;
  access: VmAccessSettings;
  vpcName?: string;
  securityGroupName?: string;
  labels: Record<string, string>;
  diskEncrypted: boolean;
  /** may contain {instance_id} */
  metadataEndpoint: string;
}

const OWN_KEYS = ['vpc_name', 'security_group_name', 'labels', 'disk_encrypted', 'instance_metadata_endpoint'];
const KNOWN = [...VM_ACCESS_KEYS, ...OWN_KEYS];
/** SkyPilot's aws keys Petrel does not implement (yet): refused rather than silently ignored. */
const NOT_IMPLEMENTED: Record<string, string> = {
  prioritize_reservations: 'capacity reservations are not used by Petrel',
  specific_reservations: 'capacity reservations are not used by Petrel',
  remote_identity: 'Petrel does not attach IAM instance profiles to nodes',
  post_provision_runcmd: 'run setup commands in the task\'s `setup` instead',
  use_ssm: 'Petrel reaches nodes over SSH (use ssh_proxy_command for private subnets)',
};

/** AWS tag rules (keys up to 128 characters, values up to 256; `aws:` is reserved). */
const TAG_KEY = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$/u;
const TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$/u;

export function parseAwsSection(text: string, file: string): { config: AwsConfig; problems: SpecError[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, logLevel: 'silent', uniqueKeys: true });
  const errors = new YamlProblems(file, doc, lines);
  const section = readConfigSection(doc, errors, AWS_KEY, 'AWS settings') ?? {};
  const config: AwsConfig = {
    file,
    access: readVmAccess(section, errors, 'aws', 'ubuntu'),
    labels: {},
    diskEncrypted: false,
    metadataEndpoint: DEFAULT_METADATA_URL.aws,
  };
  const at = (...p: Array<string | number>) => [AWS_KEY, ...p];

  for (const key of Object.keys(section)) {
    if (KNOWN.includes(key)) continue;
    const why = NOT_IMPLEMENTED[key];
    const message = why ? `SkyPilot's aws.${key} is not supported by Petrel: ${why}; remove it` : `unknown field${didYouMean(key, KNOWN)} (fields: ${KNOWN.join(', ')})`;
    errors.problem({ path: at(key), at: 'key', message });
  }

  const name = (key: 'vpc_name' | 'security_group_name', v: unknown): string | undefined => {
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string' && /^[\x20-\x7e]{1,255}$/.test(v) && v.trim() === v) return v;
    const hint = key === 'security_group_name' && isPlainObject(v) ? ' (the per-cluster mapping form is not supported)' : '';
    errors.problem({ path: at(key), message: `expected a name, got ${showValue(v)}${hint}` });
    return undefined;
  };
  const vpc = name('vpc_name', section.vpc_name);
  if (vpc) config.vpcName = vpc;
  const sg = name('security_group_name', section.security_group_name);
  if (sg) config.securityGroupName = sg;

  const labels = section.labels;
  if (labels !== undefined && labels !== null) {
    if (!isPlainObject(labels)) errors.problem({ path: at('labels'), message: `expected a mapping of tag names to values, got ${showValue(labels)}` });
    else {
      for (const [k, v] of Object.entries(labels)) {
        const value = typeof v === 'number' || typeof v === 'boolean' ? String(v) : v;
        if (!TAG_KEY.test(k) || k.toLowerCase().startsWith('aws:') || k.startsWith('petrel-')) {
          errors.problem({ path: at('labels', k), at: 'key', message: `${showValue(k)} cannot be an AWS tag name (up to 128 letters, digits, spaces and _.:/=+-@; not starting with 'aws:' or Petrel's own 'petrel-')` });
        } else if (typeof value !== 'string' || !TAG_VALUE.test(value)) {
          errors.problem({ path: at('labels', k), message: `expected a tag value (up to 256 letters, digits, spaces and _.:/=+-@), got ${showValue(v)}` });
        } else config.labels[k] = value;
      }
    }
  }

  const enc = section.disk_encrypted;
  if (enc !== undefined && enc !== null) {
    if (typeof enc === 'boolean') config.diskEncrypted = enc;
    else errors.problem({ path: at('disk_encrypted'), message: `expected true or false, got ${showValue(enc)}` });
  }

  const ep = section.instance_metadata_endpoint;
  if (ep !== undefined && ep !== null) {
    if (typeof ep === 'string' && /^https?:\/\/[^\s/]+(\/\S*)?$/.test(ep)) config.metadataEndpoint = ep.replace(/\/+$/, '');
    else errors.problem({ path: at('instance_metadata_endpoint'), message: `expected an http(s) URL (default ${DEFAULT_METADATA_URL.aws}; may contain {instance_id}), got ${showValue(ep)}` });
  }

  const problems = [...errors.list].sort((a, b) => a.line - b.line || a.column - b.column);
  return { config, problems };
}

export function readAwsConfig(home: string): AwsConfig {
  const file = configPath(home);
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ProviderError('config', `${file}: cannot read it: ${(err as Error).message}`);
  }
  const { config, problems } = parseAwsSection(text, file);
  if (problems.length) throw new ProviderError('config', problems.map(formatSpecError).join('\n'), 'cloud');
  return config;
}
