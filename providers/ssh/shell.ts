// Small helpers for the shell text we send to nodes. Every remote command is POSIX sh run by
// the login shell, which starts in the user's home directory: relative paths are relative to ~.
import path from 'node:path';
import { shellQuote } from '../shell-quote.js';
import { ProviderError } from '../types.js';

export { shellQuote };

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
  // `~` is the user's real home on the host, as for the job itself (caches and environments
  // there are shared by the clusters of one user); remote paths are relative to it.
  if (sub === '~') return '.';
  if (sub.startsWith('~/')) return path.posix.normalize(sub.slice(2));
  const joined = path.posix.join(root || '.', sub || '.');
  return joined;
}

/** Job keys become directory names on the node. */
export function checkJobKey(key: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(key) || key === '.' || key === '..') throw new Error(`invalid job key '${key}'`);
  return key;
}
