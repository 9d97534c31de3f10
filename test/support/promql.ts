/**
 * What the deploy/ files ask of the metrics: the PromQL of the alert rules and of the Grafana
 * dashboard, and the metric names in it, checked against the names the real registries of
 * src/metrics.ts expose (instantiated here, not listed by hand, so a renamed series fails the
 * tests that read deploy/).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { parse } from 'yaml';
import { createRegistry, masterObserver, masterRunObserver, stageObserver, supervisorObserver } from '../../src/prometheus.js';
import { projectPath } from '../../src/paths.js';
import { STAGES } from '../../stages/index.js';

export const PROMETHEUS_DIR = projectPath('deploy', 'prometheus');
export const RULES_FILE = join(PROMETHEUS_DIR, 'rules', 'stageline.yml');
export const RULE_TESTS_DIR = join(PROMETHEUS_DIR, 'tests');
export const DASHBOARD_FILE = projectPath('deploy', 'grafana', 'stageline.json');

/** Series Prometheus makes itself for every target and alert. */
const PROMETHEUS_OWN = ['up', 'scrape_duration_seconds', 'scrape_samples_scraped', 'scrape_samples_post_metric_relabeling', 'scrape_series_added', 'ALERTS', 'ALERTS_FOR_STATE'];

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'inf', 'nan', 'atan2']);

/**
 * The metric names a PromQL expression selects. Not a parser: it blanks what cannot be a metric
 * name (strings, label matchers, ranges, grouping label lists, Grafana $variables) and keeps the
 * identifiers that are not functions or keywords. Grafana's label_values(metric, label) counts its
 * first argument only.
 */
export function metricNames(expr: string): string[] {
  let e = expr.trim();
  const lv = /^label_values\(\s*(.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)$/s.exec(e);
  if (lv) e = lv[1]!;
  e = e
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of e.matchAll(/(?<![\w:.$])[A-Za-z_:][\w:]*(?![\w:])/g)) {
    const word = m[0];
    const after = e.slice(m.index + word.length);
    if (/^\s*\(/.test(after) || KEYWORDS.has(word.toLowerCase())) continue;
    names.add(word);
  }
  return [...names].sort();
}

/** The names one registry exposes, with the series a histogram or summary adds. */
async function exposed(registry: Registry): Promise<string[]> {
  const out: string[] = [];
  for (const m of await registry.getMetricsAsJSON()) {
    out.push(m.name);
    if (String(m.type) === 'histogram') out.push(`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`);
    if (String(m.type) === 'summary') out.push(`${m.name}_sum`, `${m.name}_count`);
  }
  return out;
}

/** Every name a Stageline process can expose (stage replicas, master, nightly), from the real observers. */
export async function processMetricNames(): Promise<Set<string>> {
  const stage = createRegistry({});
  stageObserver(stage, STAGES[0]!);
  const master = createRegistry({});
  masterObserver(master);
  masterRunObserver(master);
  const nightly = createRegistry({});
  supervisorObserver(nightly, { replicasPerStage: 1 });
  const names = new Set<string>(PROMETHEUS_OWN);
  for (const r of [stage, master, nightly]) for (const n of await exposed(r)) names.add(n);
  return names;
}

export interface Rule {
  group: string;
  kind: 'alert' | 'record';
  name: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

interface RuleFile { groups: Array<{ name: string; rules: Array<{ alert?: string; record?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }> }> }

export function loadRules(file = RULES_FILE): Rule[] {
  const doc = parse(readFileSync(file, 'utf8')) as RuleFile;
  return doc.groups.flatMap((g) => g.rules.map((r): Rule => ({
    group: g.name,
    kind: r.alert !== undefined ? 'alert' : 'record',
    name: r.alert ?? r.record ?? '',
    expr: r.expr,
    ...(r.for !== undefined ? { for: r.for } : {}),
    labels: r.labels ?? {},
    annotations: r.annotations ?? {},
  })));
}

export interface RuleTestCase { file: string; name: string; alertname: string; evalTime: string; firing: boolean }

/** Every alert_rule_test of the promtool test files, flattened. */
export function loadRuleTests(dir = RULE_TESTS_DIR): RuleTestCase[] {
  const out: RuleTestCase[] = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.yml')).sort()) {
    const doc = parse(readFileSync(join(dir, f), 'utf8')) as { tests: Array<{ name?: string; alert_rule_test?: Array<{ alertname: string; eval_time: string; exp_alerts?: unknown[] }> }> };
    for (const t of doc.tests) {
      for (const a of t.alert_rule_test ?? []) out.push({ file: f, name: t.name ?? '', alertname: a.alertname, evalTime: a.eval_time, firing: (a.exp_alerts ?? []).length > 0 });
    }
  }
  return out;
}

export interface DashboardQuery { where: string; expr: string }

interface Panel { title?: string; panels?: Panel[]; targets?: Array<{ expr?: string; refId?: string }> }

/** The PromQL of every panel target (rows' nested panels included) and of every query variable. */
export function dashboardQueries(dash: { panels?: Panel[]; templating?: { list?: Array<{ name: string; type: string; query?: unknown; definition?: string }> } }): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  const walk = (panels: Panel[] | undefined) => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) out.push({ where: `panel "${p.title ?? '?'}" ${t.refId ?? ''}`.trim(), expr: t.expr ?? '' });
      walk(p.panels);
    }
  };
  walk(dash.panels);
  for (const v of dash.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query ?? v.definition ?? '';
    out.push({ where: `variable $${v.name}`, expr: q });
  }
  return out;
}

export function loadDashboard(file = DASHBOARD_FILE): unknown {
  return JSON.parse(readFileSync(file, 'utf8'));
}
