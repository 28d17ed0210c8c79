// Handler of `petrel codec keys|server`.
import fs from 'node:fs';
import { startCodecServer } from '../../codec/codec-server.js';
import { CodecKeyError, loadKeyring, type CodecKeyring } from '../../codec/keys.js';
import type { CliContext } from '../context.js';
import { UserError } from '../errors.js';
import { formatTable } from '../table.js';

function keyring(ctx: CliContext): CodecKeyring {
  try {
    return loadKeyring(ctx.home);
  } catch (err) {
    if (err instanceof CodecKeyError) throw new UserError(err.message);
    throw err;
  }
}

export async function keys(ctx: CliContext, flags: { json?: boolean }): Promise<number> {
  const k = keyring(ctx);
  const rows = [...k.byId.values()].map((key) => ({ id: key.id, current: key.id === k.current.id }));
  if (flags.json) {
    ctx.line(JSON.stringify({ source: k.source, keys: rows }, null, 2));
    return 0;
  }
  ctx.line(`Keys from ${k.source} (the first encrypts; every one decrypts):`);
  ctx.line(formatTable(['KEY ID', 'USE'], rows.map((r) => [r.id, r.current ? 'encrypts and decrypts' : 'decrypts only (rotated out)'])));
  return 0;
}

export async function server(ctx: CliContext, flags: { host: string; port: number; origin?: string[]; tokenFile?: string }): Promise<number> {
  if (!Number.isInteger(flags.port) || flags.port < 1 || flags.port > 65535) throw new UserError('--port: give a port number');
  let token: string | undefined;
  if (flags.tokenFile) {
    try {
      token = fs.readFileSync(flags.tokenFile, 'utf8').trim();
    } catch (err) {
      throw new UserError(`--token-file ${flags.tokenFile}: ${(err as Error).message}`);
    }
    if (!token) throw new UserError(`--token-file ${flags.tokenFile} is empty`);
  }
  const k = keyring(ctx);
  const s = await startCodecServer({ keys: k, host: flags.host, port: flags.port, origins: flags.origin ?? [], token }).catch((err: Error) => {
    throw new UserError(`cannot listen on ${flags.host}:${flags.port}: ${err.message}`);
  });
  ctx.note(`Codec endpoint on ${s.url} (key ${k.current.id} from ${k.source}; ${token ? 'bearer token required, /encode served' : 'no token: /decode only'}); Ctrl-C stops it.`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await s.close();
  return 0;
}
