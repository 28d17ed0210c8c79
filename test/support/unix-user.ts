// A throw-away unix user with a home of its own, for tests that need a second person on the
// same machine (needs root: useradd/userdel). Everything it runs is killed before it is removed.
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface UnixUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  /** runs a command as this user; resolves with its exit code and output */
  run(command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs?: number): Promise<{ code: number; stdout: string; stderr: string }>;
  remove(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** useradd/userdel lock /etc/passwd; parallel test files may collide. */
export async function withPasswdLock(cmd: string, args: string[]): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      execFileSync(cmd, args, { stdio: 'pipe' });
      return;
    } catch (err) {
      const msg = String((err as { stderr?: Buffer }).stderr ?? err);
      if (i < 50 && /lock|try again/i.test(msg)) {
        await sleep(100);
        continue;
      }
      throw new Error(`${cmd} ${args.join(' ')} failed: ${msg}`);
    }
  }
}

function processesOf(uid: number): number[] {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => {
      try {
        const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
        return Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]) === uid && !/^State:\s+Z/m.test(status);
      } catch {
        return false;
      }
    });
}

/**
 * Lets every user walk down to these paths (o+x on each ancestor directory that lacks it), as a
 * second person needs to run this checkout wherever it was cloned (e.g. under a mode-700 /root).
 * Returns a function that puts the modes back.
 */
export function makeReachable(paths: string[]): () => void {
  const changed = new Map<string, number>();
  for (const p of paths) {
    for (let dir = path.dirname(path.resolve(p)); ; dir = path.dirname(dir)) {
      const mode = fs.statSync(dir).mode & 0o7777;
      if ((mode & 0o001) === 0 && !changed.has(dir)) {
        changed.set(dir, mode);
        fs.chmodSync(dir, mode | 0o001);
      }
      if (dir === path.dirname(dir)) break;
    }
  }
  return () => {
    for (const [dir, mode] of changed) fs.chmodSync(dir, mode);
  };
}

export async function createUnixUser(): Promise<UnixUser> {
  if (process.getuid?.() !== 0) throw new Error('tests with a second unix user must run as root (useradd)');
  const name = `ptu${crypto.randomBytes(3).toString('hex')}`;
  // Somewhere every user can walk to: the user's own home below is private to it.
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-user-'));
  fs.chmodSync(parent, 0o755);
  for (let dir = path.dirname(parent); dir !== '/' && dir.startsWith(os.tmpdir()); dir = path.dirname(dir)) {
    fs.chmodSync(dir, fs.statSync(dir).mode | 0o011);
  }
  const home = path.join(parent, name);
  await withPasswdLock('useradd', ['-M', '-d', home, '-s', '/bin/bash', '-p', '*', name]);
  const uid = Number(execFileSync('id', ['-u', name]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', name]).toString().trim());
  fs.mkdirSync(home, { mode: 0o700 });
  fs.chownSync(home, uid, gid);
  const user: UnixUser = {
    name,
    uid,
    gid,
    home,
    run(command, args, env, timeoutMs = 90_000) {
      return new Promise((resolve, reject) => {
        const child = spawn(command, args, { uid, gid, cwd: home, env: { ...env, HOME: home, USER: name, LOGNAME: name }, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`${command} ${args.join(' ')} as ${name} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
        }, timeoutMs);
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code: code ?? -1, stdout, stderr });
        });
      });
    },
    async remove() {
      for (let i = 0; i < 50; i++) {
        const left = processesOf(uid);
        if (left.length === 0) break;
        for (const pid of left) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
        await sleep(100);
      }
      await withPasswdLock('userdel', [name]).catch(() => undefined);
      fs.rmSync(parent, { recursive: true, force: true });
    },
  };
  return user;
}
