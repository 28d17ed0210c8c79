// Log reads by byte offset must never split a UTF-8 character between two chunks.

/** Bytes of buf[0..n) that end on a UTF-8 character boundary, so no chunk splits a character. */
export function completeUtf8Length(buf: Buffer, n: number): number {
  for (let back = 1; back <= Math.min(3, n); back++) {
    const byte = buf[n - back]!;
    if ((byte & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead
    const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return need > back ? n - back : n;
  }
  return n;
}
