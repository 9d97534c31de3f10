import { describe, expect, it } from 'vitest';
import { countingBytes, progressLine, progressReporter } from '../../../src/cli/ingest-progress.js';

describe('ingest progress', () => {
  it('a file: lines, bytes of the total, rates and ETA', () => {
    const line = progressLine({ lines: 200_000, bytes: 50 * 1048576, totalBytes: 200 * 1048576, stored: 199_000, refused: 1000, elapsedMs: 10_000 }, false);
    expect(line).toBe('ingest: 200,000 lines, 50.0 MiB of 200.0 MiB (25%), 20,000 lines/s, 5.0 MiB/s, ETA 0:30; 199,000 stored, 1,000 refused');
  });
  it('a terminal gets a bar; stdin has no total, so no ETA', () => {
    expect(progressLine({ lines: 1, bytes: 1048576, totalBytes: 2 * 1048576, stored: 1, refused: 0, elapsedMs: 1000 }, true)).toContain('[############............] ');
    const stdin = progressLine({ lines: 10, bytes: 1048576, stored: 10, refused: 0, elapsedMs: 1000 }, true);
    expect(stdin).not.toContain('ETA');
    expect(stdin).not.toContain('[');
  });
  it('plain lines at most every interval; a terminal redraws in place and ends the line', () => {
    let t = 0;
    const out: string[] = [];
    const plain = progressReporter({ tty: false, counter: { bytes: 10 }, write: (s) => out.push(s), now: () => t, plainEveryMs: 5000 });
    for (t = 0; t <= 12_000; t += 1000) plain.update({ read: t, stored: t, refused: 0, elapsed_ms: t });
    plain.done();
    expect(out).toHaveLength(2);
    expect(out.every((l) => l.startsWith('ingest: ') && l.endsWith('\n'))).toBe(true);
    const tty: string[] = [];
    t = 0;
    const r = progressReporter({ tty: true, counter: { bytes: 10 }, totalBytes: 20, write: (s) => tty.push(s), now: () => t });
    t = 300;
    r.update({ read: 1, stored: 1, refused: 0, elapsed_ms: 300 });
    r.done();
    expect(tty[0]!.startsWith('\r')).toBe(true);
    expect(tty.at(-1)).toBe('\n');
  });
  it('counts the bytes it passes through', async () => {
    const counter = { bytes: 0 };
    const got: Array<string | Buffer> = [];
    for await (const c of countingBytes((async function* () { yield 'ab'; yield Buffer.from('é'); yield '🙂'; })(), counter)) got.push(c);
    expect(got).toHaveLength(3);
    expect(counter.bytes).toBe(2 + 2 + 4);
  });
});
