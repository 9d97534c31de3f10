/**
 * Integration helpers: a private namespace per test file (its own MySQL database, HBase namespace
 * and topics, provisioned through the product's own code, removed afterwards), and the CLI run as
 * a person runs it.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { buildConfig, type Config } from '../../src/config.js';
import { createApp, type App } from '../../src/app.js';
import { silentLogger } from '../../src/log.js';
import { provision, topicSpecs } from '../../src/provision.js';
import { hbaseProvisioner } from '../../src/stack/hbase-provisioner.js';
import { dropDatabase } from '../../src/adapters/mysql.js';
import { projectPath } from '../../src/paths.js';
import { sleep } from '../../src/retry.js';

export interface TestNamespace {
  ns: string;
  cfg: Readonly<Config>;
  app: App;
  cli(args: string[], opts?: { input?: string | Buffer; env?: Record<string, string> }): Promise<CliResult>;
  cleanup(): Promise<void>;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], opts: { input?: string | Buffer; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [projectPath('bin', 'stageline.js'), ...args], { env: { ...process.env, STAGELINE_LOG_FORMAT: 'json', STAGELINE_LOG_LEVEL: 'warn', ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

export async function createTestNamespace(prefix = 't'): Promise<TestNamespace> {
  const ns = `${prefix}_${randomBytes(4).toString('hex')}`;
  const cfg = buildConfig({ ...process.env, STAGELINE_NAMESPACE: ns });
  const app = createApp(cfg, silentLogger);
  const admin = hbaseProvisioner(cfg, silentLogger);
  await provision(app, admin);
  return {
    ns,
    cfg,
    app,
    cli: (args, opts) => runCli([...args, '--namespace', ns], opts),
    async cleanup() {
      const kafkaAdmin = await app.admin();
      await kafkaAdmin.deleteTopics(topicSpecs(app).map((t) => t.topic)).catch(() => undefined);
      await app.close();
      await dropDatabase(cfg.mysql).catch(() => undefined);
      await admin.dropNamespace(cfg.hbase.namespace).catch(() => undefined);
    },
  };
}

/** Polls a condition instead of sleeping a fixed time. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 120_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
