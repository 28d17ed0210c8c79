// A STAND-IN for Google Cloud Storage, not an emulator: no real GCS can run here, and no GCS
// emulator is on the package indexes we reach. It imitates the Cloud Storage JSON API v1
// (storage.googleapis.com/storage/v1 and /upload/storage/v1) as @google-cloud/storage 7.22
// drives it, for the calls providers/storage/gcs.ts makes: buckets insert/get/delete; objects
// insert (simple multipart/related upload, and resumable upload sessions with chunked PUTs,
// 308 + Range answers and status queries), get (metadata, and media with Range: 206/416),
// list (prefix, maxResults, pageToken) and delete. Objects live in files under a temporary
// directory (a 64 MiB object is not held in the test process's memory); metadata carries
// size, generation, md5Hash and crc32c as GCS returns them, and media answers send x-goog-hash
// so the library validates downloads. Error bodies follow the API ({error: {code, message,
// errors: [{reason}]}}) with GCS's messages for a missing bucket and object. With `token`,
// every request but an upload session's PUTs must carry `Authorization: Bearer <token>` (else
// 401), to test auth handling.
// Only 127.0.0.1, random port. Not modelled: versioning, ACLs, preconditions, compose, rewrite.
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CRC32C } from '@google-cloud/storage';

export interface GcsStandin {
  /** for PETREL_GCS_ENDPOINT (the library's apiEndpoint) */
  url: string;
  /** media bytes sent in answers to downloads, since the start */
  mediaBytesServed(): number;
  buckets(): string[];
  stop(): Promise<void>;
}

interface StoredObject {
  name: string;
  size: number;
  file: string;
  md5: string;
  crc32c: string;
  generation: number;
  updated: string;
}

interface UploadSession {
  bucket: string;
  name: string;
  file: string;
  received: number;
  md5: crypto.Hash;
  crc: CRC32C;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason: string,
  ) {
    super(message);
  }
}

const NO_BUCKET = () => new HttpError(404, 'The specified bucket does not exist.', 'notFound');

