// Workdir sync over exec channels, for nodes whose sshd has no SFTP subsystem. The semantics
// are upload.ts's: files whose size and modification time (whole seconds) match are skipped;
// .git, node_modules, __pycache__, .petrel and what the top-level .gitignore excludes are never
// sent; modes, mtimes and symlinks are kept; files on the node that are not in the local tree
// are left alone; a local file or symlink where the node has a directory is a config error.
//
// It is ONE command, whatever the size of the tree (each exec costs sshd a fork and a shell,
// and a few round trips), talking over the channel's stdin and stdout:
//  1. the node creates the destination and lists, with one `find`, what it has in every
//     directory that exists here;
//  2. we compare, and send what is in the way of a local directory (a file, a symlink) to be
//     removed, then everything new or changed as ONE tar stream into `tar -x`, generated here
//     while it is sent: file contents are streamed from disk with the channel's backpressure.
// A file-versus-directory clash is found before anything is written. The command is abandoned
// when nothing has moved for IDLE_TIMEOUT_MS (a big transfer may take long, a stalled one
// never finishes).
import fs from 'node:fs';
import path from 'node:path';
import { ProviderError } from '../types.js';
import { label, type Connection, type StdinSink } from './connection.js';
import { IgnoreMatcher } from './gitignore.js';
import { shellQuote } from './shell.js';
import { END_OF_ARCHIVE, entryHeader, padding } from './tar.js';
import { checkLocalDirectory, SKIPPED_NAMES, type UploadStats } from './upload.js';

/** `bash -c 'script' name args...` (as runner.ts sends its scripts). */
const bashCommand = (script: string, args: string[]) => ['bash', '-c', shellQuote(script), 'petrel', ...args.map(shellQuote)].join(' ');

const IDLE_TIMEOUT_MS = 60_000;
/** Small pieces (headers, small files) are gathered into writes of about this size. */
const WRITE_BATCH = 256 << 10;
const READ_CHUNK = 256 << 10;

export interface LocalEntry {
  /** POSIX path relative to the uploaded directory */
  rel: string;
  abs: string;
  kind: 'dir' | 'file' | 'symlink';
  mode: number;
  /** whole seconds, as SFTP and tar keep them */
  mtime: number;
  size: number;
  target: string;
}

interface RemoteEntry {
  /** find's %y: f, d, l, p, s, c, b */
  type: string;
  size: number;
  mtime: number;
  target: string;
}

/** The local tree minus what is never uploaded, parents before children. */
export function walkLocal(localDir: string): LocalEntry[] {
  const ignore = IgnoreMatcher.forDirectory(localDir);
  const out: LocalEntry[] = [];
  const walk = (rel: string) => {
    const dir = path.join(localDir, rel);
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (SKIPPED_NAMES.has(entry.name)) continue;
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      const abs = path.join(dir, entry.name);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(abs);
      } catch {
        continue; // vanished while we walked
      }
      const base = { rel: childRel, abs, mode: st.mode & 0o7777, mtime: Math.floor(st.mtimeMs / 1000), size: 0, target: '' };
      if (st.isDirectory()) {
        if (ignore.ignores(childRel, true)) continue;
        out.push({ ...base, kind: 'dir', mode: st.mode & 0o777 });
        walk(childRel);
      } else if (st.isSymbolicLink()) {
        if (ignore.ignores(childRel, false)) continue;
        let target: string;
        try {
          target = fs.readlinkSync(abs);
        } catch {
          continue;
        }
        out.push({ ...base, kind: 'symlink', target });
      } else if (st.isFile()) {
        if (ignore.ignores(childRel, false)) continue;
        out.push({ ...base, kind: 'file', size: st.size });
      }
      // sockets, fifos and devices are not copied
    }
  };
  walk('');
  return out;
}

const END_MARK = 'petrel:end';

/**
 * $1 = destination. Exit codes: 3 cannot create it, 4 bad request, 5 listing failed, 6 removing
 * failed; otherwise tar's.
 * stdin: "<bytes>\n", then that many bytes of local directories as `./path`, NUL-separated.
 * stdout: for each of those that is a directory there (not a symlink), its entries as
 * NUL-separated triples ("type size mtime", link target, ./path), then END_MARK and a NUL.
 * stdin again: "<bytes> <tar: 0|1>\n", that many bytes of `./path`s to remove, NUL-separated,
 * then (when announced) a tar archive, extracted with modes exactly as archived, owners ours.
 */
