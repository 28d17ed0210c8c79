// The data converter of every Petrel client and worker: default payload conversion, failure
// messages and stack traces encoded (codec/failure-converter.cts), and every payload encrypted
// under the keyring.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DataConverter } from '@temporalio/common';
import { EncryptionCodec } from './encryption-codec.js';
import type { CodecKeyring } from './keys.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * The failure converter's module, loaded by path (workers also bundle it into the sandbox):
 * beside this file once compiled; from the build when this file runs from source (tests).
 */
export const failureConverterPath = fs.existsSync(path.join(here, 'failure-converter.cjs'))
  ? path.join(here, 'failure-converter.cjs')
  : path.resolve(here, '..', 'dist', 'codec', 'failure-converter.cjs');

export function petrelDataConverter(keys: CodecKeyring): DataConverter {
  return { payloadCodecs: [new EncryptionCodec(keys)], failureConverterPath };
}
