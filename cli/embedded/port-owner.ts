// Who holds a TCP port on this machine, from /proc/net/tcp: the listening socket's owner uid is
// there even when its process belongs to another user, so a refusal can name whose it is.
import fs from 'node:fs';

function userName(uid: number): string | undefined {
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (Number(f[2]) === uid) return f[0];
    }
  } catch {
    // no passwd to read
  }
  return undefined;
}

/** "user root (uid 0)" for the owner of a listening socket on `port`, if it can be told. */
export function portOwner(port: number): string | undefined {
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 8 || f[3] !== '0A') continue; // LISTEN
      if (Number.parseInt(f[1]!.split(':')[1]!, 16) !== port) continue;
      const uid = Number(f[7]);
      return `user ${userName(uid) ?? '?'} (uid ${uid})`;
    }
  }
  return undefined;
}
