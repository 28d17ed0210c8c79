// `petrel codec keys|server`: the keys payloads are encrypted with, and a codec endpoint that
// lets a team's Temporal UI show decoded payloads to key holders.
import type { Command } from 'commander';
import { lazy } from '../command.js';

export function registerCodec(program: Command): void {
  const codec = program.command('codec').description('payload encryption: keys, and a codec endpoint for the Temporal UI');
  codec
    .command('keys')
    .description('list the codec keys this home (or PETREL_CODEC_KEY / PETREL_CODEC_KEY_FILE) holds: the first encrypts, all decrypt')
    .option('--json', 'machine-readable output')
    .action(lazy(() => import('../handlers/codec.js'), 'keys'));
  codec
    .command('server')
    .description("serve Temporal's remote codec protocol (POST /decode, /encode) in the foreground, for a Temporal UI's codec endpoint setting")
    .option('--host <ip>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on', (v) => Number(v), 8081)
    .option('--origin <url...>', "the UI's origin(s) allowed to call it from a browser, e.g. http://127.0.0.1:8080")
    .option('--token-file <file>', 'require `Authorization: Bearer <token>` (the token in this file) and serve /encode too')
    .action(lazy(() => import('../handlers/codec.js'), 'server'));
}
