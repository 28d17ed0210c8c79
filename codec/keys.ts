// The keys Petrel encrypts with: every payload it puts into Temporal (codec/encryption-codec.ts)
// and every secret value (codec/secret-box.ts). The first key encrypts; every listed key
// decrypts, so a team rotates by putting a new key first and keeping the old ones below it
// until nothing encrypted with them is still needed.
//
// Where they come from, first match wins:
// - PETREL_CODEC_KEY: base64 32-byte keys, separated by commas or whitespace (a team's key,
//   from a secret store); PETREL_SECRET_KEY is read the same way (its older name);
// - PETREL_CODEC_KEY_FILE: a file of such keys, one per line;
// - $PETREL_HOME/secret.key: the same format, created with one fresh key (mode 0600) on first use.
// A key file that others may read is refused: whoever reads it can run jobs as you.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createFileOnce } from './create-file-once.js';

export interface CodecKey {
  /** short public id of the key, recorded in every payload it encrypted */
  id: string;
  key: Buffer;
}

export interface CodecKeyring {
  /** the key new payloads are encrypted with */
  current: CodecKey;
  /** every key that may decrypt, by id */
  byId: Map<string, CodecKey>;
  /** where the keys came from, for messages */
  source: string;
}

export class CodecKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodecKeyError';
  }
}

export function keyId(key: Buffer): string {
  return crypto.createHash('sha256').update(key).digest('hex').slice(0, 12);
}

function parseKeys(text: string, source: string): CodecKeyring {
  const keys = text
    // A `#` starts a comment to the end of its line (base64 has no `#`).
    .replace(/#[^\n]*/g, '')
    .split(/[\s,]+/)
    .filter((k) => k)
    .map((k, i) => {
      const key = Buffer.from(k, 'base64');
      if (key.length !== 32 || key.toString('base64').replace(/=+$/, '') !== k.replace(/=+$/, '')) {
        throw new CodecKeyError(`${source}: key ${i + 1} is not 32 bytes of base64 (generate one with: openssl rand -base64 32)`);
      }
      return { id: keyId(key), key };
    });
  if (keys.length === 0) throw new CodecKeyError(`${source} holds no key`);
  return { current: keys[0]!, byId: new Map(keys.map((k) => [k.id, k])), source };
}

function readKeyFile(file: string, what: string): CodecKeyring {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    throw new CodecKeyError(`${what} ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  if ((st.mode & 0o077) !== 0) {
    throw new CodecKeyError(`${what} ${file} can be read by other users (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${file}`);
  }
  return parseKeys(fs.readFileSync(file, 'utf8'), `${what} ${file}`);
}

export function homeKeyFile(home: string): string {
  return path.join(home, 'secret.key');
}

/** The keyring for this process: from the environment, or the home's key file (created on first use). */
export function loadKeyring(home: string, env: NodeJS.ProcessEnv = process.env): CodecKeyring {
  for (const name of ['PETREL_CODEC_KEY', 'PETREL_SECRET_KEY'] as const) {
    const value = env[name];
    if (value) return parseKeys(value, name);
  }
  if (env.PETREL_CODEC_KEY_FILE) return readKeyFile(env.PETREL_CODEC_KEY_FILE, 'PETREL_CODEC_KEY_FILE');
  const file = homeKeyFile(home);
  if (!fs.existsSync(file)) createFileOnce(file, `${crypto.randomBytes(32).toString('base64')}\n`, 0o600);
  return readKeyFile(file, 'key file');
}
