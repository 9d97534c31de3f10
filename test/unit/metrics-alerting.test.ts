/**
 * The series src/metrics.ts defines for the alert rules (issue 16): the master's run day and late
 * rows, nightly's re-spawns, restarts and group members, and nightly's own port.
 */
import { describe, expect, it } from 'vitest';
import { childMetricsPort, createRegistry, dayStartSeconds, masterRunObserver, nightlyMetricsPort, serveMasterMetrics, supervisorObserver } from '../../src/prometheus.js';
import { silentLogger } from '../../src/log.js';
import type { Progress } from '../../src/master/master.js';

const progress = (day: string): Progress => ({ day, epoch: 1, state: 'running', chunks: 4, chunksPublished: 4, chunksSplit: 1, merchantDays: 3, merchantDaysDone: 0, plannedRows: 100, eventsDone: 0, deadLetters: 0, elapsedMs: 1 });

describe('metrics for the alert rules', () => {
  it('dayStartSeconds is the UTC midnight of the day', () => {
    expect(dayStartSeconds('1970-01-02')).toBe(86_400);
    expect(dayStartSeconds('2026-11-27')).toBe(Date.UTC(2026, 10, 27) / 1000);
    expect(dayStartSeconds('not a day')).toBeNaN();
  });

  it('the master exports its day and replaces the late rows per day on every call', async () => {
    const reg = createRegistry({ namespace: 'ns' });
    const m = masterRunObserver(reg);
    m.update(progress('2026-11-27'));
    m.lateRowsWaiting(new Map([['2026-11-25', 12], ['2026-11-26', 0]]));
    let text = await reg.metrics();
    expect(text).toContain(`stageline_master_run_day_timestamp_seconds{namespace="ns"} ${Date.UTC(2026, 10, 27) / 1000}`);
    expect(text).toContain('stageline_late_rows_waiting{day="2026-11-25",namespace="ns"} 12');
    // A day given with 0 is exported as 0 (the master always gives its own day: the series exists all night).
    expect(text).toContain('stageline_late_rows_waiting{day="2026-11-26",namespace="ns"} 0');
    m.lateRowsWaiting(new Map([['2026-11-26', 5]]));
    text = await reg.metrics();
    expect(text).not.toContain('day="2026-11-25"');
    expect(text).toContain('stageline_late_rows_waiting{day="2026-11-26",namespace="ns"} 5');
  });

  it('the master process serves its day (from update, which runMaster calls on progress) and late rows', async () => {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const m = await serveMasterMetrics({ cfg: { metricsPort: port, metricsHost: '127.0.0.1', namespace: 'ns' }, log: silentLogger });
    try {
      m.update(progress('2026-11-27'));
      m.lateRowsWaiting(new Map([['2026-11-27', 3]]));
      const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(body).toContain(`stageline_master_run_day_timestamp_seconds{process="master",namespace="ns"} ${Date.UTC(2026, 10, 27) / 1000}`);
      expect(body).toContain('stageline_master_run_state{state="running",process="master",namespace="ns"} 1');
      expect(body).toContain('stageline_late_rows_waiting{day="2026-11-27",process="master",namespace="ns"} 3');
    } finally {
      await m.close();
    }
  });

  it('nightly counts re-spawns and restarts from zero and states the replicas it expects', async () => {
    const reg = createRegistry({ namespace: 'ns' });
    const s = supervisorObserver(reg, { replicasPerStage: 2 });
    let text = await reg.metrics();
    expect(text).toContain('stageline_nightly_master_respawns_total{namespace="ns"} 0');
    expect(text).toContain('stageline_nightly_worker_restarts_total{stage="summarize",namespace="ns"} 0');
    expect(text).toContain('stageline_nightly_replicas_expected{stage="split",namespace="ns"} 2');
    s.masterRespawned();
    s.workerRestarted('transform');
    s.groupMembers('transform', 1);
    text = await reg.metrics();
    expect(text).toContain('stageline_nightly_master_respawns_total{namespace="ns"} 1');
    expect(text).toContain('stageline_nightly_worker_restarts_total{stage="transform",namespace="ns"} 1');
    expect(text).toContain('stageline_nightly_group_members{stage="transform",namespace="ns"} 1');
  });

  it('without workers of its own, nightly expects no replicas (the missing-replicas alert stays silent)', async () => {
    const reg = createRegistry({});
    supervisorObserver(reg, { replicasPerStage: 0 });
    expect(await reg.metrics()).not.toMatch(/^stageline_nightly_replicas_expected\{/m);
  });

  it('nightly takes the first port after its children', () => {
    expect(nightlyMetricsPort(9400, 1)).toBe(9404);
    expect(nightlyMetricsPort(9400, 3)).toBe(childMetricsPort(9400, 10));
    expect(nightlyMetricsPort(9400, 0)).toBe(9401);
    expect(nightlyMetricsPort(0, 2)).toBe(0);
  });
});
