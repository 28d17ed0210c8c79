// The embedded default: a Temporal dev server (SQLite under $PETREL_HOME) and a Petrel
// worker, both in the background, started on demand by any command that needs them.
//
// Both belong to one PETREL_HOME. A command uses only the server its own home started (its
// pid file names a live `temporal server start-dev` whose database is this home's) at the port
// the home recorded; a server some other home or user runs on the default port is never used —
// this home starts its own on a free port instead, or, when PETREL_SERVER_PORT pins a port that
// someone else holds, refuses and says whose it is.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PETREL_SEARCH_ATTRIBUTES } from '../../core/search-attributes.js';
import { DEFAULT_PORT, readEmbeddedRecord, writeEmbeddedRecord, type EmbeddedRecord } from '../../workers/embedded-record.js';
import { requestedPort } from '../../workers/temporal-config.js';
import { UserError } from '../errors.js';
import { withHomeLock } from './home-lock.js';
import { portOwner } from './port-owner.js';
import { livePid, logFile, portAnswers, sleep, spawnDetached, stopProcess } from './processes.js';
import { ensureTemporalBinary } from './temporal-binary.js';

const SERVER = 'temporal-server';
const WORKER = 'worker';
const WORKER_MARKER = 'workers/main.js';
const HOST = '127.0.0.1';

const workerEntry = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'workers', 'main.js');

export interface EmbeddedStatus {
  address: string;
  uiUrl: string;
  codecUrl?: string;
  serverPid?: number;
  serverAnswers: boolean;
  workerPid?: number;
  dbFile: string;
}

export function dbFileOf(home: string): string {
  return path.join(home, 'temporal', 'temporal.db');
}

/** The home's own server: only a start-dev process on this home's database counts. */
function ownServerPid(home: string): number | undefined {
  return livePid(home, SERVER, dbFileOf(home));
}

const urls = (r: EmbeddedRecord) => ({
  address: `${HOST}:${r.port}`,
  uiUrl: `http://${HOST}:${r.uiPort}`,
  codecUrl: r.codecPort ? `http://${HOST}:${r.codecPort}` : undefined,
});

export async function embeddedStatus(home: string): Promise<EmbeddedStatus> {
  const record = readEmbeddedRecord(home) ?? { port: requestedPort() ?? DEFAULT_PORT, uiPort: (requestedPort() ?? DEFAULT_PORT) + 1000 };
  const serverPid = ownServerPid(home);
  return {
    ...urls(record),
    dbFile: dbFileOf(home),
    serverPid,
    serverAnswers: serverPid !== undefined && (await portAnswers(HOST, record.port)),
    workerPid: livePid(home, WORKER, WORKER_MARKER),
  };
}

/**
 * Starts whatever of server and worker is not running. Returns what it started, so the
 * caller can say so in one line; afterwards the home's record names the server's address.
 */
export async function ensureEmbedded(home: string, log: (line: string) => void): Promise<string[]> {
  // Fast path, no lock: both already run.
  const known = readEmbeddedRecord(home);
  if (known && ownServerPid(home) !== undefined && livePid(home, WORKER, WORKER_MARKER) !== undefined && (requestedPort() ?? known.port) === known.port) return [];
  return withHomeLock(home, () => startMissing(home, log));
}

async function startMissing(home: string, log: (line: string) => void): Promise<string[]> {
  const started: string[] = [];
  const recorded = readEmbeddedRecord(home);
  const pinned = requestedPort();
  let record: EmbeddedRecord;
  if (ownServerPid(home) !== undefined && recorded) {
    if (pinned !== undefined && pinned !== recorded.port) {
      throw new UserError(`this PETREL_HOME's server runs on port ${recorded.port}, not PETREL_SERVER_PORT=${pinned}: stop it first (petrel server stop) to move it`);
    }
    record = recorded;
    // Started by a command that did not live to see it answer: give it the start-up time.
    for (const deadline = Date.now() + 60_000; !(await portAnswers(HOST, record.port)) && Date.now() < deadline; ) await sleep(100);
  } else {
    record = await choosePorts(home, pinned, recorded);
    writeEmbeddedRecord(home, record);
    await startServer(home, record, log);
    const u = urls(record);
    started.push(`Temporal dev server on ${u.address} (UI ${u.uiUrl})`);
  }
  if (livePid(home, WORKER, WORKER_MARKER) === undefined) {
    spawnDetached(home, WORKER, process.execPath, [workerEntry], { ...process.env, PETREL_HOME: home, TEMPORAL_ADDRESS: '', PETREL_SERVER_PORT: String(record.port) });
    started.push('Petrel worker');
  }
  return started;
}

