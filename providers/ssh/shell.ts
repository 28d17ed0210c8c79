// Small helpers for the shell text we send to nodes. Every remote command is POSIX sh run by
// the login shell, which starts in the user's home directory: relative paths are relative to ~.
import path from 'node:path';
import { ProviderError } from '../types.js';

export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `export A='x' B='y'` (or '' for no variables); rejects names a shell cannot export. */
export function exportLine(env: Record<string, string> | undefined): string {
  const entries = Object.entries(env ?? {});
  if (entries.length === 0) return '';
  for (const [k] of entries) if (!ENV_NAME.test(k)) throw new ProviderError('config', `invalid environment variable name '${k}'`);
  return `export ${entries.map(([k, v]) => `${k}=${shellQuote(v)}`).join(' ')}`;
}

/** `sub` under `root` on the node; an absolute `sub` stays as it is. Both are POSIX paths. */
export function remoteJoin(root: string, sub: string): string {
  if (path.posix.isAbsolute(sub)) return path.posix.normalize(sub);
  // `~` is the node home here too (as in SkyPilot's `~/sky_workdir`)
  if (sub === '~') sub = '.';
  else if (sub.startsWith('~/')) sub = sub.slice(2);
  const joined = path.posix.join(root || '.', sub || '.');
  return joined;
}

/** Job keys become directory names on the node. */
export function checkJobKey(key: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(key) || key === '.' || key === '..') throw new Error(`invalid job key '${key}'`);
  return key;
}

/** Bytes of buf[0..n) that end on a UTF-8 character boundary, so no chunk splits a character. */
export function completeUtf8Length(buf: Buffer, n: number): number {
  for (let back = 1; back <= Math.min(3, n); back++) {
    const byte = buf[n - back]!;
    if ((byte & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead
    const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return need > back ? n - back : n;
  }
  return n;
}
