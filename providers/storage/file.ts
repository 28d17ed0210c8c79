// ObjectStore over a directory (`file:///abs/dir`): checkpoints without a bucket, on the
// worker's disk or a team's shared filesystem. An object is written to a temporary file next to
// its final name and renamed, so a reader (or a crash) never sees half of one; listing skips
// those temporary files and walks directories in the order S3 lists keys.
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { asReadable, progressCounter } from './streams.js';
import { StoreError, type ObjectInfo, type ObjectStore } from './types.js';
import { checkKey, compareKeys } from './url.js';

const TEMP_MARK = '.petrel-tmp-';

function isTemp(name: string): boolean {
  return name.startsWith('.') && name.includes(TEMP_MARK);
}

function fsError(err: unknown, where: string): StoreError {
  const code = (err as NodeJS.ErrnoException).code;
  const kind = code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR' ? 'not_found' : code === 'EACCES' || code === 'EPERM' ? 'auth' : code === 'EIO' || code === 'EAGAIN' ? 'transient' : 'config';
  return new StoreError(kind, `${where}: ${(err as Error).message}`);
}

export class FileStore implements ObjectStore {
  constructor(
    readonly url: string,
    readonly dir: string,
  ) {}

  private pathOf(key: string): string {
    checkKey(key, this.url);
    return path.join(this.dir, ...key.split('/'));
  }

  async put(key: string, body: Readable | Buffer, opts: { size?: number; onProgress?: (bytes: number) => void } = {}): Promise<void> {
    const dest = this.pathOf(key);
    await this.requireRoot();
    await fsp.mkdir(path.dirname(dest), { recursive: true });
    const temp = path.join(path.dirname(dest), `.${path.basename(dest)}${TEMP_MARK}${crypto.randomBytes(6).toString('hex')}`);
    try {
      const out = fs.createWriteStream(temp, { flags: 'wx' });
      if (opts.onProgress) await pipeline(asReadable(body), progressCounter(opts.onProgress), out);
      else await pipeline(asReadable(body), out);
      await fsp.rename(temp, dest);
    } catch (err) {
      await fsp.rm(temp, { force: true });
      if (err instanceof StoreError) throw err;
      throw fsError(err, `${this.url}: writing ${key}`);
    }
  }

  async get(key: string, opts: { offset?: number } = {}): Promise<Readable> {
    const file = this.pathOf(key);
    const info = await this.head(key);
    if (!info) {
      await this.requireRoot();
      throw new StoreError('not_found', `${this.url}: no object ${key}`);
    }
    const start = opts.offset ?? 0;
    if (start > info.size) throw new StoreError('config', `${this.url}/${key}: offset ${start} is beyond the object's ${info.size} bytes`);
    return fs.createReadStream(file, { start });
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const st = await fsp.stat(this.pathOf(key));
      return st.isFile() ? { key, size: st.size } : undefined;
    } catch (err) {
      const mapped = err instanceof StoreError ? err : fsError(err, `${this.url}: ${key}`);
      if (mapped.kind === 'not_found') return undefined;
      throw mapped;
    }
  }

  async *list(prefix = ''): AsyncIterable<ObjectInfo> {
    await this.requireRoot();
    // Start at the deepest directory the prefix names; filter the rest by string prefix.
    const cut = prefix.lastIndexOf('/');
    const base = cut >= 0 ? prefix.slice(0, cut) : '';
    if (base) checkKey(base, this.url);
    for await (const info of this.walk(base)) {
      if (info.key.startsWith(prefix)) yield info;
    }
  }

  /** Files under `rel` in key order: a directory sorts as its name plus '/', as its keys do. */
  private async *walk(rel: string): AsyncGenerator<ObjectInfo> {
    let entries: fs.Dirent[];
    try {
      entries = await fsp.readdir(rel ? path.join(this.dir, ...rel.split('/')) : this.dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw fsError(err, `${this.url}: listing ${rel || '/'}`);
    }
    const named = entries
      .filter((e) => (e.isFile() || e.isDirectory()) && !isTemp(e.name))
      .map((e) => ({ entry: e, sortKey: e.isDirectory() ? `${e.name}/` : e.name }))
      .sort((a, b) => compareKeys(a.sortKey, b.sortKey));
    for (const { entry } of named) {
      const key = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        yield* this.walk(key);
      } else {
        const st = await fsp.stat(path.join(this.dir, ...key.split('/'))).catch(() => undefined);
        if (st) yield { key, size: st.size };
      }
    }
  }

  async delete(keys: string[]): Promise<void> {
    for (const key of keys) {
      const file = this.pathOf(key);
      await fsp.rm(file, { force: true });
      // Leave no empty directories behind, up to (not including) the store's own.
      for (let dir = path.dirname(file); dir !== this.dir && dir.startsWith(this.dir); dir = path.dirname(dir)) {
        try {
          await fsp.rmdir(dir);
        } catch {
          break;
        }
      }
    }
  }

  private async requireRoot(): Promise<void> {
    const st = await fsp.stat(this.dir).catch(() => undefined);
    if (!st?.isDirectory()) throw new StoreError('no_bucket', `${this.url}: the directory ${this.dir} does not exist`);
  }
}
