// A minimal streaming tar writer (POSIX ustar, with pax extended headers for what ustar cannot
// hold: names or link targets longer than 100 bytes or not plain ASCII, sizes of 8 GiB and
// more, times outside ustar's range). Only headers are built here; file contents are streamed
// by the caller, followed by `padding(size)`, and the archive ends with `END_OF_ARCHIVE`.
// What `tar -x` on the node needs from us: type, name, mode, mtime, size, link target. Owners
// are 0/root and meaningless (the node extracts with --no-same-owner).

export type TarEntry =
  | { type: 'file'; path: string; mode: number; mtime: number; size: number }
  | { type: 'dir'; path: string; mode: number; mtime: number }
  | { type: 'symlink'; path: string; mode?: number; mtime: number; target: string };

const BLOCK = 512;
/** Largest value of an 11-digit octal field (size, mtime). */
const MAX_OCTAL_11 = 0o77777777777;

export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

/** Zero bytes that complete a member's data of `size` bytes to a whole block. */
export function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return rest === 0 ? Buffer.alloc(0) : Buffer.alloc(BLOCK - rest);
}

const isPlainAscii = (s: string) => /^[\x20-\x7e]*$/.test(s);

function octal(buf: Buffer, offset: number, width: number, value: number): void {
  // width - 1 digits, then NUL
  buf.write(value.toString(8).padStart(width - 1, '0'), offset, width - 1, 'ascii');
  buf[offset + width - 1] = 0;
}

/** One pax record: "<len> <key>=<value>\n", where <len> counts the whole record in bytes. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyBytes = Buffer.byteLength(body, 'utf8');
  let len = bodyBytes + 1;
  while (String(len).length + bodyBytes !== len) len = String(len).length + bodyBytes;
  return `${len}${body}`;
}

function ustarHeader(name: string, typeflag: string, mode: number, size: number, mtime: number, linkname: string): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  octal(h, 100, 8, mode & 0o7777);
  octal(h, 108, 8, 0); // uid
  octal(h, 116, 8, 0); // gid
  octal(h, 124, 12, size);
  octal(h, 136, 12, mtime);
  h.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  h.write(typeflag, 156, 1, 'ascii');
  h.write(linkname, 157, 100, 'utf8');
  h.write('ustar\u000000', 257, 8, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'ascii');
  return h;
}

/** Fits in a ustar name/linkname field as it is (else it goes in a pax record). */
function fitsUstar(s: string): boolean {
  return isPlainAscii(s) && Buffer.byteLength(s) <= 100;
}

/** A stand-in for the ustar field when the real value is in a pax record. */
function fallbackName(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '_').slice(0, 99);
}

/** The header block(s) of one member: a pax extended header first when ustar is not enough. */
export function entryHeader(e: TarEntry): Buffer {
  const name = e.type === 'dir' ? `${e.path.replace(/\/+$/, '')}/` : e.path;
  const size = e.type === 'file' ? e.size : 0;
  const mtime = Math.floor(e.mtime);
  const linkname = e.type === 'symlink' ? e.target : '';
  const records: string[] = [];
  if (!fitsUstar(name)) records.push(paxRecord('path', name));
  if (linkname && !fitsUstar(linkname)) records.push(paxRecord('linkpath', linkname));
  if (size > MAX_OCTAL_11) records.push(paxRecord('size', String(size)));
  if (mtime < 0 || mtime > MAX_OCTAL_11) records.push(paxRecord('mtime', String(mtime)));
  const typeflag = e.type === 'file' ? '0' : e.type === 'dir' ? '5' : '2';
  const mode = e.mode ?? 0o777;
  const main = ustarHeader(
    fitsUstar(name) ? name : fallbackName(name),
    typeflag,
    mode,
    size > MAX_OCTAL_11 ? 0 : size,
    mtime < 0 || mtime > MAX_OCTAL_11 ? 0 : mtime,
    fitsUstar(linkname) ? linkname : fallbackName(linkname),
  );
  if (records.length === 0) return main;
  const data = Buffer.from(records.join(''), 'utf8');
  const paxName = `PaxHeaders/${fallbackName(name.replace(/\/$/, '').split('/').pop() ?? 'x')}`.slice(0, 99);
  const pax = ustarHeader(paxName, 'x', 0o644, data.length, mtime < 0 || mtime > MAX_OCTAL_11 ? 0 : mtime, '');
  return Buffer.concat([pax, data, padding(data.length), main]);
}
