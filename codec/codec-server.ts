// Temporal's remote codec protocol, so the Temporal UI shows a key holder the decoded payloads:
// `POST /decode` (and `/encode`) take and return `{"payloads": [{"metadata": {k: base64},
// "data": base64}]}`. Bound to loopback unless told otherwise; CORS only for the named UI
// origins. `/encode` — which would let its caller write payloads the worker accepts — is
// served only behind a bearer token; `/decode` requires the token too when one is set.
import http from 'node:http';
import type { Payload } from '@temporalio/common';
import { EncryptionCodec, RefusedPayloadError } from './encryption-codec.js';
import type { CodecKeyring } from './keys.js';

export interface CodecServerOptions {
  keys: CodecKeyring;
  host?: string;
  port: number;
  /** origins allowed to call from a browser (the UI's), e.g. http://127.0.0.1:8233 */
  origins: string[];
  /** when set, every request needs `Authorization: Bearer <token>`, and /encode is served */
  token?: string;
}

export interface CodecServer {
  url: string;
  close(): Promise<void>;
}

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const MAX_BODY = 64 << 20;

function fromJson(p: JsonPayload): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    data: Buffer.from(p.data ?? '', 'base64'),
  };
}

function toJson(p: Payload): JsonPayload {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')])),
    data: Buffer.from(p.data ?? []).toString('base64'),
  };
}

export function startCodecServer(opts: CodecServerOptions): Promise<CodecServer> {
  const codec = new EncryptionCodec(opts.keys);
  const host = opts.host ?? '127.0.0.1';
  const server = http.createServer((req, res) => {
    const origin = req.headers.origin;
    if (origin && opts.origins.includes(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization');
      res.setHeader('Vary', 'Origin');
    }
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'OPTIONS') {
      res.writeHead(origin && opts.origins.includes(origin) ? 204 : 403);
      res.end();
      return;
    }
    const route = (req.url ?? '').split('?')[0]!.replace(/\/+$/, '');
    const op = route.endsWith('/decode') ? 'decode' : route.endsWith('/encode') ? 'encode' : undefined;
    if (req.method !== 'POST' || !op) return reply(404, { message: 'POST /decode or /encode' });
    if (opts.token && req.headers.authorization !== `Bearer ${opts.token}`) return reply(401, { message: 'a bearer token is required' });
    if (op === 'encode' && !opts.token) return reply(403, { message: 'this codec endpoint does not encode (it has no token)' });
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => {
      void (async () => {
        let body: { payloads?: JsonPayload[] };
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { payloads?: JsonPayload[] };
        } catch {
          return reply(400, { message: 'the body is not JSON' });
        }
        try {
          const payloads = (body.payloads ?? []).map(fromJson);
          // The UI decodes whatever it shows, plaintext search attributes included: what is not
          // ours is passed back as it is rather than failing the whole page.
          const out = op === 'encode' ? await codec.encode(payloads) : payloads.map((p) => tryDecrypt(codec, p));
          reply(200, { payloads: out.map(toJson) });
        } catch (err) {
          reply(400, { message: (err as Error).message });
        }
      })();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : opts.port;
      resolve({
        url: `http://${host}:${port}`,
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            server.closeAllConnections();
          }),
      });
    });
  });
}

function tryDecrypt(codec: EncryptionCodec, p: Payload): Payload {
  try {
    return codec.decrypt(p);
  } catch (err) {
    if (err instanceof RefusedPayloadError) return p;
    throw err;
  }
}
