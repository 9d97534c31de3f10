import { describe, expect, it } from 'vitest';
import { bottleneck, buildStatus, renderChunks, renderStatus, type StageStatus, type StatusInput } from '../../src/status.js';

const T0 = Date.parse('2026-11-28T02:00:00Z');

function input(over: Partial<StatusInput> = {}): StatusInput {
  return {
    namespace: 'dev1',
    now: T0 + 60_000,
    stuckAfterSec: 120,
    run: { day: '2026-11-27', epoch: 2, run_id: 'r', state: 'running', error: null, started_at: T0, first_publish_at: T0 + 1000, completed_at: null, chunks: 10, merchant_days: 50, planned_rows: 100_000 },
    chunks: { published: 10, split: 10, stuck: 0 },
    ledger: { rows: 60, sealed: 60, batches: 500, rows_read: 100_000, valid: 98_000 },
    merchantDays: { done: 20, stuck: 0 },
    work: {
      split: { messages: 10, events: 100_000, replicas: 1, queued_ms: 100, handle_ms: 9000, write_ms: 7000, first_at: T0 + 1000, last_at: T0 + 11_000 },
      transform: { messages: 200, events: 39_200, replicas: 1, queued_ms: 9000, handle_ms: 50_000, write_ms: 40_000, first_at: T0 + 2000, last_at: T0 + 60_000 },
      summarize: { messages: 200, events: 39_200, replicas: 1, queued_ms: 500, handle_ms: 5000, write_ms: 2000, first_at: T0 + 3000, last_at: T0 + 60_000 },
    },
    deadLetters: { transform: 2 },
    kafka: { split: { lag: 0, members: 1 }, transform: { lag: 300, members: 1 }, summarize: { lag: 1, members: 1 } },
    partitions: { split: 6, transform: 6, summarize: 6 },
    inputs: { split: 'chunks', transform: 'batches', summarize: 'partials' },
    ...over,
  };
}

describe('status', () => {
  it('builds per-stage progress, rates, dead letters and an ETA', () => {
    const st = buildStatus(input());
    expect(st.stages.map((s) => [s.stage, s.done, s.planned, s.unit])).toEqual([['split', 10, 10, 'chunks'], ['transform', 200, 500, 'batches'], ['summarize', 20, 50, 'merchant-days']]);
    expect(st.stages[1]!.messages_per_sec).toBeCloseTo(200 / 58, 5);
    expect(st.dead_letters).toBe(2);
    // 39,200 of 98,000 valid events in 59 s since the first publish: 58,800 left at ~664/s.
    expect(st.eta_sec).toBe(Math.round(58_800 / (39_200 / 59)));
    expect(st.elapsed_sec).toBe(60);
  });

  it('names the stage with the longest backlog in time, not in messages', () => {
    const st = buildStatus(input());
    expect(st.bottleneck).toMatchObject({ stage: 'transform', lag: 300, replicas: 1 });
    expect(st.bottleneck!.message).toBe('transform is the bottleneck: lag 300 batches on 1 replica; add replicas');
  });

  it('says so when a lagging stage has no replicas, or has one per partition already', () => {
    const base = buildStatus(input()).stages;
    const set = (stage: string, o: Partial<StageStatus>) => base.map((s) => (s.stage === stage ? { ...s, ...o } : s));
    expect(bottleneck(set('summarize', { lag: 40, replicas: 0, messages_per_sec: 0 }))!.message).toMatch(/^summarize has no running replicas: lag 40 partials; start `stageline stage summarize`/);
    expect(bottleneck(set('transform', { lag: 1234, replicas: 6 }))!.message).toMatch(/lag 1,234 batches on 6 replicas, one per partition of dev1\.batches; raise its partitions/);
    expect(bottleneck(set('transform', { lag: 3 }))).toBeNull();
  });

  it('projects transform\'s planned batches while split is not done, and counts stuck work', () => {
    const st = buildStatus(input({ ledger: { rows: 60, sealed: 30, batches: 250, rows_read: 50_000, valid: 49_000 }, chunks: { published: 10, split: 5, stuck: 2 }, merchantDays: { done: 0, stuck: 3 } }));
    expect(st.stages[1]!.planned_final).toBe(false);
    expect(st.stages[0]!.stuck).toBe(2);
    const text = renderStatus(st);
    // 250 batches from 50,000 rows read: ~500 for the 100,000 planned.
    expect(text).toContain('200/~500 batches');
    expect(text).toContain('stuck: 2 chunks waiting on split, 3 merchant-days waiting on summarize');
    expect(text).toContain('hint: transform is the bottleneck');
  });

  it('a complete run has no bottleneck and a zero ETA; its JSON has stable field names', () => {
    const st = buildStatus(input({ run: { ...input().run, state: 'complete', completed_at: T0 + 90_000 }, now: T0 + 500_000 }));
    expect(st.bottleneck).toBeNull();
    expect(st.eta_sec).toBe(0);
    expect(st.elapsed_sec).toBe(90);
    expect(Object.keys(st)).toEqual(['namespace', 'day', 'epoch', 'run_id', 'state', 'error', 'started_at', 'elapsed_sec', 'planned_rows', 'chunks', 'merchant_days', 'stages', 'dead_letters', 'refused_partials', 'conflicts', 'errors', 'late_data', 'eta_sec', 'bottleneck', 'generated_at']);
    expect(renderStatus(st)).toContain('ETA done');
  });

  it('shows "?" for lag when Kafka did not answer', () => {
    const st = buildStatus(input({ kafka: {} }));
    expect(st.stages.every((s) => s.lag === null && s.replicas === null)).toBe(true);
    expect(st.bottleneck).toBeNull();
    expect(renderStatus(st)).toContain('lag ?');
  });

  it('renders per-chunk work reports', () => {
    const text = renderChunks([{ chunk_id: '2026-11-27.e2.c0001', seq: 1, est_rows: 1000, publish_count: 1, published_at: null, split_done_at: null, stages: { split: { messages: 1, events: 1000, replicas: 1, queued_ms: 120, handle_ms: 900, write_ms: 600, first_at: 0, last_at: 1000 }, transform: { messages: 5, events: 990, replicas: 2, queued_ms: 3000, handle_ms: 2500, write_ms: 2000, first_at: 500, last_at: 4000 } } }]);
    expect(text).toContain('2026-11-27.e2.c0001');
    expect(text).toContain('1 0.1s/0.9s/0.6s');
    expect(text).toContain('5 3.0s/2.5s/2.0s (2 replicas)');
  });
});
