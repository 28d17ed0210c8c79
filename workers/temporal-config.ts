// Where Temporal is, from the environment. With TEMPORAL_ADDRESS set Petrel uses that
// cluster and starts nothing; without it, the embedded dev server on 127.0.0.1.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TemporalConfig {
  address: string;
  namespace: string;
  /** true when Petrel manages the server itself (no TEMPORAL_ADDRESS) */
  embedded: boolean;
  tls?: { clientCertPair?: { crt: Buffer; key: Buffer }; serverRootCACertificate?: Buffer } | boolean;
  apiKey?: string;
}

export function petrelHome(): string {
  return path.resolve(process.env.PETREL_HOME ?? path.join(os.homedir(), '.petrel'));
}

export function embeddedPort(): number {
  const raw = process.env.PETREL_SERVER_PORT;
  const port = raw ? Number.parseInt(raw, 10) : 7233;
  if (!Number.isInteger(port) || port < 1 || port > 64535) throw new Error(`PETREL_SERVER_PORT '${raw}' is not a port number`);
  return port;
}

export function temporalConfigFromEnv(env: NodeJS.ProcessEnv = process.env): TemporalConfig {
  const namespace = env.TEMPORAL_NAMESPACE || 'default';
  if (!env.TEMPORAL_ADDRESS) return { address: `127.0.0.1:${embeddedPort()}`, namespace, embedded: true };
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
