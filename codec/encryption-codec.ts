// Temporal payload codec: every payload Petrel puts into Temporal — workflow and activity
// inputs and results, signals, updates, queries, memos, summaries and (with the failure
// converter) failure messages and stack traces — leaves this process encrypted with
// AES-256-GCM, the key id in its metadata. Decoding refuses anything that is not: a payload
// someone wrote without the key (a raw `temporal workflow start` with plain JSON, a stranger
// on the same server) never reaches workflow or activity code, so nobody without the key can
// make a Petrel worker run anything.
import crypto from 'node:crypto';
import type { PayloadCodec } from '@temporalio/common';
import type { Payload } from '@temporalio/common';
import proto from '@temporalio/proto';
import type { CodecKeyring } from './keys.js';

// @temporalio/proto is CommonJS: its namespace object comes through the default export.
const PayloadMessage = proto.temporal.api.common.v1.Payload;

export const ENCODING = 'binary/encrypted';
export const KEY_ID = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b).toString('utf8') : '');

/** Why a payload was refused: the message the worker log and the workflow's history show. */
export class RefusedPayloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RefusedPayloadError';
  }
}

export class EncryptionCodec implements PayloadCodec {
  constructor(private readonly keys: CodecKeyring) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.encrypt(p));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.decrypt(p));
  }

  encrypt(payload: Payload): Payload {
    const { id, key } = this.keys.current;
    const iv = crypto.randomBytes(IV_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
    // The key id is authenticated too: a payload cannot be passed off as another key's.
    cipher.setAAD(Buffer.from(id));
    const body = Buffer.concat([cipher.update(PayloadMessage.encode(payload).finish()), cipher.final()]);
    return {
      metadata: { encoding: utf8(ENCODING), [KEY_ID]: utf8(id) },
      data: Buffer.concat([iv, body, cipher.getAuthTag()]),
    };
  }

  decrypt(payload: Payload): Payload {
    const encoding = text(payload.metadata?.encoding);
    if (encoding !== ENCODING) {
      throw new RefusedPayloadError(
        `refused a payload that is not encrypted with a Petrel key (encoding '${encoding || 'none'}'): ` +
          'whoever wrote it does not hold this deployment\'s codec key; nothing of it is run',
      );
    }
    const id = text(payload.metadata?.[KEY_ID]);
    const entry = this.keys.byId.get(id);
    if (!entry) {
      throw new RefusedPayloadError(
        `refused a payload encrypted with key '${id}', which is not among this process's keys (${[...this.keys.byId.keys()].join(', ')}; from ${this.keys.source})`,
      );
    }
    const raw = Buffer.from(payload.data ?? []);
    if (raw.length < IV_BYTES + TAG_BYTES) throw new RefusedPayloadError(`refused an encrypted payload of ${raw.length} bytes: too short to be one`);
    const decipher = crypto.createDecipheriv('aes-256-gcm', entry.key, raw.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(id));
    decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new RefusedPayloadError(`refused a payload claiming key '${id}' that does not authenticate with it (tampered or forged)`);
    }
    return PayloadMessage.decode(plain);
  }
}
