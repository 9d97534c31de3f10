/** How multi-row statements are cut (src/ledger/sql/common.ts): by rows and by parameter bytes. */
import { describe, expect, it } from 'vitest';
import { byBytes, paramBytes } from '../../../src/ledger/sql/common.js';

describe('byBytes', () => {
  const rows = (sizes: number[]) => sizes.map((n, i) => ({ i, s: 'x'.repeat(n) }));
  const cut = (sizes: number[], maxBytes: number, maxRows = 1000) => [...byBytes(rows(sizes), (r) => [r.s], maxBytes, maxRows)].map((p) => p.map((r) => r.i));

  it('keeps every row once, in order, and no run over the bound unless a row alone is', () => {
    const sizes = Array.from({ length: 200 }, (_, i) => (i * 7919) % 5000);
    const max = 20_000;
    const parts = [...byBytes(rows(sizes), (r) => [r.s], max)];
    expect(parts.flat().map((r) => r.i)).toEqual(sizes.map((_, i) => i));
    for (const p of parts) if (p.length > 1) expect(p.reduce((a, r) => a + paramBytes([r.s]), 0)).toBeLessThanOrEqual(max);
    expect(parts.length).toBeGreaterThan(1);
  });

  it('sends a row bigger than the bound alone, and cuts at maxRows', () => {
    expect(cut([10, 100_000, 10, 10], 1000)).toEqual([[0], [1], [2, 3]]);
    expect(cut([1, 1, 1, 1, 1], 1_000_000, 2)).toEqual([[0, 1], [2, 3], [4]]);
    expect(cut([], 1000)).toEqual([]);
  });

  it('counts multi-byte characters and buffers by their bytes, with room for escaping', () => {
    expect(paramBytes(['🙂'])).toBeGreaterThan(paramBytes(['ab']));
    expect(paramBytes([Buffer.alloc(1000)])).toBeGreaterThanOrEqual(2000);
  });
});
