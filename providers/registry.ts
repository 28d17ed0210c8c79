// The one place that lists providers: adding one is a folder plus a line here.
import { AwsProvider } from './aws/index.js';
import { GcpProvider } from './gcp/index.js';
import { KubernetesProvider } from './kubernetes/index.js';
import { LocalProvider } from './local/index.js';
import { SlurmProvider } from './slurm/index.js';
import { SshProvider } from './ssh/index.js';
import type { Provider } from './types.js';
import { INFRA_NAMES, type InfraName } from '../core/names.js';

export interface ProviderContext {
  /** $PETREL_HOME */
  home: string;
}

// Keyed by core's list, so the two cannot drift apart.
const FACTORIES: Record<InfraName, (ctx: ProviderContext) => Provider> = {
  local: (ctx) => new LocalProvider({ home: ctx.home }),
  ssh: (ctx) => new SshProvider({ home: ctx.home }),
  slurm: (ctx) => new SlurmProvider({ home: ctx.home }),
  kubernetes: (ctx) => new KubernetesProvider({ home: ctx.home }),
  aws: (ctx) => new AwsProvider({ home: ctx.home }),
  gcp: (ctx) => new GcpProvider({ home: ctx.home }),
};

export function getProvider(name: string, ctx: ProviderContext): Provider {
  const factory = (FACTORIES as Record<string, (ctx: ProviderContext) => Provider>)[name];
  if (!factory) throw new Error(`unknown infra '${name}'; Petrel supports: ${INFRA_NAMES.join(', ')}`);
  return factory(ctx);
}
