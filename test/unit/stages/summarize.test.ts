import { describe, expect, it } from 'vitest';
import { canonicalJson, isComplete } from '../../../stages/summarize/logic.js';

describe('summarize completeness', () => {
  const base = { chunks: 2, sealed: 2, expectedBatches: 5, receivedBatches: 5, invalid: 0 };
  it.each([
    [base, true],
    [{ ...base, sealed: 1 }, false],
    [{ ...base, receivedBatches: 4 }, false],
    [{ ...base, expectedBatches: 0, receivedBatches: 0 }, true],
    [{ ...base, chunks: 0, sealed: 0, expectedBatches: 0, receivedBatches: 0 }, false],
  ])('%o → %s', (state, want) => {
    expect(isComplete(state)).toBe(want);
  });

  it('canonical JSON sorts keys at every depth', () => {
    expect(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: 0 } })).toBe('{"a":{"c":0,"d":[{"y":2,"z":1}]},"b":1}');
  });
});
