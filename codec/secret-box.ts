// Secret values travel sealed inside payloads that are themselves encrypted (codec/): the
// codec endpoint shows a key holder each workflow's decoded input in the Temporal UI, and
// secrets must stay closed even there. Only the activity that starts a job opens them, right
// before handing them to the job's environment. Sealed with the keyring's current key; any of
// its keys opens (so rotating the key keeps queued jobs' secrets readable).
import crypto from 'node:crypto';
import type { CodecKeyring } from './keys.js';

const PREFIX = 'petrel-sealed:v2:';
const LEGACY_PREFIX = 'petrel-sealed:v1:';

export function seal(keys: CodecKeyring, plaintext: string): string {
  const { id, key } = keys.current;
  const iv = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return `${PREFIX}${id}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
}

export function open(keys: CodecKeyring, sealed: string): string {
  let candidates: Buffer[];
  let raw: Buffer;
  if (sealed.startsWith(PREFIX)) {
    const rest = sealed.slice(PREFIX.length);
    const id = rest.slice(0, rest.indexOf(':'));
    const entry = keys.byId.get(id);
    if (!entry) throw new Error(`a secret was sealed with key '${id}', which is not among this worker's keys (${keys.source})`);
    candidates = [entry.key];
    raw = Buffer.from(rest.slice(id.length + 1), 'base64');
  } else if (sealed.startsWith(LEGACY_PREFIX)) {
    // sealed before key ids: try every key
    candidates = [...keys.byId.values()].map((k) => k.key);
    raw = Buffer.from(sealed.slice(LEGACY_PREFIX.length), 'base64');
  } else {
    throw new Error('not a sealed Petrel secret');
  }
  for (const key of candidates) {
    try {
      const decipher = crypto.createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      // not this key
    }
  }
  throw new Error(`a sealed secret does not open with any of this worker's keys (${keys.source})`);
}

export function sealAll(keys: CodecKeyring, values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, seal(keys, v)]));
}

export function openAll(keys: CodecKeyring, values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, open(keys, v)]));
}
