/**
 * promtool on deploy/prometheus/ (issue 16): the scrape configuration and the rules are valid, and
 * every promtool unit test in deploy/prometheus/tests/ passes (each alert both firing and silent;
 * test/unit/deploy/prometheus-files.test.ts checks that every alert has both kinds of case).
 * A failing promtool run fails this test with promtool's own report.
 */
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROMETHEUS_DIR, RULES_FILE, RULE_TESTS_DIR, loadRules } from '../support/promql.js';
import { promtool } from '../support/prometheus.js';

describe('promtool on deploy/prometheus', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'stageline-promtool-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('check config: the scrape configuration, its target files and its rule file are valid', async () => {
    const r = await promtool(['check', 'config', join(PROMETHEUS_DIR, 'prometheus.yml')]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('is valid prometheus config file syntax');
  });

  it('check rules: every rule parses, as many as the tests read', async () => {
    const r = await promtool(['check', 'rules', RULES_FILE]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain(`SUCCESS: ${loadRules().length} rules found`);
  });

  it('test rules: every promtool unit test passes', async () => {
    const files = readdirSync(RULE_TESTS_DIR).filter((f) => f.endsWith('.yml')).sort();
    expect(files.length).toBeGreaterThanOrEqual(3);
    const r = await promtool(['test', 'rules', ...files], RULE_TESTS_DIR);
    expect(r.code, r.output).toBe(0);
    expect(r.output.match(/SUCCESS/g)?.length, r.output).toBe(files.length);
  });

  it('a wrong expectation makes promtool, and so this runner, fail', async () => {
    // The same rules, one case that expects the dead-letter alert where there is none.
    cpSync(PROMETHEUS_DIR, join(scratch, 'prometheus'), { recursive: true });
    writeFileSync(join(scratch, 'prometheus', 'tests', 'wrong.yml'), [
      'rule_files: [../rules/stageline.yml]',
      'tests:',
      '  - interval: 1m',
      '    input_series:',
      "      - series: 'stageline_master_dead_letters{namespace=\"ns\"}'",
      "        values: '0x10'",
      '    alert_rule_test:',
      '      - eval_time: 5m',
      '        alertname: StagelineDeadLetters',
      '        exp_alerts: [{ exp_labels: { severity: warning, namespace: ns } }]',
      '',
    ].join('\n'));
    const r = await promtool(['test', 'rules', 'wrong.yml'], join(scratch, 'prometheus', 'tests'));
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('FAILED');
    expect(r.output).toContain('StagelineDeadLetters');
  });
});
