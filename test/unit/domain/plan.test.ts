import { describe, expect, it } from 'vitest';
import { planDay, type BucketCount } from '../../../src/domain/plan.js';

const B = 16;
function counts(merchant: string, perBucket: number[]): BucketCount[] {
  return perBucket.map((rows, bucket) => ({ merchant_id: merchant, bucket, rows })).filter((c) => c.rows > 0);
}

/** Every (merchant, bucket) with rows is covered by exactly one chunk range. */
function coverage(plan: ReturnType<typeof planDay>): Map<string, number> {
  const seen = new Map<string, number>();
  for (const c of plan.chunks) for (const r of c.ranges) for (let b = r.bucket_lo; b < r.bucket_hi; b++) {
    const k = `${r.merchant_id}/${b}`;
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  return seen;
}

describe('planDay', () => {
  it('groups small merchant-days into one chunk', () => {
    const plan = planDay('2026-11-27', 1, [...counts('a', [1, 2]), ...counts('b', [3]), ...counts('c', [0, 0, 4])], B, 100);
    expect(plan.chunks).toHaveLength(1);
    expect(plan.chunks[0]!.ranges.map((r) => r.merchant_id)).toEqual(['a', 'b', 'c']);
    expect(plan.chunks[0]!.est_rows).toBe(10);
    expect(plan.merchantDays).toEqual([
      { merchant_id: 'a', chunks: 1, est_rows: 3 },
      { merchant_id: 'b', chunks: 1, est_rows: 3 },
      { merchant_id: 'c', chunks: 1, est_rows: 4 },
    ]);
  });

  it('cuts a large merchant-day into contiguous, non-overlapping bucket ranges of similar size', () => {
    const plan = planDay('2026-11-27', 1, counts('big', new Array(B).fill(100)), B, 400);
    expect(plan.chunks).toHaveLength(4);
    expect(plan.chunks.map((c) => c.est_rows)).toEqual([400, 400, 400, 400]);
    const cov = coverage(plan);
    for (let b = 0; b < B; b++) expect(cov.get(`big/${b}`)).toBe(1);
    expect(plan.merchantDays[0]).toEqual({ merchant_id: 'big', chunks: 4, est_rows: 1600 });
  });

  it('never cuts into more ranges than buckets, even for a huge skewed merchant', () => {
    const rows = new Array(B).fill(0);
    rows[3] = 1_000_000;
    const plan = planDay('2026-11-27', 1, counts('skew', rows), B, 10);
    expect(plan.chunks.length).toBeLessThanOrEqual(B);
    const cov = coverage(plan);
    for (let b = 0; b < B; b++) expect(cov.get(`skew/${b}`)).toBe(1);
    expect(plan.chunks.reduce((a, c) => a + c.est_rows, 0)).toBe(1_000_000);
  });

  it('is deterministic and gives chunk ids from day, epoch and sequence', () => {
    const input = [...counts('x', [5, 5, 5]), ...counts('y', [50, 50]), ...counts('z', [1])];
    const a = planDay('2026-11-27', 3, input, B, 60);
    const b = planDay('2026-11-27', 3, [...input].reverse(), B, 60);
    expect(a).toEqual(b);
    expect(a.chunks[0]!.chunk_id).toBe('2026-11-27.e3.c00000');
    const cov = coverage(a);
    for (const [, n] of cov) expect(n).toBe(1);
  });

  it('plans nothing for a day without rows', () => {
    expect(planDay('2026-11-27', 1, [], B, 100)).toEqual({ chunks: [], merchantDays: [], totalRows: 0 });
  });
});
