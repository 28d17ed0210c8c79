// A file mount is a directory or a single file. Uploads are of directories, so a single file
// travels in a staging directory of its own, named as its destination, into the destination's
// parent (nothing else there is touched).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Copies a local directory to a destination on the nodes (one runner, or several at once). */
export type UploadDirectory = (localDir: string, remoteDir: string) => Promise<void>;

export async function uploadMount(upload: UploadDirectory, source: string, dest: string): Promise<void> {
  if (fs.statSync(source).isDirectory()) return upload(source, dest);
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-mount-'));
  try {
    fs.copyFileSync(source, path.join(stage, path.posix.basename(dest)));
    await upload(stage, path.posix.dirname(dest));
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}
