// One command at a time starts this home's server and worker: concurrent first commands (a
// script launching twenty jobs at once) would otherwise each see no server answering yet, each
// start one, and leave all but one running untracked. The lock is a file holding its holder's
// pid; a holder that died (or is a zombie) leaves a lock the next command takes over.
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { sleep } from './processes.js';

function holderAlive(pid: number): boolean {
  try {
    return !/\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  }
}

export async function withHomeLock<T>(home: string, fn: () => Promise<T>, waitMs = 120_000): Promise<T> {
  const file = path.join(home, 'run', 'start.lock');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder: number;
    try {
      holder = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
    } catch {
      continue; // released meanwhile
    }
    if (!Number.isInteger(holder) || holder <= 1 || !holderAlive(holder)) {
      // Its holder is gone: take it over (the rename is atomic; a racing taker just retries).
      const mine = `${file}.${process.pid}`;
      fs.writeFileSync(mine, String(process.pid));
      fs.renameSync(mine, file);
      if (fs.readFileSync(file, 'utf8') === String(process.pid)) break;
      continue;
    }
    if (Date.now() > deadline) throw new UserError(`another petrel command (pid ${holder}) has been starting this home's server for ${waitMs / 1000} s; see ${file}`);
    await sleep(50);
  }
  try {
    return await fn();
  } finally {
    try {
      if (fs.readFileSync(file, 'utf8') === String(process.pid)) fs.rmSync(file, { force: true });
    } catch {
      // already gone
    }
  }
}
