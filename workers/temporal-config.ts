// Where Temporal is, from the environment. With TEMPORAL_ADDRESS set Petrel uses that
// cluster and starts nothing; without it, the embedded dev server of this PETREL_HOME on
// 127.0.0.1: the port PETREL_SERVER_PORT names, else the one the home recorded when it
// started its server (workers/embedded-record.ts), else 7233.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_PORT, readEmbeddedRecord } from './embedded-record.js';

export interface TemporalConfig {
  address: string;
  namespace: string;
  /** true when Petrel manages the server itself (no TEMPORAL_ADDRESS) */
  embedded: boolean;
  tls?: { clientCertPair?: { crt: Buffer; key: Buffer }; serverRootCACertificate?: Buffer } | boolean;
  apiKey?: string;
}

export function petrelHome(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.PETREL_HOME ?? path.join(os.homedir(), '.petrel'));
}

/** The port PETREL_SERVER_PORT asks for, if it is set. */
export function requestedPort(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env.PETREL_SERVER_PORT;
  if (!raw) return undefined;
  const port = Number.parseInt(raw, 10);
  if (!Number.isInteger(port) || port < 1 || port > 63535 || String(port) !== raw.trim()) throw new Error(`PETREL_SERVER_PORT '${raw}' is not a port number`);
  return port;
}

export function embeddedPort(home = petrelHome(), env: NodeJS.ProcessEnv = process.env): number {
  return requestedPort(env) ?? readEmbeddedRecord(home)?.port ?? DEFAULT_PORT;
}

export function temporalConfigFromEnv(env: NodeJS.ProcessEnv = process.env): TemporalConfig {
  const namespace = env.TEMPORAL_NAMESPACE || 'default';
  if (!env.TEMPORAL_ADDRESS) return { address: `127.0.0.1:${embeddedPort(petrelHome(env), env)}`, namespace, embedded: true };
  const read = (name: string) => {
    const file = env[name];
    if (!file) return undefined;
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new Error(`${name}: cannot read ${file}: ${(err as Error).message}`);
    }
  };
  const crt = read('TEMPORAL_TLS_CERT');
  const key = read('TEMPORAL_TLS_KEY');
  const ca = read('TEMPORAL_TLS_CA');
  const apiKey = env.TEMPORAL_API_KEY || undefined;
  let tls: TemporalConfig['tls'];
  if (crt || key || ca) {
    if (!!crt !== !!key) throw new Error('TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be given together');
    tls = { clientCertPair: crt && key ? { crt, key } : undefined, serverRootCACertificate: ca };
  } else if (apiKey || env.TEMPORAL_TLS === 'true') tls = true;
  return { address: env.TEMPORAL_ADDRESS, namespace, embedded: false, tls, apiKey };
}
