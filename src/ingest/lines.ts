/**
 * Splits a byte stream into lines in bounded memory. A line longer than `maxBytes` is not
 * buffered whole: its first bytes are kept for the rejects and the rest is skipped until the
 * newline, so one 2 GiB line costs what a 1 MiB line costs. A line whose bytes are not valid
 * UTF-8 is marked (its text would hold U+FFFD replacements, which are not what the merchant sent).
 */
import { isUtf8 } from 'node:buffer';

export interface Line {
  /** 1-based */
  number: number;
  text: string;
  /** the line's bytes as received (only its beginning when tooLong) */
  raw: Buffer;
  /** true when the line exceeded maxBytes; text and raw then hold only its beginning */
  tooLong: boolean;
  /** the bytes are not valid UTF-8 (checked on lines within bounds) */
  invalidUtf8: boolean;
  bytes: number;
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence (for the refusal's detail). */
export function firstInvalidUtf8(buf: Buffer): number {
  for (let i = 0; i < buf.length;) {
    const b = buf[i]!;
    const n = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (n === 0 || i + n > buf.length || !isUtf8(buf.subarray(i, i + n))) return i;
    i += n;
  }
  return -1;
}

export async function* splitLines(input: AsyncIterable<Buffer | string>, maxBytes: number, keepOfLongLine = 4096): AsyncGenerator<Line> {
  let parts: Buffer[] = [];
  let size = 0;
  let tooLong = false;
  let number = 0;
  const finish = (): Line => {
    number++;
    let buf = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    // Windows line ends: the \r belongs to the terminator, not to the JSON.
    if (!tooLong && buf.length > 0 && buf[buf.length - 1] === 0x0d) buf = buf.subarray(0, buf.length - 1);
    const line: Line = { number, text: buf.toString('utf8'), raw: buf, tooLong, invalidUtf8: !tooLong && !isUtf8(buf), bytes: size };
    parts = [];
    size = 0;
    tooLong = false;
    return line;
  };
  for await (const chunk of input) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    while (start < buf.length) {
      const nl = buf.indexOf(0x0a, start);
      const end = nl === -1 ? buf.length : nl;
      const piece = buf.subarray(start, end);
      size += piece.length;
      if (!tooLong) {
        // +1: a line of exactly maxBytes followed by \r is still within bounds.
        if (size > maxBytes + 1) {
          tooLong = true;
          const have = size - piece.length;
          const room = Math.max(0, keepOfLongLine - have);
          if (room > 0) parts.push(Buffer.from(piece.subarray(0, room)));
          parts = [Buffer.concat(parts).subarray(0, keepOfLongLine)];
        } else {
          parts.push(nl === -1 ? Buffer.from(piece) : piece);
        }
      }
      if (nl === -1) break;
      yield finish();
      start = nl + 1;
    }
  }
  if (size > 0 || parts.length > 0) yield finish();
}
