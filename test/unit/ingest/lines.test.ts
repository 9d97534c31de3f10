import { describe, expect, it } from 'vitest';
import { firstInvalidUtf8, splitLines } from '../../../src/ingest/lines.js';

async function collect(chunks: Array<string | Buffer>, max: number) {
  async function* src() { for (const c of chunks) yield typeof c === 'string' ? Buffer.from(c) : c; }
  const out = [];
  for await (const l of splitLines(src(), max, 8)) out.push(l);
  return out;
}

describe('splitLines', () => {
  it('splits across chunk boundaries, numbers lines, strips \\r\\n and keeps a last line without newline', async () => {
    const lines = await collect(['{"a":', '1}\r\n\n{"b"', ':2}\nlast'], 100);
    expect(lines.map((l) => [l.number, l.text, l.tooLong])).toEqual([[1, '{"a":1}', false], [2, '', false], [3, '{"b":2}', false], [4, 'last', false]]);
  });

  it('keeps multi-byte characters split between chunks intact', async () => {
    const emoji = Buffer.from('{"v":"🙂"}\n');
    const lines = await collect([emoji.subarray(0, 8), emoji.subarray(8)], 100);
    expect(lines[0]!.text).toBe('{"v":"🙂"}');
  });

  it('marks an over-long line without buffering it whole, and goes on with the next line', async () => {
    const long = 'x'.repeat(1000);
    const lines = await collect([long.slice(0, 300), long.slice(300), '\nok\n'], 50);
    expect(lines[0]!.tooLong).toBe(true);
    expect(lines[0]!.text.length).toBeLessThanOrEqual(8);
    expect(lines[0]!.bytes).toBe(1000);
    expect(lines[1]).toMatchObject({ number: 2, text: 'ok', tooLong: false });
  });

  it('a line of exactly the maximum is not marked too long (the contract check decides at the byte)', async () => {
    const lines = await collect(['y'.repeat(50) + '\n'], 50);
    expect(lines[0]!.tooLong).toBe(false);
    expect(lines[0]!.text.length).toBe(50);
  });
});

describe('invalid UTF-8 keeps its bytes (issue 11)', () => {
  it('flags the line and keeps its exact bytes, without replacing anything by U+FFFD', async () => {
    const bad = Buffer.concat([Buffer.from('{"visitor_id":"v'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    const [l1, l2] = await collect([Buffer.concat([bad, Buffer.from('\n{"ok":1}\n')])], 100);
    expect(l1!.invalidUtf8).toBe(true);
    expect(l1!.raw.equals(bad)).toBe(true);
    expect(l2!.invalidUtf8).toBe(false);
  });

  it('finds the first byte that is not valid UTF-8', () => {
    expect(firstInvalidUtf8(Buffer.from('plain 🙂 é'))).toBe(-1);
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xff]))).toBe(1);
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xc0, 0x80]))).toBe(1); // overlong NUL
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xed, 0xa0, 0x80]))).toBe(1); // an encoded surrogate (CESU-8)
    expect(firstInvalidUtf8(Buffer.from([0x61, 0x62, 0xe2, 0x82]))).toBe(2); // cut in the middle of a character
    expect(firstInvalidUtf8(Buffer.from([0xf4, 0x90, 0x80, 0x80]))).toBe(0); // beyond U+10FFFF
  });
});
