// The data converter of every Petrel client and worker: default payload conversion, failure
// messages and stack traces encoded (codec/failure-converter.cts), and every payload encrypted
// under the keyring.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DataConverter } from '@temporalio/common';
import { EncryptionCodec } from './encryption-codec.js';
import type { CodecKeyring } from './keys.js';

/** The failure converter's module, loaded by path (workers also bundle it into the sandbox). */
export const failureConverterPath = path.join(path.dirname(fileURLToPath(import.meta.url)), 'failure-converter.cjs');

export function petrelDataConverter(keys: CodecKeyring): DataConverter {
  return { payloadCodecs: [new EncryptionCodec(keys)], failureConverterPath };
}