async function portFree(port: number): Promise<boolean> {
  if (port < 1 || port > 65535) return false;
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host: HOST, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

async function anyFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen({ host: HOST, port: 0, exclusive: true }, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** gRPC, UI (gRPC + 1000, as `temporal server start-dev` has it) and codec ports, all free. */
async function choosePorts(home: string, pinned: number | undefined, recorded: EmbeddedRecord | undefined): Promise<EmbeddedRecord> {
  const codecFor = async (port: number) => ((await portFree(port + 2000)) ? port + 2000 : anyFreePort());
  if (pinned !== undefined) {
    for (const p of [pinned, pinned + 1000]) {
      if (!(await portFree(p))) {
        const owner = portOwner(p);
        throw new UserError(
          `port ${p} is in use${owner ? ` by ${owner}` : ''}, not by the embedded server of this PETREL_HOME (${home}); ` +
            `PETREL_SERVER_PORT=${pinned} needs ports ${pinned} and ${pinned + 1000} free: choose other ones, or unset PETREL_SERVER_PORT to let Petrel pick`,
        );
      }
    }
    return { port: pinned, uiPort: pinned + 1000, codecPort: await codecFor(pinned) };
  }
  const candidates = [recorded?.port, DEFAULT_PORT].filter((p): p is number => p !== undefined);
  for (const p of candidates) {
    if ((await portFree(p)) && (await portFree(p + 1000))) return { port: p, uiPort: p + 1000, codecPort: await codecFor(p) };
  }
  for (let i = 0; i < 50; i++) {
    const p = await anyFreePort();
    if (p + 1000 <= 65535 && (await portFree(p + 1000))) return { port: p, uiPort: p + 1000, codecPort: await codecFor(p) };
  }
  throw new UserError('found no two free ports for the embedded Temporal server; set PETREL_SERVER_PORT');
}

async function startServer(home: string, record: EmbeddedRecord, log: (line: string) => void): Promise<void> {
  const binary = ensureTemporalBinary(home, log);
  const dbFile = dbFileOf(home);
  const u = urls(record);
  const args = [
    'server', 'start-dev',
    '--ip', HOST,
    '--port', String(record.port),
    '--ui-port', String(record.uiPort),
    '--db-filename', dbFile,
    '--namespace', 'default',
    '--log-level', 'warn',
    // SQLite's default rollback journal fsyncs several times per transaction, and every
    // workflow start is several transactions on the server's one connection: that capped
    // `jobs launch -d` at ~25-45 jobs/s here. With a write-ahead log synced at checkpoints, a
    // killed server still loses no commit; only a power loss can drop the last few, never
    // corrupting the file (bench/submit.mjs).
    '--sqlite-pragma', 'journal_mode=wal',
    '--sqlite-pragma', 'synchronous=normal',
    '--dynamic-config-value', 'system.forceSearchAttributesCacheRefreshOnRead=true',
    '--dynamic-config-value', 'frontend.enableUpdateWorkflowExecution=true',
    ...(u.codecUrl ? ['--ui-codec-endpoint', u.codecUrl] : []),
    ...Object.entries(PETREL_SEARCH_ATTRIBUTES).flatMap(([name, kind]) => ['--search-attribute', `${name}=${kind}`]),
  ];
  fs.mkdirSync(path.dirname(dbFile), { recursive: true });
  const pid = spawnDetached(home, SERVER, binary, args, process.env);
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (await portAnswers(HOST, record.port)) return;
    if (ownServerPid(home) !== pid) {
      const why = lastLogLine(logFile(home, SERVER));
      throw new UserError(`the Temporal dev server exited at start-up${why ? `: ${why}` : ''}; see ${logFile(home, SERVER)}`);
    }
    await sleep(50);
  }
  throw new UserError(`the Temporal dev server did not answer on ${u.address} within 60 s; see ${logFile(home, SERVER)}`);
}

/** The server's own last word, usually why it stopped (a port taken meanwhile, a locked database). */
function lastLogLine(file: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8').slice(-4096);
  } catch {
    return undefined;
  }
  const line = text.split('\n').map((l) => l.trim()).filter(Boolean).pop();
  return line && line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

export async function stopEmbedded(home: string): Promise<{ worker?: number; server?: number }> {
  const worker = await stopProcess(home, WORKER, WORKER_MARKER);
  const server = await stopProcess(home, SERVER, dbFileOf(home));
  return { worker, server };
}

export const embeddedLogFiles = (home: string) => ({ server: logFile(home, SERVER), worker: logFile(home, WORKER) });
