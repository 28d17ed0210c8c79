// What every command gets: where Petrel lives, how to print, and a Temporal client that
// is connected (and the embedded server started) only when a command first asks for it.
import type { Client } from '@temporalio/client';
import type { LoadedDataConverter } from '@temporalio/common';
import { UserError } from './errors.js';
import { petrelHome, temporalConfigFromEnv, type TemporalConfig } from '../workers/temporal-config.js';
import { tracingEnabled } from '../workers/tracing-env.js';

// Loaded on first use: `petrel validate` and `petrel --help` never load the Temporal client.
const load = {
  embedded: () => import('./embedded/server.js'),
  client: () => import('@temporalio/client'),
  common: () => import('@temporalio/common'),
  keys: () => import('../codec/keys.js'),
  dataConverter: () => import('../codec/data-converter.js'),
  failureConverter: () => import('../codec/failure-converter.cjs'),
};

/** What connecting loads, for the build step that makes the bundled CLI's code cache. */
export const clientModules: Array<() => Promise<unknown>> = Object.values(load);

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

export class CliContext {
  readonly home = petrelHome();
  private clientPromise?: Promise<Client>;
  private configValue?: TemporalConfig;
  /** OpenTelemetry, only with OTEL_EXPORTER_OTLP_ENDPOINT (nothing of it is loaded otherwise) */
  private tracing?: import('../workers/tracing-client.js').ClientTracing;

  constructor(readonly io: Output = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) }) {}

  get config(): TemporalConfig {
    this.configValue ??= temporalConfigFromEnv();
    return this.configValue;
  }

  line(text = ''): void {
    this.io.out(`${text}\n`);
  }

  note(text: string): void {
    this.io.err(`${text}\n`);
  }

  client(): Promise<Client> {
    this.clientPromise ??= this.connect();
    return this.clientPromise;
  }

  private async connect(): Promise<Client> {
    if (this.config.embedded) {
      const { ensureEmbedded } = await load.embedded();
      const started = await ensureEmbedded(this.home, (l) => this.note(l));
      if (started.length > 0) this.note(`Started ${started.join(' and ')} in the background (petrel server status).`);
      // The home's server may have just been given its port.
      this.configValue = undefined;
    }
    const config = this.config;
    const { Client, Connection } = await load.client();
    const dataConverter = await this.dataConverter();
    try {
      const connection = await Connection.connect({ address: config.address, tls: config.tls, apiKey: config.apiKey, connectTimeout: 5000 });
      this.tracing = tracingEnabled() ? await (await import('../workers/tracing-client.js')).clientTracing() : undefined;
      return new Client({ connection, namespace: config.namespace, dataConverter, ...(this.tracing ? { interceptors: this.tracing.interceptors } : {}) });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new UserError(
        config.embedded
          ? `cannot reach the embedded Temporal server at ${config.address}: ${why}; see petrel server status`
          : `cannot reach Temporal at ${config.address} (TEMPORAL_ADDRESS): ${why}`,
      );
    }
  }

  /** Encrypts everything this CLI sends with the home's (or the team's) codec key. */
  private async dataConverter(): Promise<LoadedDataConverter> {
    const [{ defaultPayloadConverter }, { loadKeyring, CodecKeyError }, { petrelDataConverter }, { failureConverter }] = await Promise.all([
      load.common(),
      load.keys(),
      load.dataConverter(),
      load.failureConverter(),
    ]);
    try {
      const { payloadConverterPath, payloadCodecs = [] } = petrelDataConverter(loadKeyring(this.home));
      // Given loaded, not by path: in the bundled CLI the client's require() of a converter's
      // path would load a second @temporalio/common (and its protobuf descriptors) from node_modules.
      if (payloadConverterPath) throw new Error('the CLI cannot load a payload converter by path');
      return { payloadConverter: defaultPayloadConverter, failureConverter, payloadCodecs };
    } catch (err) {
      if (err instanceof CodecKeyError) throw new UserError(err.message);
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.tracing?.shutdown();
    if (!this.clientPromise) return;
    const client = await this.clientPromise.catch(() => undefined);
    await client?.connection.close();
  }
}
