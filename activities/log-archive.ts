// When a job phase ends, its log is copied from every node to $PETREL_HOME/logs of the worker
// that ran it, so output stays readable after the cluster is torn down (and `launch --down`
// never loses its tail). The CLI reads it through that worker (activities/worker-activities.ts).
import fs from 'node:fs';
import path from 'node:path';
import type { CommandRunner } from '../providers/types.js';
import { completeUtf8Length } from '../providers/utf8.js';

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

/**
 * At most maxBytes of an archived log from a byte offset, ending on a UTF-8 character boundary,
 * and the archive's size; undefined when there is no archive. Never reads the whole file.
 */
export function readArchivedLog(file: string, offset: number, maxBytes: number): { data: Buffer; size: number } | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = fs.fstatSync(fd).size;
    const want = Math.max(0, Math.min(maxBytes, size - offset));
    const buf = Buffer.alloc(want);
    const n = want > 0 ? fs.readSync(fd, buf, 0, want, offset) : 0;
    // A character cut at the budget comes whole in the next read; at the end of the file it is all there is.
    const end = offset + n >= size ? n : completeUtf8Length(buf, n);
    return { data: buf.subarray(0, end), size };
  } finally {
    fs.closeSync(fd);
  }
}
