/**
 * deploy/grafana/stageline.json: valid JSON Grafana can import, and every metric its PromQL
 * selects exists in the registries of src/metrics.ts (or is Prometheus' own, or a recording rule
 * of deploy/prometheus/rules/). A real Prometheus evaluates the same queries in
 * test/integration/prometheus.test.ts.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARD_FILE, dashboardQueries, loadRules, metricNames, processMetricNames, type DashboardQuery } from '../../support/promql.js';

interface Panel { id: number; type: string; title: string; gridPos: { x: number; y: number; w: number; h: number }; datasource?: { type: string; uid: string }; targets: Array<{ expr: string; refId: string; datasource?: { uid: string } }> }
interface Dashboard { uid: string; title: string; schemaVersion: number; __inputs: Array<{ name: string; type: string; pluginId: string }>; panels: Panel[] }

describe('Grafana dashboard (deploy/grafana/stageline.json)', () => {
  const text = readFileSync(DASHBOARD_FILE, 'utf8');
  let dash: Dashboard;
  let queries: DashboardQuery[];
  beforeAll(() => {
    dash = JSON.parse(text) as Dashboard;
    queries = dashboardQueries(dash as never);
  });

  it('is a dashboard Grafana can import: uid, title, a Prometheus data source input, panels with queries', () => {
    expect(dash.uid).toBe('stageline-night');
    expect(dash.title).toMatch(/Stageline/);
    expect(dash.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dash.__inputs).toEqual([expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' })]);
    expect(dash.panels.length).toBeGreaterThan(10);
    expect(new Set(dash.panels.map((p) => p.id)).size).toBe(dash.panels.length);
    for (const p of dash.panels) {
      expect(p.datasource?.uid, p.title).toBe('${DS_PROMETHEUS}');
      expect(p.targets.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets) {
        expect(t.expr, p.title).toMatch(/\S/);
        expect(t.datasource?.uid, p.title).toBe('${DS_PROMETHEUS}');
      }
      expect(new Set(p.targets.map((t) => t.refId)).size, p.title).toBe(p.targets.length);
    }
  });

  it('lays its panels out on the 24-column grid without overlaps', () => {
    const cells = new Map<string, string>();
    for (const p of dash.panels) {
      const g = p.gridPos;
      expect(g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0, p.title).toBe(true);
      for (let x = g.x; x < g.x + g.w; x++) for (let y = g.y; y < g.y + g.h; y++) {
        const k = `${x},${y}`;
        expect(cells.get(k), `${p.title} overlaps ${cells.get(k)}`).toBeUndefined();
        cells.set(k, p.title);
      }
    }
  });

  it('uses only metric names the processes expose, Prometheus makes, or the rules record', async () => {
    const known = await processMetricNames();
    for (const r of loadRules()) if (r.kind === 'record') known.add(r.name);
    const unknown = queries.flatMap((q) => metricNames(q.expr).filter((n) => !known.has(n)).map((n) => `${q.where}: ${n}`));
    expect(unknown).toEqual([]);
    expect(queries.every((q) => metricNames(q.expr).length > 0)).toBe(true);
  });

  it('shows progress, throughput, lag, in-flight work, concurrency, dead letters and run state', () => {
    const used = new Set(queries.flatMap((q) => metricNames(q.expr)));
    for (const name of [
      'stageline_master_chunks', 'stageline_master_merchant_days', // progress
      'stageline_stage_messages_handled_total', 'stageline_stage_events_handled_total', // throughput
      'stageline_stage_consumer_lag', 'stageline_stage_inflight_messages', 'stageline_stage_concurrency',
      'stageline_stage_dead_letters_total', 'stageline_master_dead_letters', 'stageline_master_run_state',
    ]) expect(used, name).toContain(name);
  });
});
