// Expiry of finished jobs' snapshots in a worker's own store (file://): a job whose newest
// snapshot is older than the retention (config.yaml jobs.checkpoint_retention_days, default 7;
// activities/checkpoint-config.ts)
// is deleted. A running job snapshots every interval, so it never expires while it runs.
import fs from 'node:fs';
import path from 'node:path';

/** Deletes the job directories under `root` whose newest snapshot is older than `days`; returns their names. */
export function sweepExpiredSnapshots(root: string, days: number, now = Date.now()): string[] {
  const cutoff = now - days * 86_400_000;
  const removed: string[] = [];
  let jobs: string[];
  try {
    jobs = fs.readdirSync(root);
  } catch {
    return removed;
  }
  for (const job of jobs) {
    const dir = path.join(root, job);
    let newest = 0;
    try {
      if (!fs.statSync(dir).isDirectory()) continue;
      newest = fs.statSync(dir).mtimeMs;
      for (const f of fs.readdirSync(path.join(dir, 'snapshots'))) newest = Math.max(newest, fs.statSync(path.join(dir, 'snapshots', f)).mtimeMs);
    } catch {
      // no snapshots directory: the job's directory time decides
    }
    if (newest < cutoff) {
      fs.rmSync(dir, { recursive: true, force: true });
      removed.push(job);
    }
  }
  return removed;
}
