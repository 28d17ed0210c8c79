// The embedded default: a Temporal dev server (SQLite under $PETREL_HOME) and a Petrel
// worker, both in the background, started on demand by any command that needs them.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PETREL_SEARCH_ATTRIBUTES } from '../../core/search-attributes.js';
import { embeddedPort } from '../../workers/temporal-config.js';
import { UserError } from '../errors.js';
import { livePid, logFile, portAnswers, sleep, spawnDetached, stopProcess } from './processes.js';
import { ensureTemporalBinary } from './temporal-binary.js';

const SERVER = 'temporal-server';
const WORKER = 'worker';
const SERVER_MARKER = 'start-dev';
const WORKER_MARKER = 'workers/main.js';
const HOST = '127.0.0.1';

const workerEntry = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'workers', 'main.js');

export interface EmbeddedStatus {
  address: string;
  uiUrl: string;
  serverPid?: number;
  serverAnswers: boolean;
  workerPid?: number;
  dbFile: string;
}

export function embeddedAddresses(home: string) {
  const port = embeddedPort();
  return { port, uiPort: port + 1000, address: `${HOST}:${port}`, uiUrl: `http://${HOST}:${port + 1000}`, dbFile: path.join(home, 'temporal', 'temporal.db') };
}

export async function embeddedStatus(home: string): Promise<EmbeddedStatus> {
  const a = embeddedAddresses(home);
  return {
    address: a.address,
    uiUrl: a.uiUrl,
    dbFile: a.dbFile,
    serverPid: livePid(home, SERVER, SERVER_MARKER),
    serverAnswers: await portAnswers(HOST, a.port),
    workerPid: livePid(home, WORKER, WORKER_MARKER),
  };
}

/**
 * Starts whatever of server and worker is not running. Returns what it started, so the
 * caller can say so in one line.
 */
export async function ensureEmbedded(home: string, log: (line: string) => void): Promise<string[]> {
  const a = embeddedAddresses(home);
  const started: string[] = [];
  if (!(await portAnswers(HOST, a.port))) {
    await startServer(home, log);
    started.push(`Temporal dev server on ${a.address} (UI ${a.uiUrl})`);
  }
  if (livePid(home, WORKER, WORKER_MARKER) === undefined) {
    spawnDetached(home, WORKER, process.execPath, [workerEntry], { ...process.env, PETREL_HOME: home, TEMPORAL_ADDRESS: '' });
    started.push('Petrel worker');
  }
  return started;
}

async function startServer(home: string, log: (line: string) => void): Promise<void> {
  const a = embeddedAddresses(home);
  const binary = ensureTemporalBinary(home, log);
  const args = [
    'server', 'start-dev',
    '--ip', HOST,
    '--port', String(a.port),
    '--ui-port', String(a.uiPort),
    '--db-filename', a.dbFile,
    '--namespace', 'default',
    '--log-level', 'warn',
    '--dynamic-config-value', 'system.forceSearchAttributesCacheRefreshOnRead=true',
    '--dynamic-config-value', 'frontend.enableUpdateWorkflowExecution=true',
    ...Object.entries(PETREL_SEARCH_ATTRIBUTES).flatMap(([name, kind]) => ['--search-attribute', `${name}=${kind}`]),
  ];
  fs.mkdirSync(path.dirname(a.dbFile), { recursive: true });
  const pid = spawnDetached(home, SERVER, binary, args, process.env);
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (await portAnswers(HOST, a.port)) return;
    if (livePid(home, SERVER, SERVER_MARKER) !== pid) {
      throw new UserError(`the Temporal dev server exited at start-up; see ${logFile(home, SERVER)}`);
    }
    await sleep(50);
  }
  throw new UserError(`the Temporal dev server did not answer on ${a.address} within 60 s; see ${logFile(home, SERVER)}`);
}

export async function stopEmbedded(home: string): Promise<{ worker?: number; server?: number }> {
  const worker = await stopProcess(home, WORKER, WORKER_MARKER);
  const server = await stopProcess(home, SERVER, SERVER_MARKER);
  return { worker, server };
}

export const embeddedLogFiles = (home: string) => ({ server: logFile(home, SERVER), worker: logFile(home, WORKER) });
