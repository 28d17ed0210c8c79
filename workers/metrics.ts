// The worker's Prometheus endpoint: one `/metrics` per worker with the Temporal SDK's own worker
// metrics (temporal_*: task slots, poll latency, cache, activity and workflow task counts) and
// Petrel's (petrel_*, metrics-registry.ts).
//
// The SDK's exporter lives in its Rust core and can only bind a port of its own; it is bound
// on a private loopback port and this endpoint fetches it on each scrape and appends Petrel's
// registry, so a Prometheus scrapes one target per worker. The SDK's metrics must be asked for
// before the first connection is made (Runtime.install), hence the two steps: prepareMetrics
// before connecting, startMetrics after.
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { Runtime } from '@temporalio/worker';
import { JobCensus } from './metrics-census.js';
import { metricsListen, metricsRecordFile, readMetricsSettings } from './metrics-config.js';
import { collectDefaultMetrics } from 'prom-client';
import { observeDetection, registry } from './metrics-registry.js';
import { setDetectionObserver } from '../activities/metrics-hooks.js';

export interface PreparedMetrics {
  host: string;
  port: number;
  preferred?: number;
  sdkPort: number;
}

/**
 * Reads the `metrics:` settings and, when this worker serves metrics, has the SDK export its
 * own on a private port. Must run before any NativeConnection exists. Bad settings: a worker
 * of a team's cluster refuses to start (the operator asked for metrics); the embedded worker
 * says why in its log and runs without them, as jobs matter more than their dashboards.
 */
export async function prepareMetrics(opts: { home: string; embedded: boolean; temporalPort?: number }): Promise<PreparedMetrics | undefined> {
  let listen: ReturnType<typeof metricsListen>;
  try {
    listen = metricsListen(readMetricsSettings(opts.home), opts.embedded, opts.temporalPort);
  } catch (err) {
    if (!opts.embedded) throw err;
    console.error(`petrel worker: no metrics endpoint: ${(err as Error).message}`);
    return undefined;
  }
  if (!listen) return undefined;
  const sdkPort = await anyFreePort('127.0.0.1');
  Runtime.install({
    telemetryOptions: {
      metrics: {
        // Prometheus conventions: counters end in _total, durations in seconds with the unit in the name.
        prometheus: { bindAddress: `127.0.0.1:${sdkPort}`, countersTotalSuffix: true, unitSuffix: true, useSecondsForDurations: true },
      },
    },
  });
  return { ...listen, sdkPort };
}

export interface WorkerMetrics {
  url: string;
  close(): Promise<void>;
}

/** Serves `/metrics` and starts the visibility census on the worker's client. */
export async function startMetrics(prepared: PreparedMetrics, opts: { home: string; client: Client; embedded: boolean }): Promise<WorkerMetrics | undefined> {
  setDetectionObserver(observeDetection);
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (url === '/metrics') {
      scrape(prepared.sdkPort).then(
        (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : body),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
      );
      return;
    }
    if (url === '/' || url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('Petrel worker metrics: /metrics\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; metrics are at /metrics\n');
  });
  const bound = await listenOn(server, prepared).catch((err: Error) => err);
  if (bound instanceof Error) {
    const why = `cannot serve metrics on ${prepared.host}:${prepared.port || prepared.preferred}: ${bound.message}`;
    if (!opts.embedded) throw new Error(`${why} (metrics.port in ${path.join(opts.home, 'config.yaml')})`);
    console.error(`petrel worker: ${why}`);
    return undefined;
  }
  const hostForUrl = prepared.host.includes(':') ? `[${prepared.host}]` : prepared.host;
  const url = `http://${hostForUrl === '0.0.0.0' ? '127.0.0.1' : hostForUrl === '[::]' ? '[::1]' : hostForUrl}:${bound}/metrics`;
  const record = metricsRecordFile(opts.home);
  try {
    fs.mkdirSync(path.dirname(record), { recursive: true });
    fs.writeFileSync(record, JSON.stringify({ url, pid: process.pid }));
  } catch {
    // the record only helps people find the port; the log line says it too
  }
  // The worker process's own CPU, memory and event-loop lag (process_*, nodejs_*), read at scrape time.
  collectDefaultMetrics({ register: registry });
  const census = new JobCensus(opts.client);
  census.start();
  console.error(`petrel worker: Prometheus metrics on ${url}`);
  return {
    url,
    async close() {
      await census.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      try {
        if (JSON.parse(fs.readFileSync(record, 'utf8')).pid === process.pid) fs.rmSync(record, { force: true });
      } catch {
        // already gone
      }
    },
  };
}

/** The SDK's exposition followed by Petrel's: one text format document, distinct metric names. */
async function scrape(sdkPort: number): Promise<string> {
  const sdk = await fetch(`http://127.0.0.1:${sdkPort}/metrics`, { signal: AbortSignal.timeout(5000) })
    .then((r) => (r.ok ? r.text() : `# the Temporal SDK's metrics answered HTTP ${r.status}\n`))
    .catch((err: Error) => `# the Temporal SDK's metrics could not be read: ${err.message.replace(/\n/g, ' ')}\n`);
  const petrel = await registry.metrics();
  return `${sdk}${sdk.endsWith('\n') || sdk === '' ? '' : '\n'}${petrel}`;
}

/** Binds the configured port, or for the embedded default the preferred one if free, else any. */
async function listenOn(server: http.Server, p: PreparedMetrics): Promise<number> {
  const attempt = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      server.once('error', onError);
      server.listen({ host: p.host, port, exclusive: true }, () => {
        server.off('error', onError);
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  if (p.port !== 0) return attempt(p.port);
  if (p.preferred !== undefined) {
    const got = await attempt(p.preferred).catch(() => undefined);
    if (got !== undefined) return got;
  }
  return attempt(0);
}

function anyFreePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen({ host, port: 0, exclusive: true }, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}
