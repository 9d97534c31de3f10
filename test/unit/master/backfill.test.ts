/** What `backfill` decides per day (planBackfill, pure) and how it prints the outcome. */
import { describe, expect, it } from 'vitest';
import { daysBetween, planBackfill, renderBackfill, type Reprocess } from '../../../src/master/backfill.js';
import type { RunRecord, RunState } from '../../../src/ledger/types.js';

const run = (day: string, state: RunState, error: string | null = null): RunRecord => ({
  day, epoch: 1, run_id: `r-${day}`, state, from_stage: 'split', plan_kind: 'full', trigger: 'nightly', chunks: 4, merchant_days: 3, planned_rows: 100,
  lock_owner: null, lock_live: false, lock_expires_at: null, lock_renewed_at: null, error, started_at: 0, first_publish_at: null, completed_at: null,
});
const DAYS = daysBetween('2026-11-01', '2026-11-06');
const RUNS = new Map([
  ['2026-11-02', run('2026-11-02', 'failed', 'HBase unreachable')],
  ['2026-11-03', run('2026-11-03', 'complete')],
  ['2026-11-04', run('2026-11-04', 'complete')],
  ['2026-11-05', run('2026-11-05', 'waiting')],
  ['2026-11-06', run('2026-11-06', 'running')],
]);
const LATE = new Map([['2026-11-04', 17]]);
const plan = (...r: Reprocess[]) => planBackfill(DAYS, RUNS, LATE, new Set(r)).map((d) => `${d.day} ${d.action}`);

describe('backfill: what each day needs', () => {
  it('lists every day of the range, both ends included, across a month end', () => {
    expect(DAYS).toEqual(['2026-11-01', '2026-11-02', '2026-11-03', '2026-11-04', '2026-11-05', '2026-11-06']);
    expect(daysBetween('2026-02-27', '2026-03-01')).toEqual(['2026-02-27', '2026-02-28', '2026-03-01']);
    expect(daysBetween('2026-03-02', '2026-03-01')).toEqual([]);
  });

  it('by default runs the missing day, resumes the failed and unfinished ones, re-runs late merchant-days, leaves complete days alone', () => {
    expect(plan('missing', 'failed', 'late')).toEqual([
      '2026-11-01 run', '2026-11-02 resume', '2026-11-03 skip', '2026-11-04 late', '2026-11-05 late', '2026-11-06 resume',
    ]);
  });

  it('--reprocess late alone touches only late data and not-yet-planned merchant-days', () => {
    expect(plan('late')).toEqual(['2026-11-01 skip', '2026-11-02 skip', '2026-11-03 skip', '2026-11-04 late', '2026-11-05 late', '2026-11-06 skip']);
  });

  it('--reprocess all re-runs complete days whole', () => {
    expect(plan('all')).toEqual(['2026-11-01 run', '2026-11-02 resume', '2026-11-03 rerun', '2026-11-04 rerun', '2026-11-05 late', '2026-11-06 resume']);
  });

  it('says why, with the failure and the late rows', () => {
    const why = new Map(planBackfill(DAYS, RUNS, LATE, new Set<Reprocess>(['missing', 'failed', 'late'])).map((d) => [d.day, d.why]));
    expect(why.get('2026-11-02')).toContain('HBase unreachable');
    expect(why.get('2026-11-04')).toBe('17 late rows');
    expect(why.get('2026-11-03')).toBe('complete');
  });

  it('prints a waiting day as waiting and a failed one with its exit code', () => {
    const table = renderBackfill([
      { day: '2026-11-01', action: 'run', why: '', result: 'ok', code: 0, merchant_days: 3, events: 12345, seconds: 4.25 },
      { day: '2026-11-02', action: 'resume', why: '', result: 'failed', code: 3, merchant_days: 3, events: 0, seconds: 1 },
      { day: '2026-11-05', action: 'late', why: '', result: 'waiting', code: 0, merchant_days: 1, events: 10, seconds: 2 },
    ]).split('\n');
    expect(table[0]).toMatch(/^day\s+action\s+merchant-days\s+events\s+seconds\s+result$/);
    expect(table[2]).toMatch(/^2026-11-01\s+run\s+3\s+12,345\s+4\.3\s+ok$/);
    expect(table[3]).toMatch(/FAILED \(exit 3\)$/);
    expect(table[4]).toMatch(/\swaiting$/);
  });
});
