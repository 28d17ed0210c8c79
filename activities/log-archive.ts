// When a job phase ends, its log is copied from every node to $PETREL_HOME/logs, so output
// stays readable after the cluster is torn down (and `launch --down` never loses its tail).
import fs from 'node:fs';
import path from 'node:path';
import type { CommandRunner } from '../providers/types.js';

export function archivedLogPath(home: string, clusterName: string, key: string, rank: number): string {
  return path.join(home, 'logs', 'clusters', clusterName, `${key}.node-${rank}.log`);
}

/** A new cluster of a reused name must not show its predecessor's output. */
export function clearArchivedLogs(home: string, clusterName: string): void {
  fs.rmSync(path.join(home, 'logs', 'clusters', clusterName), { recursive: true, force: true });
}

export async function archiveLog(runner: CommandRunner, file: string, key: string): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  const out = fs.openSync(tmp, 'w');
  try {
    let offset = 0;
    for (;;) {
      const chunk = await runner.readLog(key, offset);
      if (chunk.nextOffset === offset) break;
      fs.writeSync(out, chunk.data);
      offset = chunk.nextOffset;
    }
  } finally {
    fs.closeSync(out);
  }
  fs.renameSync(tmp, file);
}

/** Reads an archived log from a byte offset; undefined when there is no archive (yet). */
export function readArchivedLog(file: string, offset: number): { data: string; nextOffset: number } | undefined {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch {
    return undefined;
  }
  const rest = buf.subarray(Math.min(offset, buf.length));
  return { data: rest.toString('utf8'), nextOffset: offset + rest.length };
}