export async function startGcsStandin(opts: { token?: string } = {}): Promise<GcsStandin> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'petrel-gcs-'));
  const buckets = new Map<string, Map<string, StoredObject>>();
  const sessions = new Map<string, UploadSession>();
  let generation = 1;
  let served = 0;
  let url = '';

  const objectJson = (bucket: string, o: StoredObject) => ({
    kind: 'storage#object',
    id: `${bucket}/${o.name}/${o.generation}`,
    name: o.name,
    bucket,
    generation: String(o.generation),
    metageneration: '1',
    contentType: 'application/octet-stream',
    size: String(o.size),
    md5Hash: o.md5,
    crc32c: o.crc32c,
    timeCreated: o.updated,
    updated: o.updated,
    storageClass: 'STANDARD',
  });

  const bucketOf = (name: string) => {
    const b = buckets.get(name);
    if (!b) throw NO_BUCKET();
    return b;
  };

  const commit = async (bucket: string, name: string, temp: string, size: number, md5: string, crc32c: string) => {
    const b = bucketOf(bucket);
    const file = path.join(dir, `obj-${crypto.randomUUID()}`);
    await fsp.rename(temp, file);
    const old = b.get(name);
    const o: StoredObject = { name, size, file, md5, crc32c, generation: generation++, updated: new Date().toISOString() };
    b.set(name, o);
    if (old) await fsp.rm(old.file, { force: true });
    return objectJson(bucket, o);
  };

  const send = (res: http.ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}) => {
    const data = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': String(Buffer.byteLength(data)), ...headers });
    res.end(data);
  };

  const readAll = async (req: http.IncomingMessage): Promise<Buffer> => {
    const parts: Buffer[] = [];
    for await (const c of req) parts.push(c as Buffer);
    return Buffer.concat(parts);
  };

  /** Streams the request body into the session's file, skipping bytes it already has. */
  const appendToSession = async (req: http.IncomingMessage, s: UploadSession, start: number): Promise<void> => {
    let skip = s.received - start;
    const out = fs.createWriteStream(s.file, { flags: 'a' });
    for await (const chunk of req) {
      let buf = chunk as Buffer;
      if (skip > 0) {
        const n = Math.min(skip, buf.length);
        buf = buf.subarray(n);
        skip -= n;
      }
      if (buf.length === 0) continue;
      s.md5.update(buf);
      s.crc.update(buf);
      s.received += buf.length;
      if (!out.write(buf)) await new Promise((r) => out.once('drain', r));
    }
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    // An upload session's URI is its own authorization (GCS: no Authorization on its PUTs).
    const sessionPut = method === 'PUT' && u.searchParams.has('upload_id');
    if (opts.token !== undefined && !sessionPut && req.headers.authorization !== `Bearer ${opts.token}`) {
      req.resume();
      throw new HttpError(401, 'Invalid Credentials', 'authError');
    }
    const p = u.pathname;
    let m: RegExpExecArray | null;

    if (p === '/storage/v1/b' && method === 'POST') {
      const body = JSON.parse((await readAll(req)).toString() || '{}') as { name?: string };
      if (!u.searchParams.get('project')) throw new HttpError(400, 'Required parameter: project', 'required');
      if (!body.name) throw new HttpError(400, 'Required', 'required');
      if (buckets.has(body.name)) throw new HttpError(409, 'Your previous request to create the named bucket succeeded and you already own it.', 'conflict');
      buckets.set(body.name, new Map());
      return send(res, 200, { kind: 'storage#bucket', id: body.name, name: body.name, location: 'US', storageClass: 'STANDARD' });
    }
    if ((m = /^\/storage\/v1\/b\/([^/]+)$/.exec(p))) {
      const name = decodeURIComponent(m[1]!);
      const b = bucketOf(name);
      if (method === 'GET') return send(res, 200, { kind: 'storage#bucket', id: name, name, location: 'US', storageClass: 'STANDARD' });
      if (method === 'DELETE') {
        if (b.size > 0) throw new HttpError(409, 'The bucket you tried to delete is not empty.', 'conflict');
        buckets.delete(name);
        res.writeHead(204).end();
        return;
      }
    }
    if ((m = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(p)) && method === 'GET') {
      const b = bucketOf(decodeURIComponent(m[1]!));
      const prefix = u.searchParams.get('prefix') ?? '';
      const max = Math.min(Number(u.searchParams.get('maxResults') ?? 1000) || 1000, 1000);
      const token = u.searchParams.get('pageToken');
      const after = token ? Buffer.from(token, 'base64').toString() : undefined;
      const names = [...b.keys()]
        .filter((n) => n.startsWith(prefix) && (after === undefined || Buffer.compare(Buffer.from(n), Buffer.from(after)) > 0))
        .sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      const page = names.slice(0, max);
      const more = names.length > max;
      return send(res, 200, {
        kind: 'storage#objects',
        items: page.map((n) => objectJson(m![1]!, b.get(n)!)),
        ...(more ? { nextPageToken: Buffer.from(page[page.length - 1]!).toString('base64') } : {}),
      });
    }
    if ((m = /^\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(p))) {
      const bucket = decodeURIComponent(m[1]!);
      const name = decodeURIComponent(m[2]!);
      const b = bucketOf(bucket);
      const o = b.get(name);
      if (!o) throw new HttpError(404, `No such object: ${bucket}/${name}`, 'notFound');
      if (method === 'DELETE') {
        b.delete(name);
        await fsp.rm(o.file, { force: true });
        res.writeHead(204).end();
        return;
      }
      if (method === 'GET' && u.searchParams.get('alt') === 'media') return sendMedia(req, res, o);
      if (method === 'GET') return send(res, 200, objectJson(bucket, o));
    }
    if ((m = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(p))) {
      const bucket = decodeURIComponent(m[1]!);
      const type = u.searchParams.get('uploadType');
      if (method === 'POST' && type === 'multipart') return multipartUpload(req, res, bucket, u);
      if (method === 'POST' && type === 'resumable') {
        const meta = JSON.parse((await readAll(req)).toString() || '{}') as { name?: string };
        const name = u.searchParams.get('name') ?? meta.name;
        bucketOf(bucket);
        if (!name) throw new HttpError(400, 'Required: name', 'required');
        const id = crypto.randomUUID();
        const file = path.join(dir, `upload-${id}`);
        await fsp.writeFile(file, '');
        sessions.set(id, { bucket, name, file, received: 0, md5: crypto.createHash('md5'), crc: new CRC32C() });
        return send(res, 200, undefined, { location: `${url}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&upload_id=${id}` });
      }
      if (method === 'PUT' && type === 'resumable') return resumableChunk(req, res, u.searchParams.get('upload_id') ?? '');
    }
    req.resume();
    throw new HttpError(404, `stand-in: no route for ${method} ${p}`, 'notFound');
  };

  const sendMedia = (req: http.IncomingMessage, res: http.ServerResponse, o: StoredObject) => {
    const headers: Record<string, string> = {
      'content-type': 'application/octet-stream',
      'x-goog-generation': String(o.generation),
      'x-goog-stored-content-encoding': 'identity',
      'x-goog-hash': `crc32c=${o.crc32c},md5=${o.md5}`,
    };
    const range = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ''));
    let start = 0;
    let end = o.size - 1;
    let status = 200;
    if (range) {
      start = Number(range[1]);
      if (range[2]) end = Math.min(end, Number(range[2]));
      if (start >= o.size) throw new HttpError(416, 'The requested range cannot be satisfied.', 'requestedRangeNotSatisfiable');
      status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${o.size}`;
    }
    headers['content-length'] = String(Math.max(0, end - start + 1));
    res.writeHead(status, headers);
    if (o.size === 0) return void res.end();
    const src = fs.createReadStream(o.file, { start, end });
    src.on('data', (c) => (served += (c as Buffer).length));
    src.on('error', () => res.destroy());
    res.on('close', () => src.destroy());
    src.pipe(res);
  };

  const multipartUpload = async (req: http.IncomingMessage, res: http.ServerResponse, bucket: string, u: URL) => {
    const boundary = /boundary=("?)([^";]+)\1/.exec(String(req.headers['content-type'] ?? ''))?.[2];
    const body = await readAll(req);
    bucketOf(bucket);
    if (!boundary) throw new HttpError(400, 'multipart upload without a boundary', 'invalid');
    const parts: Buffer[] = [];
    const sep = Buffer.from(`--${boundary}`);
    let at = body.indexOf(sep);
    while (at >= 0) {
      const next = body.indexOf(sep, at + sep.length);
      if (next < 0) break;
      const part = body.subarray(at + sep.length, next);
      const headEnd = part.indexOf('\r\n\r\n');
      // the part's content ends before the CRLF that precedes the next delimiter
      parts.push(part.subarray(headEnd + 4, part.length - 2));
      at = next;
    }
    if (parts.length !== 2) throw new HttpError(400, `multipart upload with ${parts.length} parts (expected metadata and media)`, 'invalid');
    const meta = JSON.parse(parts[0]!.toString() || '{}') as { name?: string };
    const name = u.searchParams.get('name') ?? meta.name;
    if (!name) throw new HttpError(400, 'Required: name', 'required');
    const media = parts[1]!;
    const temp = path.join(dir, `simple-${crypto.randomUUID()}`);
    await fsp.writeFile(temp, media);
    const crc = new CRC32C();
    crc.update(media);
    return send(res, 200, await commit(bucket, name, temp, media.length, crypto.createHash('md5').update(media).digest('base64'), crc.toString()));
  };

  const resumableChunk = async (req: http.IncomingMessage, res: http.ServerResponse, id: string) => {
    const s = sessions.get(id);
    if (!s) {
      req.resume();
      throw new HttpError(404, 'No such upload session', 'notFound');
    }
    const cr = String(req.headers['content-range'] ?? '');
    const m = /^bytes (?:(\d+)-(\d+|\*)|\*)\/(\d+|\*)$/.exec(cr);
    if (!m) {
      req.resume();
      throw new HttpError(400, `bad Content-Range '${cr}'`, 'invalid');
    }
    const total = m[3] === '*' ? undefined : Number(m[3]);
    if (m[1] !== undefined) {
      const start = Number(m[1]);
      if (start > s.received) {
        req.resume();
        throw new HttpError(400, `chunk starts at ${start}, but only ${s.received} bytes were received`, 'invalid');
      }
      await appendToSession(req, s, start);
    } else {
      req.resume();
    }
    if (total !== undefined && s.received >= total) {
      if (s.received !== total) throw new HttpError(400, `received ${s.received} bytes, Content-Range said ${total}`, 'invalid');
      const crc32c = s.crc.toString();
      const claimed = /crc32c=([^,]+)/.exec(String(req.headers['x-goog-hash'] ?? ''))?.[1];
      if (claimed && claimed !== crc32c) throw new HttpError(400, 'Provided CRC32C does not match the data', 'invalid');
      sessions.delete(id);
      return send(res, 200, await commit(s.bucket, s.name, s.file, s.received, s.md5.digest('base64'), crc32c));
    }
    res.writeHead(308, s.received > 0 ? { range: `bytes=0-${s.received - 1}`, 'content-length': '0' } : { 'content-length': '0' });
    res.end();
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const e = err instanceof HttpError ? err : new HttpError(500, (err as Error).message, 'backendError');
      if (res.headersSent) return void res.destroy();
      send(res, e.status, { error: { code: e.status, message: e.message, errors: [{ message: e.message, domain: 'global', reason: e.reason }] } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    mediaBytesServed: () => served,
    buckets: () => [...buckets.keys()],
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await fsp.rm(dir, { recursive: true, force: true });
    },
  };
}
