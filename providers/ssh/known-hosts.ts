// Host keys of SSH nodes, trusted on first use and checked on every later connection.
//
// The file is $PETREL_HOME/known_hosts in OpenSSH's known_hosts format, one line per host
// ("[10.0.0.5]:2222 ssh-ed25519 AAAA...", or "10.0.0.5 ssh-ed25519 AAAA..." on port 22), so
// `ssh -o UserKnownHostsFile=$PETREL_HOME/known_hosts`, `ssh-keygen -R` and `ssh-keygen -lf` work
// on it. Hashed host names, @markers and wildcard patterns written by other tools are ignored.
//
// A host whose recorded key differs (any recorded key, of any type) is refused before we
// authenticate, so nothing ever runs on a machine that is not the one we met first.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export function knownHostsPath(home: string): string {
  return path.join(home, 'known_hosts');
}

/** OpenSSH's host field: the bare host on port 22, `[host]:port` otherwise. */
export function hostPattern(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** `SHA256:...` as `ssh-keygen -l` prints it. */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${crypto.createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** The key type is the first string of the SSH wire-format public key blob. */
export function keyType(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown';
  const len = keyBlob.readUInt32BE(0);
  if (len <= 0 || len > 64 || 4 + len > keyBlob.length) return 'unknown';
  return keyBlob.subarray(4, 4 + len).toString('latin1');
}

interface Entry {
  type: string;
  blob: Buffer;
}

function entriesFor(file: string, pattern: string): Entry[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: Entry[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#') || t.startsWith('@') || t.startsWith('|')) continue;
    const [hosts, type, b64] = t.split(/\s+/);
    if (!hosts || !type || !b64) continue;
    if (!hosts.split(',').includes(pattern)) continue;
    out.push({ type, blob: Buffer.from(b64, 'base64') });
  }
  return out;
}

export type HostKeyVerdict =
  | { ok: true; recorded: boolean }
  | { ok: false; message: string };

/**
 * Accepts a key already recorded for host:port, records the key of a host seen for the first
 * time, and refuses (with the message a user needs) a host whose key changed.
 */
export function verifyHostKey(file: string, host: string, port: number, keyBlob: Buffer): HostKeyVerdict {
  const pattern = hostPattern(host, port);
  const known = entriesFor(file, pattern);
  if (known.some((e) => e.blob.equals(keyBlob))) return { ok: true, recorded: false };
  if (known.length > 0) {
    const was = known.map((e) => fingerprint(e.blob)).join(', ');
    return {
      ok: false,
      message:
        `host key of ${host}:${port} changed (was ${was}, now ${fingerprint(keyBlob)}); ` +
        `if the machine was reinstalled, remove its line from ${file}`,
    };
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // One write with O_APPEND: concurrent first connections at worst record the same line twice.
  fs.appendFileSync(file, `${pattern} ${keyType(keyBlob)} ${keyBlob.toString('base64')}\n`, { mode: 0o600 });
  return { ok: true, recorded: true };
}
