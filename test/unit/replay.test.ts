import { describe, expect, it } from 'vitest';
import { pastRetention, sourceEpochOf } from '../../src/replay.js';

describe('replay past Kafka retention', () => {
  it('flags a partition whose first recorded offset is below what Kafka still keeps', () => {
    const gone = pastRetention(
      [{ partition: 0, first: '10' }, { partition: 1, first: '5' }, { partition: 2, first: '7' }],
      [{ partition: 0, low: '10' }, { partition: 1, low: '6' }],
    );
    expect(gone).toEqual([
      { partition: 1, first: '5', low: '6' },
      { partition: 2, first: '7', low: 'none (partition missing)' },
    ]);
  });

  it('compares offsets as integers, not strings', () => {
    expect(pastRetention([{ partition: 0, first: '100' }], [{ partition: 0, low: '99' }])).toEqual([]);
    expect(pastRetention([{ partition: 0, first: '99' }], [{ partition: 0, low: '100' }])).toHaveLength(1);
  });
});

describe('sourceEpochOf', () => {
  it('a stage after the replay\'s from-stage reads the replay epoch; the from-stage reads its source', async () => {
    const meta = async (e: number) => (e === 3 ? { kind: 'replay' as const, fromStage: 'transform', sourceEpoch: 1 } : { kind: 'full' as const });
    expect(await sourceEpochOf('summarize', 3, meta as never)).toBe(3);
    expect(await sourceEpochOf('transform', 3, meta as never)).toBe(1);
    expect(await sourceEpochOf('split', 3, meta as never)).toBe(2);
  });
});