const SYNC_SCRIPT = [
  '{ [ -d "$1" ] || mkdir -p -- "$1"; } && cd -- "$1" || exit 3',
  'read -r n || exit 4',
  'dirs=()',
  `list() { [ \${#dirs[@]} -eq 0 ] || find "\${dirs[@]}" -mindepth 1 -maxdepth 1 -printf '%y %s %T@\\0%l\\0%p\\0' || exit 5; dirs=(); }`,
  'while IFS= read -r -d "" d; do',
  '  if [ -d "$d" ] && [ ! -L "$d" ]; then dirs+=("$d"); fi',
  '  [ ${#dirs[@]} -lt 1000 ] || list',
  'done < <(head -c "$n")',
  'list',
  `printf '${END_MARK}\\0'`,
  'read -r m t || exit 4',
  'if [ "$m" -gt 0 ]; then head -c "$m" | xargs -0 rm -f -- || exit 6; fi',
  '[ "$t" = 1 ] || exit 0',
  'exec tar -x -o -p -f -',
].join('\n');

/** Reads the listing as it streams in; `done` resolves at END_MARK. */
class ListingParser {
  readonly entries = new Map<string, RemoteEntry>();
  private rest = Buffer.alloc(0);
  private fields: string[] = [];
  private finished = false;
  private resolve: () => void = () => undefined;
  readonly done = new Promise<void>((res) => (this.resolve = res));

  push(chunk: Buffer): void {
    if (this.finished) return;
    let buf = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
    for (let nul = buf.indexOf(0); nul !== -1; nul = buf.indexOf(0)) {
      this.field(buf.subarray(0, nul).toString('utf8'));
      buf = buf.subarray(nul + 1);
      if (this.finished) return;
    }
    this.rest = Buffer.from(buf);
  }

  private field(f: string): void {
    // The mark stands where a triple would start, whose first field always holds spaces.
    if (this.fields.length === 0 && f === END_MARK) {
      this.finished = true;
      this.resolve();
      return;
    }
    this.fields.push(f);
    if (this.fields.length < 3) return;
    const [head = '', target = '', p = ''] = this.fields;
    this.fields = [];
    const [type = '', size = '', mtime = ''] = head.split(' ');
    // Whole seconds from "%T@" (seconds.fraction), without a float's rounding.
    this.entries.set(p.replace(/^\.\//, ''), { type, size: Number(size), mtime: Number.parseInt(mtime.split('.')[0] ?? '', 10), target });
  }
}

const nulList = (paths: string[]) => Buffer.from(paths.map((p) => `${p}\0`).join(''), 'utf8');

/** Gathers small writes into batches; large ones go straight through. */
class Batcher {
  private parts: Buffer[] = [];
  private bytes = 0;
  constructor(private readonly sink: StdinSink) {}

  async write(b: Buffer): Promise<void> {
    if (b.length >= WRITE_BATCH) {
      await this.flush();
      await this.sink.write(b);
      return;
    }
    this.parts.push(b);
    this.bytes += b.length;
    if (this.bytes >= WRITE_BATCH) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.bytes === 0) return;
    const buf = Buffer.concat(this.parts, this.bytes);
    this.parts = [];
    this.bytes = 0;
    await this.sink.write(buf);
  }
}

/**
 * Streams exactly `size` bytes of the open file `fd` (zeros after an early end: it shrank),
 * then the padding. The stream owns `fd` and closes it.
 */
async function streamFile(out: Batcher, fd: number, size: number, file: string): Promise<void> {
  let sent = 0;
  if (size > 0) {
    const stream = fs.createReadStream('', { fd, start: 0, end: size - 1, highWaterMark: READ_CHUNK });
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        await out.write(chunk);
        sent += chunk.length;
      }
    } catch (err) {
      throw new ProviderError('transient', `reading ${file}: ${(err as Error).message}`);
    } finally {
      stream.destroy();
    }
  }
  if (sent < size) await out.write(Buffer.alloc(size - sent));
  await out.write(padding(size));
}

interface Plan {
  send: LocalEntry[];
  remove: string[];
  stats: UploadStats;
}

