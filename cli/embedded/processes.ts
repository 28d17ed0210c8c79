// Background processes Petrel owns, tracked by pid files under $PETREL_HOME/run.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export function pidFile(home: string, name: string): string {
  return path.join(home, 'run', `${name}.pid`);
}

export function logFile(home: string, name: string): string {
  return path.join(home, 'logs', `${name}.log`);
}

/** The pid in the file if that process is alive and still runs `marker` (guards pid reuse). */
export function livePid(home: string, name: string, marker: string): number | undefined {
  let pid: number;
  try {
    pid = Number.parseInt(fs.readFileSync(pidFile(home, name), 'utf8'), 10);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/\) Z /.test(stat)) return undefined;
    return cmdline.includes(marker) ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function spawnDetached(home: string, name: string, command: string, args: string[], env: NodeJS.ProcessEnv): number {
  fs.mkdirSync(path.join(home, 'run'), { recursive: true });
  fs.mkdirSync(path.join(home, 'logs'), { recursive: true });
  const out = fs.openSync(logFile(home, name), 'a');
  try {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', out, out], env });
    child.on('error', () => undefined);
    if (child.pid === undefined) throw new Error(`could not start ${command}`);
    fs.writeFileSync(pidFile(home, name), String(child.pid));
    child.unref();
    return child.pid;
  } finally {
    fs.closeSync(out);
  }
}

export async function stopProcess(home: string, name: string, marker: string, graceMs = 10_000): Promise<number | undefined> {
  const pid = livePid(home, name, marker);
  if (pid === undefined) {
    fs.rmSync(pidFile(home, name), { force: true });
    return undefined;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && livePid(home, name, marker) !== undefined) await sleep(50);
  if (livePid(home, name, marker) !== undefined) process.kill(pid, 'SIGKILL');
  fs.rmSync(pidFile(home, name), { force: true });
  return pid;
}

export function portAnswers(host: string, port: number, timeoutMs = 300): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
