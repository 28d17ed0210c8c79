// A file mount is a directory or a single file. Runners upload directories, so a single file
// travels in a staging directory of its own, named as its destination, into the destination's
// parent (nothing else there is touched).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CommandRunner } from '../providers/types.js';

export async function uploadMount(runner: CommandRunner, source: string, dest: string): Promise<void> {
  if (fs.statSync(source).isDirectory()) return runner.upload(source, dest);
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-mount-'));
  try {
    fs.copyFileSync(source, path.join(stage, path.posix.basename(dest)));
    await runner.upload(stage, path.posix.dirname(dest));
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}
