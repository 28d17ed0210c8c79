// The one key pair Petrel logs in to its cloud VMs with: $PETREL_HOME/keys/petrel-cloud (and
// .pub), ed25519, created on first use and reused after, so every worker sharing the home (and
// every retried provision) imports the same public key into each cloud.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface CloudKey {
  privateKeyFile: string;
  /** "ssh-ed25519 AAAA… petrel" */
  publicKey: string;
}

export function cloudKeyPath(home: string): string {
  return path.join(home, 'keys', 'petrel-cloud');
}

let ssh2Module: Promise<typeof import('ssh2')> | undefined;
async function ssh2(): Promise<typeof import('ssh2')> {
  ssh2Module ??= import('ssh2').then((m) => (m as unknown as { default: typeof import('ssh2') }).default ?? m);
  return ssh2Module;
}

export async function ensureCloudKey(home: string): Promise<CloudKey> {
  const privateKeyFile = cloudKeyPath(home);
  const pubFile = `${privateKeyFile}.pub`;
  const existing = readPair(privateKeyFile, pubFile);
  if (existing) return existing;
  fs.mkdirSync(path.dirname(privateKeyFile), { recursive: true, mode: 0o700 });
  const pair = (await ssh2()).utils.generateKeyPairSync('ed25519', { comment: 'petrel' });
  // Two workers may get here at once: each writes its own temp files and links them into place;
  // the first link wins and the loser reads the winner's pair back.
  const tmp = `${privateKeyFile}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
  fs.writeFileSync(tmp, pair.private, { mode: 0o600 });
  fs.writeFileSync(`${tmp}.pub`, `${pair.public.trim()}\n`, { mode: 0o644 });
  try {
    fs.linkSync(`${tmp}.pub`, pubFile);
    fs.linkSync(tmp, privateKeyFile);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    fs.rmSync(tmp, { force: true });
    fs.rmSync(`${tmp}.pub`, { force: true });
  }
  for (let i = 0; i < 50; i++) {
    const pair2 = readPair(privateKeyFile, pubFile);
    if (pair2) return pair2;
    await new Promise((r) => setTimeout(r, 20)); // the other writer links the private key next
  }
  throw new Error(`${privateKeyFile}: the key pair is incomplete (a private key without ${pubFile}, or the reverse); remove both to have Petrel create a new one`);
}

function readPair(privateKeyFile: string, pubFile: string): CloudKey | undefined {
  try {
    const publicKey = fs.readFileSync(pubFile, 'utf8').trim();
    if (!fs.existsSync(privateKeyFile) || !publicKey) return undefined;
    return { privateKeyFile, publicKey };
  } catch {
    return undefined;
  }
}

/** The key's SHA-256 fingerprint in hex: a name for it in each cloud that changes only when the key does. */
export function publicKeyDigest(publicKey: string): string {
  const blob = Buffer.from(publicKey.split(/\s+/)[1] ?? '', 'base64');
  return crypto.createHash('sha256').update(blob).digest('hex');
}
