/**
 * The whole result of a day, for comparing two runs: the summaries as `report --json` prints them
 * (without epoch and computed_at, which say which computation it was), every product row of the
 * epoch each merchant-day shows, what split's seals read and emitted, and the quarantine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { App } from '../../src/app.js';
import { productEpochPrefix, prefixEnd } from '../../src/domain/rowkey.js';
import { projectPath } from '../../src/paths.js';
import type { CliResult } from './harness.js';

export interface DayResult {
  report: string[];
  products: string[];
  seals: { rows_read: number; valid: number; batches: number; ranges: number };
  quarantine: { total: number; byReason: Record<string, number> };
}

export async function dayResult(app: App, day: string, reportJson: string): Promise<DayResult> {
  const report = reportJson.split('\n').filter((l) => l.trim()).map((l) => {
    const { epoch: _e, computed_at: _c, ...rest } = JSON.parse(l) as Record<string, unknown>;
    return JSON.stringify(rest);
  });
  const products: string[] = [];
  for (const e of await app.ledger().merchantDays.epochs(day)) {
    if (e.done_epoch === undefined) continue;
    const start = productEpochPrefix(day, e.merchant_id, e.done_epoch);
    for await (const row of app.hbase().scan(app.tables.products, { startRow: start, stopRow: prefixEnd(start), caching: 1000 })) {
      products.push(`${e.merchant_id} ${row.cells[0]!.value.toString('utf8')}`);
    }
  }
  const p = await app.ledger().progress.read(day, 3600);
  const q = await app.ledger().quarantine.read(day, undefined, 1);
  return {
    report,
    products,
    seals: { rows_read: p?.ledger.rows_read ?? -1, valid: p?.ledger.valid ?? -1, batches: p?.ledger.batches ?? -1, ranges: p?.ledger.ranges ?? -1 },
    quarantine: { total: q.total, byReason: q.byReason },
  };
}

export interface Running {
  child: ChildProcess;
  done: Promise<CliResult>;
  /** everything it printed on stderr so far */
  stderr(): string;
}

/** Starts the CLI without waiting (a worker, a nightly to kill); `detached` puts it in its own process group. */
export function startCli(args: string[], env: Record<string, string> = {}, opts: { detached?: boolean } = {}): Running {
  const child = spawn(process.execPath, [projectPath('bin', 'stageline.js'), ...args], {
    env: { ...process.env, STAGELINE_LOG_FORMAT: 'json', STAGELINE_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached === true,
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.on('data', (d: Buffer) => err.push(d));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
  return { child, done, stderr: () => Buffer.concat(err).toString('utf8') };
}

/** JSON log lines a process printed, parsed. */
export function logLines(text: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const l of text.split('\n')) {
    if (!l.startsWith('{')) continue;
    try {
      out.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      // a partial line at the end of the buffer
    }
  }
  return out;
}