/** What to send and what to remove, given what the node has; throws on a clash. */
function plan(local: LocalEntry[], remote: Map<string, RemoteEntry>, host: string): Plan {
  const stats: UploadStats = { files: 0, uploaded: 0, skipped: 0, bytes: 0 };
  const send: LocalEntry[] = [];
  const remove: string[] = [];
  for (const e of local) {
    const there = remote.get(e.rel);
    if (e.kind === 'dir') {
      if (there?.type === 'd') continue;
      // A file or symlink in the way goes (tar would write through a symlink to a directory).
      if (there) remove.push(`./${e.rel}`);
      send.push(e);
    } else if (e.kind === 'symlink') {
      if (there?.type === 'l' && there.target === e.target) continue;
      if (there?.type === 'd') throw new ProviderError('config', `cannot upload ${e.rel}: it is a symlink here but a directory on ${host}`);
      send.push(e);
    } else {
      stats.files++;
      if (there?.type === 'f' && there.size === e.size && there.mtime === e.mtime) {
        stats.skipped++;
        continue;
      }
      if (there?.type === 'd') throw new ProviderError('config', `cannot upload ${e.rel}: it is a file here but a directory on ${host}`);
      send.push(e);
    }
  }
  return { send, remove, stats };
}

/** The tar archive of `send`; counts what it sent in `stats`. */
async function writeTar(out: Batcher, send: LocalEntry[], stats: UploadStats): Promise<void> {
  for (const e of send) {
    if (e.kind === 'dir') {
      await out.write(entryHeader({ type: 'dir', path: e.rel, mode: e.mode, mtime: e.mtime }));
    } else if (e.kind === 'symlink') {
      await out.write(entryHeader({ type: 'symlink', path: e.rel, mtime: e.mtime, target: e.target }));
    } else {
      let fd: number;
      try {
        fd = fs.openSync(e.abs, 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // vanished since the walk
        throw new ProviderError('transient', `cannot read ${e.abs}: ${(err as Error).message}`);
      }
      let owned = true;
      try {
        await out.write(entryHeader({ type: 'file', path: e.rel, mode: e.mode, mtime: e.mtime, size: e.size }));
        owned = false;
        if (e.size > 0) await streamFile(out, fd, e.size, e.abs);
        else fs.closeSync(fd);
      } finally {
        if (owned) fs.closeSync(fd);
      }
      stats.uploaded++;
      stats.bytes += e.size;
    }
  }
  await out.write(END_OF_ARCHIVE);
}

/** `remoteDir` is relative to the login directory (home) unless absolute. */
export async function uploadDirectoryOverExec(conn: Connection, localDir: string, remoteDir: string): Promise<UploadStats> {
  checkLocalDirectory(localDir);
  const where = label(conn.target);
  const dest = remoteDir.replace(/\/+$/, '') || '.';
  const local = walkLocal(localDir);
  const dirs = nulList(['.', ...local.filter((e) => e.kind === 'dir').map((e) => `./${e.rel}`)]);
  const listing = new ListingParser();
  let result: { stats: UploadStats } | { error: ProviderError } | undefined;

  const r = await conn.exec(bashCommand(SYNC_SCRIPT, [dest]), {
    idleTimeoutMs: IDLE_TIMEOUT_MS,
    onTimeout: 'fail',
    onStdout: (chunk) => listing.push(chunk),
    stdin: async (sink) => {
      const out = new Batcher(sink);
      await out.write(Buffer.from(`${dirs.length}\n`));
      await out.write(dirs);
      await out.flush();
      const listed = await Promise.race([listing.done.then(() => true), sink.closed.then(() => false)]);
      if (!listed) return; // the command ended early: its exit code says why
      let p: Plan;
      try {
        p = plan(local, listing.entries, conn.target.host);
      } catch (err) {
        // Nothing was written; let the command end quietly.
        result = { error: err as ProviderError };
        await out.write(Buffer.from('0 0\n'));
        await out.flush();
        return;
      }
      const remove = nulList(p.remove);
      await out.write(Buffer.from(`${remove.length} ${p.send.length > 0 ? 1 : 0}\n`));
      await out.write(remove);
      if (p.send.length > 0) await writeTar(out, p.send, p.stats);
      await out.flush();
      result = { stats: p.stats };
    },
  });
  const why = () => r.stderr.toString().trim() || `exit code ${r.exitCode}`;
  switch (r.exitCode) {
    case 0:
      break;
    case 3:
      throw new ProviderError('transient', `cannot create ${dest} on ${where}: ${why()}`);
    case 5:
      throw new ProviderError('transient', `listing ${dest} on ${where} failed: ${why()}`);
    case 6:
      throw new ProviderError('transient', `removing what is in the way in ${dest} on ${where} failed: ${why()}`);
    default:
      throw new ProviderError('transient', `uploading into ${dest} on ${where} failed: ${why()}`);
  }
  if (!result) throw new ProviderError('transient', `uploading into ${dest} on ${where}: the node ended the transfer early`);
  if ('error' in result) throw result.error;
  return result.stats;
}
