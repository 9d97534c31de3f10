import { describe, expect, it } from 'vitest';
import { bucketOf, parseRawRowKey, prefixEnd, rawBucketPrefix, rawRowKey, occurrenceQualifier, qualifierTs } from '../../../src/domain/rowkey.js';

const id = (merchant_id: string, visitor_id: string, event_id: string, day = '2026-11-27') => ({ merchant_id, day, visitor_id, event_id });

describe('raw row keys', () => {
  it('round-trip ids with separators, NUL, emoji and CJK', () => {
    for (const v of ['v|1|x', 'v#2', 'v/3/🙂', '访客-7', 'a\u0000b', ' spaced ', '🙂'.repeat(128)]) {
      const k = rawRowKey(id('Shop_x-1', v, `e|${v}`), 64);
      expect(parseRawRowKey(k)).toEqual({ merchant_id: 'Shop_x-1', day: '2026-11-27', bucket: bucketOf(v, 64), visitor_id: v, event_id: `e|${v}` });
    }
  });

  it('never lets one merchant-day range contain another merchant whose id extends it', () => {
    const ab = rawRowKey(id('ab', 'v', 'e'), 64);
    const abc = rawRowKey(id('abc', 'v', 'e'), 64);
    const start = rawBucketPrefix('ab', '2026-11-27', 0);
    const stop = rawBucketPrefix('ab', '2026-11-27', 64);
    expect(Buffer.compare(start, ab) <= 0 && Buffer.compare(ab, stop) < 0).toBe(true);
    expect(Buffer.compare(start, abc) <= 0 && Buffer.compare(abc, stop) < 0).toBe(false);
  });

  it('keeps visitor ids that share a prefix apart (length prefix, no separator)', () => {
    const a = parseRawRowKey(rawRowKey(id('m', 'v|1', '2'), 1));
    const b = parseRawRowKey(rawRowKey(id('m', 'v', '|12'), 1));
    expect(a.visitor_id).toBe('v|1');
    expect(b.visitor_id).toBe('v');
  });

  it('puts a bucket\'s rows between its prefix and the next bucket\'s', () => {
    const k = rawRowKey(id('m1', 'visitor-9', 'e1'), 64);
    const b = bucketOf('visitor-9', 64);
    expect(Buffer.compare(rawBucketPrefix('m1', '2026-11-27', b), k)).toBeLessThan(0);
    expect(Buffer.compare(k, rawBucketPrefix('m1', '2026-11-27', b + 1))).toBeLessThan(0);
  });

  it('gives identical occurrences the same qualifier and different ones different qualifiers', () => {
    expect(occurrenceQualifier(5, 'a')).toEqual(occurrenceQualifier(5, 'a'));
    expect(occurrenceQualifier(5, 'a')).not.toEqual(occurrenceQualifier(5, 'b'));
    expect(qualifierTs(occurrenceQualifier(253402300799999, 'x'))).toBe(253402300799999);
  });

  it('prefixEnd is the smallest key above every key with the prefix', () => {
    expect(prefixEnd(Buffer.from([1, 2, 0xff]))).toEqual(Buffer.from([1, 3]));
    expect(prefixEnd(Buffer.from([0xff]))).toEqual(Buffer.alloc(0));
  });
});
