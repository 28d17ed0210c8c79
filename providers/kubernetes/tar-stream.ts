// A directory as one tar archive of known length, streamed from disk: a pod reads exactly that
// many bytes from exec's stdin (its end is not always delivered). What is uploaded follows the
// SSH upload's rules (walkLocal: .git, node_modules, __pycache__, .petrel and what .gitignore
// excludes are skipped; modes, mtimes and symlinks are kept).
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { END_OF_ARCHIVE, entryHeader, padding } from '../ssh/tar.js';
import { walkLocal, type LocalEntry } from '../ssh/upload-exec.js';

export interface TarStream {
  bytes: number;
  stream(): Readable;
}

function header(e: LocalEntry): Buffer {
  if (e.kind === 'dir') return entryHeader({ type: 'dir', path: e.rel, mode: e.mode, mtime: e.mtime });
  if (e.kind === 'symlink') return entryHeader({ type: 'symlink', path: e.rel, mode: e.mode, mtime: e.mtime, target: e.target });
  return entryHeader({ type: 'file', path: e.rel, mode: e.mode, mtime: e.mtime, size: e.size });
}

export function tarStream(localDir: string): TarStream {
  const entries = walkLocal(localDir).map((e) => ({ e, header: header(e) }));
  const bytes = entries.reduce((n, { e, header: h }) => n + h.length + (e.kind === 'file' ? e.size + padding(e.size).length : 0), END_OF_ARCHIVE.length);
  return {
    bytes,
    stream: () =>
      Readable.from(
        (async function* () {
          for (const { e, header: h } of entries) {
            yield h;
            if (e.kind !== 'file') continue;
            yield* fileBytes(e.abs, e.size);
            yield padding(e.size);
          }
          yield END_OF_ARCHIVE;
        })(),
      ),
  };
}

/** Exactly `size` bytes of `file`: cut when it grew since it was listed, zeros when it shrank. */
async function* fileBytes(file: string, size: number): AsyncGenerator<Buffer> {
  let sent = 0;
  if (size > 0) {
    try {
      for await (const chunk of fs.createReadStream(file, { start: 0, end: size - 1, highWaterMark: 256 << 10 }) as AsyncIterable<Buffer>) {
        sent += chunk.length;
        yield chunk;
      }
    } catch {
      // vanished since the listing: its bytes become zeros, as the length was promised
    }
  }
  if (sent < size) yield Buffer.alloc(size - sent);
}
