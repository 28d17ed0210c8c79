// The `metrics:` section of $PETREL_HOME/config.yaml: where the worker serves Prometheus metrics.
//
//   metrics:
//     port: 9464          # a worker next to a team's cluster serves metrics only when given one
//     host: 127.0.0.1     # loopback by default; 0.0.0.0 lets a Prometheus on another host scrape
//     enabled: false      # the embedded worker serves them unless told not to
//
// The embedded worker serves them on loopback without any of this: at the Temporal gRPC port +
// 3000 (as the codec endpoint sits at +2000), or any free port when that one is taken; the
// address it chose is in $PETREL_HOME/run/metrics.json. Problems are reported as
// `file:line:col: metrics.field: message`.
import fs from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { readConfigSection } from '../core/spec/config-section.js';
import { formatSpecError } from '../core/spec/errors.js';
import { showValue } from '../core/spec/problems.js';
import { didYouMean } from '../core/spec/suggest.js';
import { YamlProblems } from '../core/spec/yaml-locations.js';

export const METRICS_KEY = 'metrics';
const KNOWN = ['port', 'host', 'enabled'];

export interface MetricsSettings {
  enabled?: boolean;
  port?: number;
  host: string;
}

export class MetricsConfigError extends Error {}

export function parseMetricsSection(text: string, file: string): MetricsSettings {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, logLevel: 'silent', uniqueKeys: true });
  const errors = new YamlProblems(file, doc, lines);
  const section = readConfigSection(doc, errors, METRICS_KEY, 'metrics settings') ?? {};
  const settings: MetricsSettings = { host: '127.0.0.1' };
  for (const key of Object.keys(section)) {
    if (!KNOWN.includes(key)) errors.problem({ path: [METRICS_KEY, key], at: 'key', message: `unknown field${didYouMean(key, KNOWN)} (fields: ${KNOWN.join(', ')})` });
  }
  const { port, host, enabled } = section;
  if (port !== undefined && port !== null) {
    if (typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535) settings.port = port;
    else errors.problem({ path: [METRICS_KEY, 'port'], message: `expected a TCP port (1-65535), got ${showValue(port)}` });
  }
  if (host !== undefined && host !== null) {
    if (typeof host === 'string' && /^[A-Za-z0-9.:\-[\]]{1,255}$/.test(host)) settings.host = host.replace(/^\[(.*)\]$/, '$1');
    else errors.problem({ path: [METRICS_KEY, 'host'], message: `expected an address to listen on (127.0.0.1, 0.0.0.0, ::, a host name), got ${showValue(host)}` });
  }
  if (enabled !== undefined && enabled !== null) {
    if (typeof enabled === 'boolean') settings.enabled = enabled;
    else errors.problem({ path: [METRICS_KEY, 'enabled'], message: `expected true or false, got ${showValue(enabled)}` });
  }
  if (errors.list.length > 0) {
    const problems = [...errors.list].sort((a, b) => a.line - b.line || a.column - b.column);
    throw new MetricsConfigError(problems.map(formatSpecError).join('\n'));
  }
  return settings;
}

export function readMetricsSettings(home: string): MetricsSettings {
  const file = path.join(home, 'config.yaml');
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new MetricsConfigError(`${file}: cannot read it: ${(err as Error).message}`);
  }
  return parseMetricsSection(text, file);
}

/**
 * Where this worker serves metrics, or undefined when it serves none. `port: 0` means "the
 * embedded default": the preferred port if free, else any (see metrics.ts).
 */
export function metricsListen(settings: MetricsSettings, embedded: boolean, temporalPort: number | undefined): { host: string; port: number; preferred?: number } | undefined {
  if (settings.enabled === false) return undefined;
  if (settings.port !== undefined) return { host: settings.host, port: settings.port };
  if (!embedded && settings.enabled !== true) return undefined;
  const preferred = temporalPort !== undefined && temporalPort + 3000 <= 65535 ? temporalPort + 3000 : undefined;
  return { host: settings.host, port: 0, preferred };
}

/** What the worker records in $PETREL_HOME/run/metrics.json: where to scrape it. */
export function metricsRecordFile(home: string): string {
  return path.join(home, 'run', 'metrics.json');
}

export function readMetricsRecord(home: string): { url: string; pid: number } | undefined {
  try {
    return JSON.parse(fs.readFileSync(metricsRecordFile(home), 'utf8')) as { url: string; pid: number };
  } catch {
    return undefined;
  }
}
