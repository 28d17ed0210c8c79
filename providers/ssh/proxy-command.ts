// ssh_config's ProxyCommand: a command (`ssh -W %h:%p gateway`, `nc`, a site's own wrapper)
// whose stdin and stdout carry the SSH connection. The stream given to ssh2 in place of a TCP
// socket; the command dies with the connection.
import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';

/** What the command said on stderr, for messages (the tail: a chatty wrapper's start is noise). */
const STDERR_KEPT = 2_000;

export interface ProxyCommandStream extends Duplex {
  ref(): void;
  unref(): void;
}

/**
 * Starts `command` with /bin/sh. Resolves once the far end speaks (an SSH server sends its
 * version first); rejects if the command cannot start, exits first, or says nothing in time.
 */
export function proxyCommandStream(command: string, timeoutMs: number): Promise<ProxyCommandStream> {
  return new Promise((resolve, reject) => {
    // The user's command, not Petrel's: it gets none of the worker's Petrel or Temporal settings.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(PETREL_|TEMPORAL_)/.test(k)));
    const child = spawn('/bin/sh', ['-c', command], { stdio: ['pipe', 'pipe', 'pipe'], env });
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      child.kill('SIGKILL');
      reject(Object.assign(new Error(`ProxyCommand '${command}' gave no SSH banner within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    let stderr = '';
    let settled = false;
    /** resolved to a caller, who now listens for its errors; before that nobody does */
    let handedOut = false;
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString('utf8')).slice(-STDERR_KEPT);
    });
    const why = (code: number | null, signal: NodeJS.Signals | null) =>
      `ProxyCommand '${command}' ${signal ? `was killed by ${signal}` : `exited with ${code}`}${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join('; ')}` : ''}`;

    const stream = new Duplex({
      read() {
        child.stdout.resume();
      },
      write(chunk: Buffer, _enc, cb) {
        if (!child.stdin.writable) return cb(new Error(`ProxyCommand '${command}' no longer reads its input`));
        child.stdin.write(chunk, cb);
      },
      final(cb) {
        child.stdin.end(cb);
      },
      destroy(err, cb) {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        cb(err);
      },
    }) as ProxyCommandStream;
    stream.ref = () => {
      child.ref();
      for (const s of [child.stdin, child.stdout, child.stderr] as Array<{ ref?: () => void }>) s.ref?.();
    };
    stream.unref = () => {
      child.unref();
      for (const s of [child.stdin, child.stdout, child.stderr] as Array<{ unref?: () => void }>) s.unref?.();
    };
    child.stdin.on('error', () => undefined); // the command exited: its close says why
    child.stdout.on('data', (d: Buffer) => {
      if (!settled) {
        settled = true;
        handedOut = true;
        clearTimeout(timer);
        resolve(stream);
      }
      if (!stream.push(d)) child.stdout.pause();
    });
    child.stdout.on('end', () => stream.push(null));
    child.on('error', (err) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(Object.assign(new Error(`ProxyCommand '${command}' cannot be started: ${err.message}`), { code: 'EPROXYCOMMAND' }));
      } else if (handedOut) stream.destroy(err);
    });
    child.on('close', (code, signal) => {
      const err = Object.assign(new Error(why(code, signal)), { code: 'EPROXYCOMMAND' });
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(err);
      } else if (handedOut && !stream.destroyed) stream.destroy(code === 0 ? undefined : err);
      // (timed out before it spoke: already rejected, and an error on a stream no one holds would crash the process)
    });
  });
}
