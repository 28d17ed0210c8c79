// Workdir sync over SFTP: copies a local directory to the node, skipping files whose size and
// modification time already match (the mtime is set on every file we write, so the second
// sync of an unchanged tree transfers nothing), what is never worth copying (.git,
// node_modules, __pycache__) and what the directory's top-level .gitignore excludes.
// Files on the node that are not in the local tree are left alone, as the local provider does.
import fs from 'node:fs';
import path from 'node:path';
import type { FileEntryWithStats, SFTPWrapper } from 'ssh2';
import { ProviderError } from '../types.js';
import type { Connection } from './connection.js';
import { IgnoreMatcher } from './gitignore.js';
import { shellQuote } from './shell.js';
import { mapLimit } from '../concurrency.js';

export const SKIPPED_NAMES = new Set(['.git', 'node_modules', '__pycache__', '.petrel']);

export interface UploadStats {
  /** regular files in the (filtered) local tree */
  files: number;
  /** files written to the node */
  uploaded: number;
  /** files already up to date on the node */
  skipped: number;
  bytes: number;
}

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const CONCURRENCY = 8;

function p<T>(fn: (cb: (err: Error | undefined | null, v: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));
}

const sftpOps = (s: SFTPWrapper) => ({
  readdir: (dir: string) =>
    p<FileEntryWithStats[]>((cb) => s.readdir(dir, cb)).catch((err: { code?: number }) => {
      if (err.code === 2) return undefined; // NO_SUCH_FILE
      throw err;
    }),
  mkdir: (dir: string, mode: number) => p<void>((cb) => s.mkdir(dir, { mode }, (err) => cb(err, undefined))),
  unlink: (file: string) => p<void>((cb) => s.unlink(file, (err) => cb(err, undefined))),
  readlink: (file: string) => p<string>((cb) => s.readlink(file, cb)),
  symlink: (target: string, link: string) => p<void>((cb) => s.symlink(target, link, (err) => cb(err, undefined))),
  fastPut: (local: string, remote: string, mode: number) =>
    p<void>((cb) => s.fastPut(local, remote, { mode, concurrency: 8 }, (err) => cb(err, undefined))),
  setstat: (file: string, attrs: { mode: number; atime: number; mtime: number }) =>
    p<void>((cb) => s.setstat(file, attrs, (err) => cb(err, undefined))),
});

interface FileJob {
  local: string;
  remote: string;
  mode: number;
  mtime: number;
  size: number;
}

/** Throws the config error for a local upload source that is not a directory. */
export function checkLocalDirectory(localDir: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(localDir);
  } catch {
    throw new ProviderError('config', `cannot upload ${localDir}: no such directory`);
  }
  if (!st.isDirectory()) throw new ProviderError('config', `cannot upload ${localDir}: not a directory`);
}

/**
 * Over SFTP (the caller checked that the node has it; upload-exec.ts is the way without).
 * `remoteDir` is relative to the login directory (home) unless absolute.
 */
export async function uploadDirectory(conn: Connection, localDir: string, remoteDir: string): Promise<UploadStats> {
  checkLocalDirectory(localDir);
  const mk = await conn.exec(`mkdir -p -- ${shellQuote(remoteDir)}`, { timeoutMs: 60_000, onTimeout: 'fail' });
  if (mk.exitCode !== 0) {
    throw new ProviderError('transient', `cannot create ${remoteDir} on ${conn.target.host}: ${mk.stderr.toString().trim()}`);
  }
  const sftp = sftpOps(await conn.sftp());
  const ignore = IgnoreMatcher.forDirectory(localDir);
  const stats: UploadStats = { files: 0, uploaded: 0, skipped: 0, bytes: 0 };
  const files: FileJob[] = [];

  const walk = async (rel: string, remote: string, remoteExists: boolean): Promise<void> => {
    const local = path.join(localDir, rel);
    const entries = fs.readdirSync(local, { withFileTypes: true });
    const remoteEntries = new Map<string, FileEntryWithStats>();
    if (remoteExists) for (const e of (await sftp.readdir(remote)) ?? []) remoteEntries.set(e.filename, e);
    const subdirs: Array<[string, string, boolean]> = [];
    for (const entry of entries) {
      if (SKIPPED_NAMES.has(entry.name)) continue;
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      const childLocal = path.join(local, entry.name);
      const childRemote = `${remote}/${entry.name}`;
      const there = remoteEntries.get(entry.name);
      const thereType = there ? (there.attrs.mode ?? 0) & S_IFMT : 0;
      let lst: fs.Stats;
      try {
        lst = fs.lstatSync(childLocal);
      } catch {
        continue; // vanished while we walked
      }
      if (lst.isDirectory()) {
        if (ignore.ignores(childRel, true)) continue;
        if (there && thereType !== S_IFDIR) await sftp.unlink(childRemote);
        if (!there || thereType !== S_IFDIR) await sftp.mkdir(childRemote, lst.mode & 0o777);
        subdirs.push([childRel, childRemote, Boolean(there && thereType === S_IFDIR)]);
      } else if (lst.isSymbolicLink()) {
        if (ignore.ignores(childRel, false)) continue;
        const target = fs.readlinkSync(childLocal);
        if (there && thereType === S_IFLNK && (await sftp.readlink(childRemote).catch(() => '')) === target) continue;
        if (there && thereType !== S_IFDIR) await sftp.unlink(childRemote);
        if (there && thereType === S_IFDIR) {
          throw new ProviderError('config', `cannot upload ${childRel}: it is a symlink here but a directory on ${conn.target.host}`);
        }
        await sftp.symlink(target, childRemote);
      } else if (lst.isFile()) {
        if (ignore.ignores(childRel, false)) continue;
        stats.files++;
        const mtime = Math.floor(lst.mtimeMs / 1000);
        if (there && thereType === S_IFREG && there.attrs.size === lst.size && there.attrs.mtime === mtime) {
          stats.skipped++;
          continue;
        }
        if (there && thereType === S_IFDIR) {
          throw new ProviderError('config', `cannot upload ${childRel}: it is a file here but a directory on ${conn.target.host}`);
        }
        files.push({ local: childLocal, remote: childRemote, mode: lst.mode & 0o7777, mtime, size: lst.size });
      }
      // sockets, fifos and devices are not copied
    }
    for (const [r, rem, exists] of subdirs) await walk(r, rem, exists);
  };

  await walk('', remoteDir.replace(/\/+$/, '') || '.', true);
  await mapLimit(files, CONCURRENCY, async (f) => {
    await sftp.fastPut(f.local, f.remote, f.mode);
    // fastPut applies the mode only to a file it creates: set mode and times explicitly.
    await sftp.setstat(f.remote, { mode: f.mode, atime: f.mtime, mtime: f.mtime });
    stats.uploaded++;
    stats.bytes += f.size;
  });
  return stats;
}
