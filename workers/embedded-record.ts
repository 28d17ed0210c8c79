// Where this home's embedded Temporal server listens, recorded in $PETREL_HOME/run/server.json
// by the command that started it, so every later command and the home's worker use that
// server and no other: a server on the default port that this home did not start (another
// user's, another home's) is never used.
import fs from 'node:fs';
import path from 'node:path';

export interface EmbeddedRecord {
  /** gRPC port of the dev server */
  port: number;
  /** its web UI */
  uiPort: number;
  /** the codec endpoint the UI decodes payloads through (served by the home's worker) */
  codecPort?: number;
}

export const DEFAULT_PORT = 7233;

export function recordFile(home: string): string {
  return path.join(home, 'run', 'server.json');
}

export function readEmbeddedRecord(home: string): EmbeddedRecord | undefined {
  try {
    const r = JSON.parse(fs.readFileSync(recordFile(home), 'utf8')) as Partial<EmbeddedRecord>;
    if (Number.isInteger(r.port) && Number.isInteger(r.uiPort)) return r as EmbeddedRecord;
  } catch {
    // none yet, or unreadable: as if none
  }
  return undefined;
}

export function writeEmbeddedRecord(home: string, record: EmbeddedRecord): void {
  fs.mkdirSync(path.dirname(recordFile(home)), { recursive: true });
  const tmp = `${recordFile(home)}.${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(record));
  fs.renameSync(tmp, recordFile(home));
}
