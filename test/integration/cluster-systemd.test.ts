/**
 * The deployment files are checked, not just written: deploy/systemd/ passes `systemd-analyze
 * verify` without a warning (on a copy whose /opt/stageline and /usr/bin/node point at this
 * checkout and this node, so every ExecStart binary exists), each unit's ExecStart really starts
 * the CLI with the right command (a stage instance's name maps to its stage), the timer's calendar
 * parses, and every variable the EnvironmentFile and docker-compose.yml set is one Stageline
 * documents (src/config.ts SETTINGS), so neither drifts from the configuration.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SETTINGS } from '../../src/config.js';
import { projectPath } from '../../src/paths.js';

const SRC = projectPath('deploy', 'systemd');
const INSTANCES = ['split-1', 'split-2', 'transform-1', 'summarize-1'];
let dir = '';

/** The units with the install paths replaced by this checkout, this node and a local env file. */
function localCopy(into: string, node: string): void {
  for (const f of readdirSync(SRC)) {
    const text = readFileSync(join(SRC, f), 'utf8')
      .replaceAll('/opt/stageline', projectPath())
      .replaceAll('/usr/bin/node', node)
      .replaceAll('/etc/stageline/stageline.env', join(into, 'stageline.env'));
    writeFileSync(join(into, f), text);
  }
  for (const i of INSTANCES) symlinkSync(join(into, 'stageline-stage@.service'), join(into, `stageline-stage@${i}.service`));
}

/** ExecStart of a unit file, systemd's specifiers and escapes applied for instance `instance`. */
function execStart(unit: string, instance = ''): string[] {
  const line = readFileSync(join(dir, unit), 'utf8').split('\n').find((l) => l.startsWith('ExecStart='));
  if (!line) throw new Error(`${unit} has no ExecStart`);
  const cmd = line.slice('ExecStart='.length).replaceAll('%i', instance).replaceAll('%%', '%').replaceAll('$$', '$');
  // The units quote with single quotes only (no nesting): split on spaces outside them.
  const args: string[] = [];
  for (const m of cmd.matchAll(/'([^']*)'|(\S+)/g)) args.push(m[1] ?? m[2]!);
  return args;
}

/** Variable names the configuration declares (SETTINGS). */
function documented(): Set<string> {
  return new Set(SETTINGS.map((x) => x.env));
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'stageline-systemd-'));
  localCopy(dir, process.execPath);
});
afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

describe('deploy/systemd', () => {
  it('systemd-analyze verify: the stage instances, the nightly service and its timer, without a warning', () => {
    const units = [...INSTANCES.map((i) => `stageline-stage@${i}.service`), 'stageline-nightly.service', 'stageline-nightly.timer'].map((u) => join(dir, u));
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...units], { encoding: 'utf8' });
    const ours = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes('stageline'));
    expect(ours, `${r.stdout}${r.stderr}`).toEqual([]);
    expect(r.status).toBe(0);
  });

  it('verify fails on a unit whose ExecStart binary is missing (the check can fail)', () => {
    const bad = mkdtempSync(join(tmpdir(), 'stageline-systemd-bad-'));
    try {
      localCopy(bad, '/nonexistent/node');
      const r = spawnSync('systemd-analyze', ['verify', '--man=no', join(bad, 'stageline-nightly.service')], { encoding: 'utf8' });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/not executable/);
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });

  it('a stage instance runs `stageline stage <stage>` for its name up to the first "-"', () => {
    // With an argv printer in place of node, the command line the unit would run shows as is.
    const printer = join(dir, 'print-argv');
    writeFileSync(printer, '#!/bin/sh\nprintf "%s\\n" "$@"\n');
    chmodSync(printer, 0o755);
    const viaPrinter = mkdtempSync(join(tmpdir(), 'stageline-systemd-argv-'));
    try {
      localCopy(viaPrinter, printer);
      for (const i of INSTANCES) {
        const unit = readFileSync(join(viaPrinter, 'stageline-stage@.service'), 'utf8');
        writeFileSync(join(dir, 'argv.service'), unit);
        const [bin, ...args] = execStart('argv.service', i);
        const out = execFileSync(bin!, args, { encoding: 'utf8' }).trim().split('\n');
        expect(out).toEqual([projectPath('bin', 'stageline.js'), 'stage', i.split('-')[0]]);
      }
    } finally {
      rmSync(viaPrinter, { recursive: true, force: true });
    }
  });

  it('the ExecStart lines start the real CLI (--help answers with the command\'s usage)', () => {
    const [sbin, ...sargs] = execStart('stageline-stage@.service', 'transform-1');
    const stage = spawnSync(sbin!, [...sargs, '--help'], { encoding: 'utf8' });
    expect(stage.status, stage.stderr).toBe(0);
    expect(stage.stdout).toMatch(/^stageline stage </);
    const [nbin, ...nargs] = execStart('stageline-nightly.service');
    const nightly = spawnSync(nbin!, [...nargs, '--help'], { encoding: 'utf8' });
    expect(nightly.status, nightly.stderr).toBe(0);
    expect(nightly.stdout).toMatch(/^stageline nightly/);
  });

  it('the timer fires every night at 02:15 UTC', () => {
    const line = readFileSync(join(dir, 'stageline-nightly.timer'), 'utf8').split('\n').find((l) => l.startsWith('OnCalendar='))!;
    const r = spawnSync('systemd-analyze', ['calendar', line.slice('OnCalendar='.length)], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Normalized form: \*-\*-\* 02:15:00 UTC/);
  });
});

describe('configuration files in step with src/config.ts', () => {
  it('the EnvironmentFile sets only documented variables, and the CLI accepts its values', () => {
    const env = Object.fromEntries(readFileSync(join(SRC, 'stageline.env'), 'utf8').split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    const known = documented();
    expect(Object.keys(env).filter((k) => !known.has(k))).toEqual([]);
    const r = spawnSync(process.execPath, [projectPath('bin', 'stageline.js'), 'config'], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const cfg = JSON.parse(r.stdout) as { kafka: { brokers: string[] }; metricsHost: string; log: { destination: string } };
    expect(cfg.kafka.brokers).toHaveLength(3);
    expect(cfg.metricsHost).toBe('0.0.0.0');
    expect(cfg.log.destination).toBe('stdout');
  });

  it('docker-compose.yml uses only documented variables', () => {
    const names = new Set(readFileSync(projectPath('docker-compose.yml'), 'utf8').match(/STAGELINE_[A-Z0-9_]+/g) ?? []);
    expect(names.size).toBeGreaterThan(3);
    const known = documented();
    expect([...names].filter((k) => !known.has(k))).toEqual([]);
  });
});
