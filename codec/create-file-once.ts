// Files a home creates once and every process then shares (the codec key, a worker's id):
// written aside and linked into place, so concurrent first users agree on one content and no
// reader ever sees a half-written file.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** Creates `file` with `content` unless it exists; returns what the file holds either way. */
export function createFileOnce(file: string, content: string, mode = 0o644): string {
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
    fs.writeFileSync(tmp, content, { mode, flag: 'wx' });
    try {
      fs.linkSync(tmp, file);
    } catch (err) {
      // Another process created it first: theirs stands.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }
  return fs.readFileSync(file, 'utf8');
}
