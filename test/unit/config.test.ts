import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SETTINGS, buildConfig, parseMysqlUrl, redactedConfig, renderSettingsTable } from '../../src/config.js';
import { GLOBAL_OPTIONS, usage } from '../../src/cli/usage.js';
import { projectPath } from '../../src/paths.js';

describe('config', () => {
  it('has documented defaults', () => {
    const c = buildConfig({});
    expect(c.namespace).toBe('stageline');
    expect(c.kafka.brokers).toEqual(['127.0.0.1:9092']);
    expect(c.mysql).toMatchObject({ host: '127.0.0.1', port: 3306, user: 'root', database: 'stageline' });
    expect(c.hbase).toEqual({ zkQuorum: '127.0.0.1:2181', namespace: 'stageline' });
    expect(Object.isFrozen(c) && Object.isFrozen(c.kafka)).toBe(true);
  });

  it('lets flags win over env vars, and the namespace prefixes database and HBase namespace', () => {
    const c = buildConfig({ STAGELINE_NAMESPACE: 'env-ns', STAGELINE_KAFKA_BROKERS: 'a:1' }, { namespace: 'flag-ns', 'kafka-brokers': 'b:2,c:3' });
    expect(c.namespace).toBe('flag-ns');
    expect(c.mysql.database).toBe('flag_ns');
    expect(c.hbase.namespace).toBe('flag_ns');
    expect(c.kafka.brokers).toEqual(['b:2', 'c:3']);
  });

  it('refuses invalid values with a message naming the variable', () => {
    expect(() => buildConfig({ STAGELINE_KAFKA_HEAP_MB: 'lots' })).toThrow(/STAGELINE_KAFKA_HEAP_MB/);
    expect(() => buildConfig({ STAGELINE_NAMESPACE: '1bad' })).toThrow(/namespace/);
    expect(() => buildConfig({ STAGELINE_KAFKA_SASL_MECHANISM: 'gssapi' })).toThrow(/SASL/);
    expect(() => buildConfig({ STAGELINE_MYSQL_URL: 'postgres://x' })).toThrow(/mysql:/);
  });

  it('passes SASL through and never shows the secrets when printed', () => {
    const c = buildConfig({ STAGELINE_KAFKA_SASL_MECHANISM: 'scram-sha-512', STAGELINE_KAFKA_SASL_USERNAME: 'u', STAGELINE_KAFKA_SASL_PASSWORD: 'hunter2', STAGELINE_MYSQL_URL: 'mysql://app:s3cret@db:3307/x' });
    expect(c.kafka.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'u', password: 'hunter2' });
    const printed = JSON.stringify(redactedConfig(c));
    expect(printed).not.toContain('hunter2');
    expect(printed).not.toContain('s3cret');
  });

  it('parses MySQL URLs with escaped credentials and a database', () => {
    expect(parseMysqlUrl('mysql://a%40b:p%2Fw@h:1234/db1', 'd')).toEqual({ host: 'h', port: 1234, user: 'a@b', password: 'p/w', database: 'db1' });
  });
});

describe('config table (SETTINGS): one declaration per setting', () => {
  it('the README configuration table is the one rendered from SETTINGS', () => {
    const readme = readFileSync(projectPath('README.md'), 'utf8');
    const m = /<!-- settings-table:start[^>]*-->\n([\s\S]*?)\n<!-- settings-table:end -->/.exec(readme);
    expect(m, 'README.md lost its settings-table markers').not.toBeNull();
    expect(m![1]).toBe(renderSettingsTable());
  });

  it('every STAGELINE_ variable the README or the code mentions is a setting (test-only ones aside)', () => {
    const known = new Set<string>(SETTINGS.map((s) => s.env));
    const testOnly = new Set(['STAGELINE_TEST_STACK']);
    const texts = [readFileSync(projectPath('README.md'), 'utf8'), readFileSync(projectPath('docker-compose.yml'), 'utf8'), readFileSync(projectPath('src', 'config.ts'), 'utf8')];
    const mentioned = new Set(texts.flatMap((t) => [...t.matchAll(/STAGELINE_[A-Z0-9_]*[A-Z0-9]/g)].map((x) => x[0])));
    expect([...mentioned].filter((v) => !known.has(v) && !testOnly.has(v))).toEqual([]);
  });

  it('--help lists every flag of the table, and parses each as a global option', () => {
    const help = usage();
    for (const s of SETTINGS) if ('flag' in s) expect(help).toContain(`--${s.flag}`);
    expect(Object.keys(GLOBAL_OPTIONS).sort()).toEqual([...SETTINGS.flatMap((s) => ('flag' in s ? [s.flag] : [])), 'help'].sort());
  });

  it('reads every setting through its declared flag too: flags win over env', () => {
    const c = buildConfig({ STAGELINE_METRICS_PORT: '9100' }, { 'metrics-port': '9200', 'log-level': 'debug' });
    expect(c.metricsPort).toBe(9200);
    expect(c.log.level).toBe('debug');
    expect(() => buildConfig({}, { 'log-level': 'loud' })).toThrow(/STAGELINE_LOG_LEVEL/);
  });
});
