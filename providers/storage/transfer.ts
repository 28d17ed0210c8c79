// Whole directory trees to and from a store, for storage mounts (COPY, MOUNT_CACHED) and
// checkpoints: many files at once (a pool of `concurrency` transfers), each streamed, so memory
// stays bounded by the pool, never by file sizes. Both directions resume:
// - uploadTree skips a file when an object of the same key and SIZE is already there. Size only:
//   a file rewritten to the same length is not noticed (pass `force` to upload everything);
//   callers that need content equality must keep their own checksums (a manifest) and compare.
// - downloadTree writes each object to `<file>.part` and renames it when complete; a `.part`
//   left by an interrupted run is continued from its size (a ranged read), and a file already
//   there with the object's size is not fetched again. An object replaced between the two runs
//   with one of a different size is detected only by its final size.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StoreError, type ObjectInfo, type ObjectStore } from './types.js';
import { checkKey, joinKey } from './url.js';

export interface TransferProgress {
  totalFiles: number;
  totalBytes: number;
  /** files finished, including those skipped */
  doneFiles: number;
  /** bytes finished or already there (skipped files and resumed parts count) */
  doneBytes: number;
  skippedFiles: number;
}

export interface TransferOptions {
  /** transfers at once (default 8) */
  concurrency?: number;
  onProgress?: (p: TransferProgress) => void;
  /** stops the transfer; a download keeps its `.part` files to resume from */
  signal?: AbortSignal;
}

export interface TransferSummary {
  files: number;
  bytes: number;
  skippedFiles: number;
  /** bytes actually moved by this call */
  transferredBytes: number;
}

export const PART_SUFFIX = '.part';

class Progress {
  readonly p: TransferProgress;
  transferred = 0;
  constructor(
    files: Array<{ size: number }>,
    private readonly report?: (p: TransferProgress) => void,
  ) {
    this.p = { totalFiles: files.length, totalBytes: files.reduce((n, f) => n + f.size, 0), doneFiles: 0, doneBytes: 0, skippedFiles: 0 };
  }
  bytes(n: number, moved: boolean): void {
    this.p.doneBytes += n;
    if (moved) this.transferred += n;
    this.report?.({ ...this.p });
  }
  file(skipped: boolean): void {
    this.p.doneFiles += 1;
    if (skipped) this.p.skippedFiles += 1;
    this.report?.({ ...this.p });
  }
  summary(): TransferSummary {
    return { files: this.p.totalFiles, bytes: this.p.totalBytes, skippedFiles: this.p.skippedFiles, transferredBytes: this.transferred };
  }
}

/** Runs `fn` over `items`, `limit` at a time; the first failure stops new work and is thrown. */
async function pool<T>(items: T[], limit: number, signal: AbortSignal | undefined, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async (): Promise<void> => {
    while (failed === undefined && next < items.length) {
      if (signal?.aborted) {
        failed ??= signal.reason;
        break;
      }
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  // the caller's reason, not the streams' generic AbortError
  if (signal?.aborted) throw signal.reason;
  if (failed !== undefined) throw failed;
}

/** Regular files under `dir` (symlinks to files followed), as '/'-separated relative paths. */
async function localFiles(dir: string): Promise<Array<{ rel: string; file: string; size: number }>> {
  const out: Array<{ rel: string; file: string; size: number }> = [];
  const walk = async (rel: string): Promise<void> => {
    const here = rel ? path.join(dir, ...rel.split('/')) : dir;
    for (const e of await fsp.readdir(here, { withFileTypes: true })) {
      const childRel = rel ? `${rel}/${e.name}` : e.name;
      const file = path.join(here, e.name);
      const st = await fsp.stat(file).catch(() => undefined);
      if (st?.isDirectory() && !e.isSymbolicLink()) await walk(childRel);
      else if (st?.isFile()) out.push({ rel: childRel, file, size: st.size });
    }
  };
  await walk('');
  return out;
}

function underPrefix(prefix: string): string | undefined {
  return prefix ? `${prefix.replace(/\/+$/, '')}/` : undefined;
}

/** Uploads every file under `localDir` to `prefix/<relative path>`; see the header for what is skipped. */
export async function uploadTree(localDir: string, store: ObjectStore, prefix: string, opts: TransferOptions & { force?: boolean } = {}): Promise<TransferSummary> {
  const files = await localFiles(localDir);
  const base = prefix.replace(/\/+$/, '');
  const existing = new Map<string, number>();
  if (!opts.force) for await (const o of store.list(underPrefix(base))) existing.set(o.key, o.size);
  const progress = new Progress(files, opts.onProgress);
  await pool(files, opts.concurrency ?? 8, opts.signal, async (f) => {
    const key = joinKey(base, f.rel);
    if (existing.get(key) === f.size) {
      progress.bytes(f.size, false);
      progress.file(true);
      return;
    }
    let sent = 0;
    const body = fs.createReadStream(f.file, opts.signal ? { signal: opts.signal } : {});
    await store.put(key, body, {
      size: f.size,
      onProgress: (total) => {
        progress.bytes(total - sent, true);
        sent = total;
      },
    });
    if (sent < f.size) progress.bytes(f.size - sent, true);
    progress.file(false);
  });
  return progress.summary();
}

/** Downloads every object under `prefix` to `localDir/<relative key>`; see the header for resuming. */
export async function downloadTree(store: ObjectStore, prefix: string, localDir: string, opts: TransferOptions = {}): Promise<TransferSummary> {
  const base = prefix.replace(/\/+$/, '');
  const objects: Array<ObjectInfo & { rel: string }> = [];
  for await (const o of store.list(underPrefix(base))) {
    const rel = base ? o.key.slice(base.length + 1) : o.key;
    checkKey(rel, `${store.url}: ${o.key}`); // never write outside localDir
    objects.push({ ...o, rel });
  }
  const progress = new Progress(objects, opts.onProgress);
  await pool(objects, opts.concurrency ?? 8, opts.signal, async (o) => {
    const dest = path.join(localDir, ...o.rel.split('/'));
    const done = await fsp.stat(dest).catch(() => undefined);
    if (done?.isFile() && done.size === o.size) {
      progress.bytes(o.size, false);
      progress.file(true);
      return;
    }
    const part = dest + PART_SUFFIX;
    await fsp.mkdir(path.dirname(dest), { recursive: true });
    let offset = (await fsp.stat(part).catch(() => undefined))?.size ?? 0;
    if (offset > o.size) offset = 0; // the object shrank since: start over
    progress.bytes(offset, false);
    if (offset < o.size) {
      const src = await store.get(o.key, { offset });
      const count = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          progress.bytes(chunk.length, true);
          cb(null, chunk);
        },
      });
      await pipeline(src, count, fs.createWriteStream(part, { flags: offset > 0 ? 'a' : 'w' }), opts.signal ? { signal: opts.signal } : {});
    } else if (offset === 0) {
      await fsp.writeFile(part, ''); // an empty object
    }
    const size = (await fsp.stat(part)).size;
    if (size !== o.size) {
      throw new StoreError('transient', `${store.url}: ${o.key}: got ${size} bytes, the listing said ${o.size} (changed while downloading?); run again to resume`);
    }
    await fsp.rename(part, dest);
    progress.file(false);
  });
  return progress.summary();
}
