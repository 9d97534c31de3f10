/**
 * The read model of a run: one set of queries that the master follows, `status` shows and the
 * master's metrics export (before, the master and status each ran their own version of these).
 */
import type { Db } from '../../adapters/mysql.js';
import type { ChunkReport, ProgressPort, RunProgress, StageWork } from '../types.js';
import { iso, msOrNull, num, tsCol } from './common.js';
import { getRun } from './runs.js';

async function read(db: Db, day: string, stuckAfterSec: number): Promise<RunProgress | undefined> {
  const run = await getRun(db, day);
  if (!run) return undefined;
  const { epoch } = run;
  const [c] = await db.query<Record<string, unknown>>(
    `SELECT SUM(published_at IS NOT NULL) AS published, SUM(split_done_at IS NOT NULL) AS split,
            SUM(published_at IS NOT NULL AND split_done_at IS NULL AND published_at < NOW(3) - INTERVAL ? SECOND) AS stuck,
            UNIX_TIMESTAMP(NOW(3)) * 1000 AS now
     FROM run_chunks WHERE day = ? AND epoch = ?`, [stuckAfterSec, day, epoch]);
  const [l] = await db.query<Record<string, unknown>>('SELECT COUNT(*) AS n, SUM(sealed_at IS NOT NULL) AS sealed, SUM(batches) AS batches, SUM(rows_read) AS rows_read, SUM(valid) AS valid FROM chunk_ledger WHERE day = ? AND epoch = ?', [day, epoch]);
  const [md] = await db.query<Record<string, unknown>>(
    `SELECT SUM(md.state = 'done') AS done, SUM(COALESCE(md.events, 0) + COALESCE(md.invalid_events, 0)) AS events, SUM(md.refused_partials) AS refused,
            SUM(md.state = 'pending' AND x.unsealed = 0 AND x.last_seal < NOW(3) - INTERVAL ? SECOND) AS stuck
     FROM merchant_days md
     LEFT JOIN (SELECT merchant_id, SUM(sealed_at IS NULL) AS unsealed, MAX(sealed_at) AS last_seal FROM chunk_ledger WHERE day = ? AND epoch = ? GROUP BY merchant_id) x ON x.merchant_id = md.merchant_id
     WHERE md.day = ? AND md.epoch = ?`, [stuckAfterSec, day, epoch, day, epoch]);
  const [p] = await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM partials WHERE day = ? AND epoch = ?', [day, epoch]);
  const work = await db.query<Record<string, unknown>>(
    `SELECT stage, SUM(messages) AS messages, SUM(events) AS events, COUNT(DISTINCT replica) AS replicas, SUM(queued_ms) AS queued_ms, SUM(handle_ms) AS handle_ms, SUM(write_ms) AS write_ms,
            ${tsCol('MIN(first_at)', 'first_at')}, ${tsCol('MAX(last_at)', 'last_at')} FROM chunk_work WHERE day = ? AND epoch = ? GROUP BY stage`, [day, epoch]);
  const dl = await db.query<{ stage: string; n: number }>('SELECT stage, COUNT(*) AS n FROM dead_letters WHERE failed_at >= (SELECT started_at FROM runs WHERE day = ?) GROUP BY stage', [day]);
  const dropped = await db.query<{ stage: string; n: number }>('SELECT stage, SUM(dropped) AS n FROM chunk_work WHERE day = ? GROUP BY stage', [day]);
  const alarms = await db.query<{ chunk_id: string; merchant_id: string; conflict: string | null; last_error: string | null }>(
    'SELECT chunk_id, merchant_id, conflict, last_error FROM chunk_ledger WHERE day = ? AND epoch = ? AND (conflict IS NOT NULL OR (last_error IS NOT NULL AND sealed_at IS NULL)) ORDER BY chunk_id, merchant_id LIMIT 100', [day, epoch]);
  const now = msOrNull(c?.now) ?? Date.now();
  return {
    run,
    chunks: { published: num(c?.published), split: num(c?.split), stuck: num(c?.stuck) },
    ledger: { ranges: num(l?.n), sealed: num(l?.sealed), batches: num(l?.batches), rows_read: num(l?.rows_read), valid: num(l?.valid) },
    merchantDays: { done: num(md?.done), stuck: num(md?.stuck), events: num(md?.events), refusedPartials: num(md?.refused) },
    partials: num(p?.n),
    conflicts: alarms.filter((a) => a.conflict !== null).map((a) => ({ chunk_id: a.chunk_id, merchant_id: a.merchant_id, detail: a.conflict! })),
    errors: alarms.filter((a) => a.conflict === null && a.last_error !== null).map((a) => ({ chunk_id: a.chunk_id, merchant_id: a.merchant_id, error: a.last_error! })),
    work: Object.fromEntries(work.map((w): [string, StageWork] => [String(w.stage), {
      messages: num(w.messages), events: num(w.events), replicas: num(w.replicas), queued_ms: num(w.queued_ms), handle_ms: num(w.handle_ms), write_ms: num(w.write_ms),
      first_at: msOrNull(w.first_at) ?? now, last_at: msOrNull(w.last_at) ?? now,
    }])),
    deadLetters: Object.fromEntries(dl.map((d) => [d.stage, num(d.n)])),
    dropped: Object.fromEntries(dropped.filter((d) => num(d.n) > 0).map((d) => [d.stage, num(d.n)])),
    now,
  };
}

async function chunkReports(db: Db, day: string, epoch: number): Promise<ChunkReport[]> {
  const chunks = await db.query<Record<string, unknown>>(`SELECT chunk_id, seq, est_rows, publish_count, ${tsCol('published_at')}, ${tsCol('split_done_at')} FROM run_chunks WHERE day = ? AND epoch = ? ORDER BY seq`, [day, epoch]);
  const work = await db.query<Record<string, unknown>>(
    `SELECT chunk_id, stage, SUM(messages) AS messages, SUM(events) AS events, COUNT(DISTINCT replica) AS replicas, SUM(queued_ms) AS queued_ms, SUM(handle_ms) AS handle_ms, SUM(write_ms) AS write_ms,
            ${tsCol('MIN(first_at)', 'first_at')}, ${tsCol('MAX(last_at)', 'last_at')} FROM chunk_work WHERE day = ? AND epoch = ? GROUP BY chunk_id, stage`,
    [day, epoch]);
  const byChunk = new Map<string, ChunkReport['stages']>();
  for (const w of work) {
    const m = byChunk.get(String(w.chunk_id)) ?? {};
    m[String(w.stage)] = { messages: num(w.messages), events: num(w.events), replicas: num(w.replicas), queued_ms: num(w.queued_ms), handle_ms: num(w.handle_ms), write_ms: num(w.write_ms), first_at: msOrNull(w.first_at) ?? 0, last_at: msOrNull(w.last_at) ?? 0 };
    byChunk.set(String(w.chunk_id), m);
  }
  return chunks.map((c) => ({
    chunk_id: String(c.chunk_id), seq: num(c.seq), est_rows: num(c.est_rows), publish_count: num(c.publish_count),
    published_at: iso(c.published_at), split_done_at: iso(c.split_done_at), stages: byChunk.get(String(c.chunk_id)) ?? {},
  }));
}

export function mysqlProgress(db: Db): ProgressPort {
  return { read: (day, stuckAfterSec) => read(db, day, stuckAfterSec), chunkReports: (day, epoch) => chunkReports(db, day, epoch) };
}
