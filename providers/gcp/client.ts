// The Compute Engine API clients: always with an explicit auth client (see credentials.ts) and,
// with gcp.api_endpoint, pointed at that address (a Private Service Connect endpoint, or the
// tests' loopback stand-in). Clients are kept per (credentials, endpoint): building one loads
// the service's protos, far too slow for every watcher round.
import { FirewallsClient, GlobalOperationsClient, InstancesClient, ZoneOperationsClient } from '@google-cloud/compute';
import type { ApiEndpoint, GcpConfig } from './config.js';
import { findCredentials, NO_CREDENTIALS_HINT, type GcpCredentials } from './credentials.js';
import { ProviderError } from '../types.js';

export interface GceClients {
  project: string;
  instances: InstancesClient;
  zoneOps: ZoneOperationsClient;
  /** VPC firewall rules (the task's ports) and their global operations */
  firewalls: FirewallsClient;
  globalOps: GlobalOperationsClient;
  credentials: GcpCredentials;
  /** `gcp/<project>`, for messages */
  where: string;
}

type ClientOptions = NonNullable<ConstructorParameters<typeof InstancesClient>[0]>;

type Kept = Pick<GceClients, 'instances' | 'zoneOps' | 'firewalls' | 'globalOps'>;

const kept = new Map<string, Kept>();

export function clientOptions(creds: GcpCredentials, endpoint: ApiEndpoint | undefined): ClientOptions {
  const opts: ClientOptions = { authClient: creds.client };
  if (endpoint) {
    opts.apiEndpoint = endpoint.host;
    opts.port = endpoint.port;
    opts.protocol = endpoint.protocol;
  }
  return opts;
}

/** The project: config.yaml's gcp.project_id, else the environment's, else the credentials file's. */
export function projectOf(config: GcpConfig, creds: GcpCredentials | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return config.projectId ?? env.GOOGLE_CLOUD_PROJECT ?? env.CLOUDSDK_CORE_PROJECT ?? creds?.projectId;
}

export function gceClients(config: GcpConfig, env: NodeJS.ProcessEnv = process.env): GceClients {
  const credentials = findCredentials(env);
  if (!credentials) throw new ProviderError('config', NO_CREDENTIALS_HINT, 'cloud');
  const project = projectOf(config, credentials, env);
  if (!project) {
    throw new ProviderError('config', `no GCP project: set gcp.project_id in ${config.file} (or GOOGLE_CLOUD_PROJECT)`, 'cloud');
  }
  const key = `${credentials.stamp}\n${config.apiEndpoint?.url ?? ''}`;
  let c = kept.get(key);
  if (!c) {
    const opts = clientOptions(credentials, config.apiEndpoint);
    c = { instances: new InstancesClient(opts), zoneOps: new ZoneOperationsClient(opts), firewalls: new FirewallsClient(opts), globalOps: new GlobalOperationsClient(opts) };
    kept.set(key, c);
  }
  return { project, ...c, credentials, where: `gcp/${project}` };
}
