// Which worker this process is. Its own task queue is named after an id stored in its
// PETREL_HOME (`worker-id`, created on first use), so work that needs this worker's files (its
// log archive, the local nodes under its home) reaches a process that has those files: every
// worker of one home shares the queue — replicas on a shared volume, a container recreated
// under a new hostname — and a home elsewhere (even at the same path) has an id of its own.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createFileOnce } from '../codec/create-file-once.js';
import type { WorkerRef } from '../core/cluster-state.js';
import { workerQueue } from '../core/worker-ops.js';

const ID_FILE = 'worker-id';

function homeId(home: string): string {
  const file = path.join(home, ID_FILE);
  try {
    const id = fs.readFileSync(file, 'utf8').trim();
    if (/^[0-9a-f]{12}$/.test(id)) return id;
  } catch {
    // first use
  }
  // Two workers starting at once agree on the first id written.
  return createFileOnce(file, `${crypto.randomBytes(6).toString('hex')}\n`).trim();
}

const known = new Map<string, WorkerRef>();

export function workerIdentity(home: string): WorkerRef {
  const resolved = path.resolve(home);
  let ref = known.get(resolved);
  if (!ref) known.set(resolved, (ref = { queue: workerQueue(homeId(resolved)), host: os.hostname(), home: resolved }));
  return ref;
}
