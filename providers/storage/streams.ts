// Stream plumbing the stores share: a store's download stream must fail with a StoreError (so
// callers can tell a transient cut from a missing object) rather than whatever the HTTP library
// throws, and uploads report progress without switching the body into flowing mode.
import { PassThrough, Readable, Transform } from 'node:stream';

/** `src` re-emitted through a PassThrough whose errors are `mapError(err)`. */
export function withMappedErrors(src: Readable, mapError: (err: unknown) => Error): Readable {
  const out = new PassThrough();
  src.on('error', (err) => out.destroy(mapError(err)));
  // A consumer that gives up (destroys `out`) must release the connection too.
  out.on('close', () => {
    if (!src.destroyed) src.destroy();
  });
  src.pipe(out);
  return out;
}

/** Counts bytes through, calling `onProgress` with the running total. */
export function progressCounter(onProgress: (bytes: number) => void): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      total += chunk.length;
      onProgress(total);
      done(null, chunk);
    },
  });
}

export function asReadable(body: Readable | Buffer): Readable {
  return Buffer.isBuffer(body) ? Readable.from([body]) : body;
}

export function emptyStream(): Readable {
  return Readable.from([]);
}
