/**
 * deploy/prometheus/ read as files: the alert rules select only series the processes expose, each
 * alert says what to do and has promtool cases both firing and not firing, and the example target
 * files use the ports `nightly --with-workers 1 --metrics-port 9400` really hands out. promtool
 * itself runs in test/integration/prometheus-rules.test.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { childMetricsPort, nightlyMetricsPort } from '../../../src/prometheus.js';
import { STAGES } from '../../../stages/index.js';
import { PROMETHEUS_DIR, loadRuleTests, loadRules, metricNames, processMetricNames, type Rule } from '../../support/promql.js';

describe('metricNames (the PromQL name extractor the deploy checks rely on)', () => {
  it.each([
    ['sum by (namespace, stage) (rate(stageline_stage_messages_handled_total{namespace=~"$namespace"}[$__rate_interval]))', ['stageline_stage_messages_handled_total']],
    ['stageline:night_deadline_timestamp_seconds < time() and on (namespace) stageline_master_epoch == 1', ['stageline:night_deadline_timestamp_seconds', 'stageline_master_epoch']],
    ['histogram_quantile(0.95, sum by (stage, le) (rate(x_bucket[5m] offset 1h)))', ['x_bucket']],
    ['up{job="a b", stage=~"split|or"} == 0 unless ignoring(instance) y', ['up', 'y']],
    ['label_values(up{job=~"stageline-.*"}, namespace)', ['up']],
    ['1e3 * 2 + vector(1)', []],
  ])('%s', (expr, names) => {
    expect(metricNames(expr)).toEqual(names);
  });
});

describe('alert rules (deploy/prometheus/rules/stageline.yml)', () => {
  let rules: Rule[];
  let known: Set<string>;
  beforeAll(async () => {
    rules = loadRules();
    known = await processMetricNames();
  });

  it('select only series a Stageline process (or Prometheus itself, or an earlier recording rule) exposes', () => {
    const recorded = new Set<string>();
    const unknown: string[] = [];
    for (const r of rules) {
      const names = metricNames(r.expr);
      expect(names.length, `${r.name} selects no series`).toBeGreaterThan(0);
      for (const n of names) if (!known.has(n) && !recorded.has(n)) unknown.push(`${r.name}: ${n}`);
      if (r.kind === 'record') recorded.add(r.name);
    }
    expect(unknown).toEqual([]);
  });

  it('cover what issue 16 asks for', () => {
    const alerts = rules.filter((r) => r.kind === 'alert').map((r) => r.name).sort();
    expect(alerts).toEqual(['StagelineDeadLetters', 'StagelineLateDataWaiting', 'StagelineMasterRespawned', 'StagelineNightLate', 'StagelineNightLateSoon', 'StagelineReplicaDown', 'StagelineReplicasMissing', 'StagelineStageStalled']);
  });

  it('each carry a severity, a summary and a description that says what to do', () => {
    for (const r of rules.filter((x) => x.kind === 'alert')) {
      expect(['warning', 'critical'], r.name).toContain(r.labels.severity);
      expect(r.annotations.summary, r.name).toMatch(/\S/);
      expect((r.annotations.description ?? '').length, r.name).toBeGreaterThan(40);
    }
  });

  it('each have promtool cases that expect it firing and cases that expect it silent', () => {
    const cases = loadRuleTests();
    const missing: string[] = [];
    for (const r of rules.filter((x) => x.kind === 'alert')) {
      const mine = cases.filter((c) => c.alertname === r.name);
      if (!mine.some((c) => c.firing)) missing.push(`${r.name}: no firing case`);
      if (!mine.some((c) => !c.firing)) missing.push(`${r.name}: no silent case`);
    }
    expect(missing).toEqual([]);
    const names = new Set(rules.map((r) => r.name));
    expect(cases.filter((c) => !names.has(c.alertname)).map((c) => `${c.file}: ${c.alertname}`)).toEqual([]);
  });
});

describe('scrape configuration (deploy/prometheus/prometheus.yml)', () => {
  interface Target { targets: string[]; labels: Record<string, string> }
  const config = parse(readFileSync(join(PROMETHEUS_DIR, 'prometheus.yml'), 'utf8')) as { rule_files: string[]; scrape_configs: Array<{ job_name: string; honor_labels?: boolean; file_sd_configs: Array<{ files: string[] }> }> };
  const targets = (job: string): Target[] => {
    const sc = config.scrape_configs.find((c) => c.job_name === job);
    expect(sc, job).toBeDefined();
    return sc!.file_sd_configs.flatMap((f) => f.files).flatMap((file) => JSON.parse(readFileSync(join(PROMETHEUS_DIR, file), 'utf8')) as Target[]);
  };
  const port = (t: Target) => Number(t.targets[0]!.split(':')[1]);

  it('loads the rules file and honours the labels the processes set', () => {
    expect(config.rule_files.map((f) => existsSync(join(PROMETHEUS_DIR, f)))).toEqual([true]);
    expect(config.scrape_configs.map((c) => [c.job_name, c.honor_labels])).toEqual([['stageline-master', true], ['stageline-stage', true], ['stageline-nightly', true]]);
  });

  it('lists the ports nightly --with-workers 1 --metrics-port 9400 hands out, each with its namespace and stage', () => {
    const base = 9400;
    expect(targets('stageline-master').map(port)).toEqual([childMetricsPort(base, 0)]);
    expect(targets('stageline-stage').map((t) => [t.labels.stage, port(t)])).toEqual(STAGES.map((s, i) => [s, childMetricsPort(base, 1 + i)]));
    expect(targets('stageline-nightly').map(port)).toEqual([nightlyMetricsPort(base, 1)]);
    for (const job of ['stageline-master', 'stageline-stage', 'stageline-nightly']) for (const t of targets(job)) expect(t.labels.namespace, job).toBe('stageline');
  });
});
