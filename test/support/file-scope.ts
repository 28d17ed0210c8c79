// Setup file, run in each test file's worker before the file: gives the file its own
// directory under the run's temp root (TMPDIR, so every os.tmpdir() scratch dir, PETREL_HOME
// and sshd dir of the file lands there) and names the file in PETREL_TEST_FILE. Whatever the
// file starts can then be traced back to it (test/support/leftovers.ts).
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { RUN_ROOT_ENV, TEST_FILE_ENV } from './leftovers.js';

const root = process.env[RUN_ROOT_ENV];
const testPath = expect.getState().testPath;
if (root && testPath) {
  const repo = path.resolve(import.meta.dirname, '..', '..');
  const rel = path.relative(repo, testPath);
  const slug = rel.replace(/^test[/\\]/, '').replace(/\.test\.[cm]?[jt]s$/, '').replace(/[^A-Za-z0-9._-]+/g, '-');
  const dir = path.join(root, slug);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.chmodSync(dir, 0o755); // sshd test users walk through it to their homes
  process.env.TMPDIR = dir;
  process.env[TEST_FILE_ENV] = rel;
}
