// The Kubernetes settings (kubeconfig files, config.yaml) are read on every provider call so
// that an edit applies without a restart, and the watchers call every second. This keeps what
// was read, and the API clients built from it, until one of the files changes (inode, size or
// modification time): a round then costs a few stat calls, not parsing both files and building
// new clients. A config that fails to read is not kept: the next call reads it again.
import fs from 'node:fs';
import { configPath } from '../ssh/config.js';
import { ProviderError } from '../types.js';
import { clientsFor, type ContextClients } from './client.js';
import { kubeconfigFiles, readKubernetesConfig, type KubernetesConfig } from './config.js';

export interface LoadedKubernetes {
  config: KubernetesConfig;
  /** the clients of a kubeconfig context (allowed or not: a handle may name one since left out) */
  clients(context: string): ContextClients;
}

interface Entry extends LoadedKubernetes {
  stamp: string;
}

const loaded = new Map<string, Entry>();

function stampOf(files: string[]): string {
  return files
    .map((f) => {
      try {
        const s = fs.statSync(f);
        return `${s.ino}:${s.size}:${s.mtimeMs}`;
      } catch {
        return '-';
      }
    })
    .join('|');
}

export function loadKubernetes(home: string, env: NodeJS.ProcessEnv = process.env): LoadedKubernetes {
  const files = [...kubeconfigFiles(env), configPath(home)];
  const key = files.join('\n');
  const stamp = stampOf(files);
  const hit = loaded.get(key);
  if (hit && hit.stamp === stamp) return hit;
  const config = readKubernetesConfig(home, env);
  const clients = new Map<string, ContextClients>();
  const entry: Entry = {
    stamp,
    config,
    clients(context) {
      let c = clients.get(context);
      if (!c) {
        try {
          c = clientsFor(config.kubeConfig, context);
        } catch (err) {
          if (err instanceof ProviderError) throw err;
          throw new ProviderError('config', `cannot load the kubeconfig for context '${context}': ${(err as Error).message}`);
        }
        clients.set(context, c);
      }
      return c;
    },
  };
  loaded.set(key, entry);
  return entry;
}
