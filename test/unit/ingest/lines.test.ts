import { describe, expect, it } from 'vitest';
import { splitLines } from '../../../src/ingest/lines.js';

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
