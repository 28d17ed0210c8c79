// Replays recorded histories (cluster and managed-job workflows, from this and earlier
// versions of the code) against the current workflow code: a change
// that would break running clusters fails here (guard such changes with patched()).
// Histories recorded since payloads are encrypted use histories/replay.key, a key that
// exists only for these recordings; older ones hold plaintext payloads, which only this
// test's codec lets through (a worker refuses them).
import fs from 'node:fs';
import path from 'node:path';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { ENCODING, EncryptionCodec } from '../../codec/encryption-codec.js';
import { loadKeyring } from '../../codec/keys.js';

const dir = path.join(import.meta.dirname, 'histories');
const bundle = path.resolve(import.meta.dirname, '..', '..', 'dist', 'workflow-bundle.js');
const failureConverterPath = path.resolve(import.meta.dirname, '..', '..', 'dist', 'codec', 'failure-converter.cjs');
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
const keys = loadKeyring(dir, { PETREL_CODEC_KEY: fs.readFileSync(path.join(dir, 'replay.key'), 'utf8').trim() });

/** Decrypts what was recorded encrypted and passes the plaintext of older recordings through. */
class ReplayCodec implements PayloadCodec {
  private readonly inner = new EncryptionCodec(keys);
  async encode(payloads: Payload[]): Promise<Payload[]> {
    return this.inner.encode(payloads);
  }
  async decode(payloads: Payload[]): Promise<Payload[]> {
    const encrypted = (p: Payload) => Buffer.from(p.metadata?.encoding ?? []).toString() === ENCODING;
    return Promise.all(payloads.map(async (p) => (encrypted(p) ? (await this.inner.decode([p]))[0]! : p)));
  }
}

describe('workflow replay', () => {
  it('has recorded histories to replay, old plaintext ones and encrypted ones', () => {
    expect(files.length).toBeGreaterThanOrEqual(2);
  });

  it.each(files)('replays %s without nondeterminism', async (file) => {
    const history = historyFromJSON(JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')));
    const options = { workflowBundle: { codePath: bundle }, dataConverter: { payloadCodecs: [new ReplayCodec()], failureConverterPath } };
    await expect(Worker.runReplayHistory(options, history, file)).resolves.toBeUndefined();
  });
});
