// The codec's keys and their rotation, without a server: where keys come from, which encrypts,
// that rotated-out keys still decrypt (payloads and sealed secrets), that tampering and unknown
// keys are refused, that a key file others can read is refused, and the codec endpoint's token.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startCodecServer } from '../../codec/codec-server.js';
import { EncryptionCodec, RefusedPayloadError } from '../../codec/encryption-codec.js';
import { CodecKeyError, loadKeyring } from '../../codec/keys.js';
import { open, seal } from '../../codec/secret-box.js';

const key = (byte: number) => Buffer.alloc(32, byte).toString('base64');
const payload = (text: string) => ({ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(JSON.stringify(text)) });
const textOf = (p: { data?: Uint8Array | null }) => Buffer.from(p.data ?? []).toString();
const tmpHome = () => fs.mkdtempSync(path.join(os.tmpdir(), 'petrel-codec-'));

describe('codec keys', () => {
  it('the first listed key encrypts; a rotated-out key still decrypts payloads and sealed secrets', async () => {
    const old = loadKeyring('/nonexistent', { PETREL_CODEC_KEY: key(1) });
    const rotated = loadKeyring('/nonexistent', { PETREL_CODEC_KEY: `${key(2)}, ${key(1)}` });
    expect(rotated.current.id).not.toBe(old.current.id);
    expect([...rotated.byId.keys()]).toEqual([rotated.current.id, old.current.id]);

    const [sealedByOld] = await new EncryptionCodec(old).encode([payload('queued before the rotation')]);
    expect(textOf((await new EncryptionCodec(rotated).decode([sealedByOld!]))[0]!)).toBe('"queued before the rotation"');
    const [sealedByNew] = await new EncryptionCodec(rotated).encode([payload('after')]);
    expect(Buffer.from(sealedByNew!.metadata!['encryption-key-id']!).toString()).toBe(rotated.current.id);
    // the old key alone cannot read what the new one wrote, and says which key it lacks
    await expect(new EncryptionCodec(old).decode([sealedByNew!])).rejects.toThrow(new RegExp(`encrypted with key '${rotated.current.id}', which is not among`));

    expect(open(rotated, seal(old, 'sk-secret'))).toBe('sk-secret');
    expect(() => open(old, seal(rotated, 'sk-secret'))).toThrow(/not among this worker's keys/);
  });

  it('refuses plaintext, tampered and forged payloads', async () => {
    const keys = loadKeyring('/nonexistent', { PETREL_CODEC_KEY: key(3) });
    const codec = new EncryptionCodec(keys);
    await expect(codec.decode([payload('plain')])).rejects.toThrow(RefusedPayloadError);
    const [enc] = await codec.encode([payload('intact')]);
    const tampered = { ...enc!, data: Buffer.from(enc!.data!).map((b, i) => (i === 20 ? b ^ 1 : b)) };
    await expect(codec.decode([tampered])).rejects.toThrow(/does not authenticate with it/);
    // a payload claiming another key id than the one that wrote it (the id is authenticated)
    const other = loadKeyring('/nonexistent', { PETREL_CODEC_KEY: `${key(4)},${key(3)}` });
    const relabelled = { ...enc!, metadata: { ...enc!.metadata, 'encryption-key-id': Buffer.from(other.current.id) } };
    await expect(new EncryptionCodec(other).decode([relabelled])).rejects.toThrow(/does not authenticate/);
  });

  it("creates the home's key file with mode 600 once, reuses it, and refuses one others can read", () => {
    const home = tmpHome();
    try {
      const first = loadKeyring(home, {});
      const file = path.join(home, 'secret.key');
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect(loadKeyring(home, {}).current.id).toBe(first.current.id);
      fs.chmodSync(file, 0o644);
      expect(() => loadKeyring(home, {})).toThrow(new RegExp(`key file ${file} can be read by other users \\(mode 644\\); run: chmod 600`));
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it('names the source of a malformed key, and reads PETREL_CODEC_KEY_FILE', () => {
    expect(() => loadKeyring('/nonexistent', { PETREL_CODEC_KEY: 'not-a-key' })).toThrow(CodecKeyError);
    expect(() => loadKeyring('/nonexistent', { PETREL_CODEC_KEY: 'not-a-key' })).toThrow(/PETREL_CODEC_KEY: key 1 is not 32 bytes of base64/);
    const home = tmpHome();
    try {
      const file = path.join(home, 'team.keys');
      fs.writeFileSync(file, `# team key\n${key(5)}\n${key(6)}\n`, { mode: 0o600 });
      const keys = loadKeyring('/nonexistent', { PETREL_CODEC_KEY_FILE: file });
      expect(keys.byId.size).toBe(2);
      expect(keys.source).toBe(`PETREL_CODEC_KEY_FILE ${file}`);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it('`petrel codec keys` lists the ids, which one encrypts, and where they come from', () => {
    const keys = loadKeyring('/nonexistent', { PETREL_CODEC_KEY: `${key(7)},${key(8)}` });
    const bin = path.resolve(import.meta.dirname, '..', '..', 'bin', 'petrel.js');
    const r = spawnSync(process.execPath, [bin, 'codec', 'keys', '--json'], { encoding: 'utf8', env: { ...process.env, PETREL_CODEC_KEY: `${key(7)},${key(8)}` } });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ source: 'PETREL_CODEC_KEY', keys: [...keys.byId.keys()].map((id, i) => ({ id, current: i === 0 })) });
  });
});

describe('the codec endpoint with a token', () => {
  it('needs the bearer token for everything, and only then encodes', async () => {
    const keys = loadKeyring('/nonexistent', { PETREL_CODEC_KEY: key(9) });
    const server = await startCodecServer({ keys, port: 0, origins: [], token: 's3cret' });
    try {
      const body = JSON.stringify({ payloads: [{ metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('"x"').toString('base64') }] });
      expect((await fetch(`${server.url}/encode`, { method: 'POST', body })).status).toBe(401);
      expect((await fetch(`${server.url}/decode`, { method: 'POST', body, headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
      const encoded = await fetch(`${server.url}/encode`, { method: 'POST', body, headers: { Authorization: 'Bearer s3cret' } });
      expect(encoded.status).toBe(200);
      const roundTrip = await fetch(`${server.url}/decode`, { method: 'POST', body: await encoded.text(), headers: { Authorization: 'Bearer s3cret' } });
      const out = (await roundTrip.json()) as { payloads: Array<{ data: string }> };
      expect(Buffer.from(out.payloads[0]!.data, 'base64').toString()).toBe('"x"');
    } finally {
      await server.close();
    }
  });
});
