/**
 * Helpers for the fault-injection tests: finding the processes a `nightly` spawned, reading the
 * ledger's view of a run, reading a whole topic back, and a table of recovery times.
 */
import { execFileSync } from 'node:child_process';
import type { App } from '../../src/app.js';
import { summaryRowKey } from '../../src/domain/rowkey.js';

/** The pid inside a lease owner `host:pid:rand` (the host may itself contain colons). */
export function pidFromOwner(owner: string): number {
  const parts = owner.split(':');
  const pid = Number(parts[parts.length - 2]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`lease owner "${owner}" has no pid`);
  return pid;
}

import { isAlive } from '../../src/stack/common.js';

export { isAlive };

/**
 * Pids of the stage replicas a `nightly --with-workers` of this namespace runs. The child command
 * line is `node …/bin/stageline.js stage <stage> --namespace <ns> …`; the namespace is matched
 * whole so `t_ab` never matches `t_abc`.
 */
export function stagePids(ns: string, stage: string): number[] {
  try {
    const out = execFileSync('pgrep', ['-f', `bin/stageline\\.js stage ${stage} .*--namespace ${ns}( |$)`], { encoding: 'utf8' });
    return out.split('\n').filter(Boolean).map(Number).filter((p) => p !== process.pid).sort((a, b) => a - b);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/** Pids of the `nightly`/`replay` supervisors this namespace runs (each stops its own master and workers on SIGTERM). */
export function supervisorPids(ns: string): number[] {
  try {
    const out = execFileSync('pgrep', ['-f', `bin/stageline\\.js (nightly|replay) .*--namespace ${ns}( |$)`], { encoding: 'utf8' });
    return out.split('\n').filter(Boolean).map(Number).filter((p) => p !== process.pid);
  } catch {
    return [];
  }
}

/**
 * After a failed case: SIGTERM the supervisors still running for the namespace and wait for them
 * (bounded), so a run left behind cannot disturb the next case. Only processes the test started.
 */
export async function stopLeftovers(ns: string, boundMs = 60_000): Promise<number[]> {
  const pids = supervisorPids(ns);
  for (const p of pids) {
    try { process.kill(p, 'SIGTERM'); } catch { /* gone */ }
  }
  const deadline = Date.now() + boundMs;
  while (pids.some(isAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  return pids;
}

export interface RunRow {
  epoch: number;
  state: string;
  run_id: string;
  lock_owner: string | null;
  chunks: number;
  merchant_days: number;
  started_ms: number;
  completed_ms: number | null;
}

/** The day's run row, timestamps as epoch ms (UNIX_TIMESTAMP avoids any session time-zone question). */
export async function runRow(app: App, day: string): Promise<RunRow | undefined> {
  const [r] = await app.db().query<Record<string, unknown>>(
    'SELECT epoch, state, run_id, lock_owner, chunks, merchant_days, ROUND(UNIX_TIMESTAMP(started_at) * 1000) AS started_ms, ROUND(UNIX_TIMESTAMP(completed_at) * 1000) AS completed_ms FROM runs WHERE day = ?', [day]);
  if (!r) return undefined;
  return {
    epoch: Number(r.epoch), state: String(r.state), run_id: String(r.run_id), lock_owner: (r.lock_owner as string | null) ?? null,
    chunks: Number(r.chunks), merchant_days: Number(r.merchant_days), started_ms: Number(r.started_ms), completed_ms: r.completed_ms === null ? null : Number(r.completed_ms),
  };
}

export interface ChunkRow {
  chunk_id: string;
  seq: number;
  ranges: Array<{ merchant_id: string; bucket_lo: number; bucket_hi: number }>;
  publish_count: number;
  published: boolean;
  split_done: boolean;
  split_runs: number;
}

export async function chunkRows(app: App, day: string, epoch: number): Promise<ChunkRow[]> {
  const rows = await app.db().query<Record<string, unknown>>('SELECT chunk_id, seq, ranges, publish_count, published_at IS NOT NULL AS published, split_done_at IS NOT NULL AS split_done, split_runs FROM run_chunks WHERE day = ? AND epoch = ? ORDER BY seq', [day, epoch]);
  return rows.map((r) => ({
    chunk_id: String(r.chunk_id), seq: Number(r.seq), ranges: typeof r.ranges === 'string' ? JSON.parse(r.ranges) as ChunkRow['ranges'] : r.ranges as ChunkRow['ranges'],
    publish_count: Number(r.publish_count), published: Number(r.published) === 1, split_done: Number(r.split_done) === 1, split_runs: Number(r.split_runs),
  }));
}

export async function merchantDaysDone(app: App, day: string, epoch: number): Promise<{ done: number; total: number }> {
  const [r] = await app.db().query<{ done: number | null; total: number }>("SELECT SUM(state = 'done') AS done, COUNT(*) AS total FROM merchant_days WHERE day = ? AND epoch = ?", [day, epoch]);
  return { done: Number(r?.done ?? 0), total: Number(r?.total ?? 0) };
}

export async function deadLetterCount(app: App): Promise<number> {
  const [r] = await app.db().query<{ n: number }>('SELECT COUNT(*) AS n FROM dead_letters');
  return Number(r?.n ?? 0);
}

/**
 * The epoch of what `report` prints for each merchant-day of the day: the ledger's done epoch,
 * checked against the `s:epoch` cell of that epoch's summary row (so an untouched old row cannot
 * pass for a recovered one).
 */
export async function summaryEpochs(app: App, day: string): Promise<number[]> {
  const out: number[] = [];
  for (const e of await app.ledger().merchantDays.epochs(day)) {
    if (e.done_epoch === undefined) continue;
    const row = await app.hbase().get(app.tables.summaries, summaryRowKey(day, e.merchant_id, e.done_epoch));
    const cell = Number(row?.cells.find((c) => c.qualifier.toString() === 'epoch')?.value.toString());
    out.push(cell === e.done_epoch ? cell : -1);
  }
  return out;
}

/** `report --json` without what differs between two computations of the same numbers (epoch, computed_at). */
export function metricsOnly(reportJson: string): string {
  return reportJson.split('\n').filter((l) => l.trim()).map((l) => {
    const { epoch: _e, computed_at: _c, ...rest } = JSON.parse(l) as Record<string, unknown>;
    return JSON.stringify(rest);
  }).join('\n');
}

/** Reads a topic from the beginning until `atLeast` messages arrived (or the bound passes) with a throwaway group. */
export async function readTopic(app: App, topic: string, atLeast: number, timeoutMs = 30_000): Promise<Array<{ partition: number; offset: string; key: Buffer | null; value: Buffer | null }>> {
  const consumer = app.kafka().consumer({ groupId: `faults-reader-${process.pid}-${Date.now()}`, maxWaitTimeInMs: 200 });
  const got: Array<{ partition: number; offset: string; key: Buffer | null; value: Buffer | null }> = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ partition, message }) => { got.push({ partition, offset: message.offset, key: message.key ?? null, value: message.value ?? null }); } });
    const deadline = Date.now() + timeoutMs;
    while (got.length < atLeast && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    // A short grace so an unexpected extra message (a duplicate dead letter) would be seen too.
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    await consumer.disconnect();
  }
  return got;
}

export interface Recovery {
  case: string;
  fault: string;
  /** fault injected → runs.completed_at */
  recoveryMs: number;
  /** runs.started_at → runs.completed_at of the epoch */
  runMs: number;
  note?: string;
}

export function recoveryTable(rows: Recovery[], cleanRunMs: number): string {
  const head = ['case', 'fault', 'recovery (fault→complete)', 'run total', 'note'];
  const body = rows.map((r) => [r.case, r.fault, `${(r.recoveryMs / 1000).toFixed(1)} s`, `${(r.runMs / 1000).toFixed(1)} s`, r.note ?? '']);
  body.unshift(['clean', 'none', '-', `${(cleanRunMs / 1000).toFixed(1)} s`, 'baseline (same data, CHUNK_ROWS 1000, 1 replica per stage)']);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(fmt)].join('\n');
}
