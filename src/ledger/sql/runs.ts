/** Runs and leases: the `runs` table, one row per day (current epoch, state, the master's lease). */
import type { Db, Queryable } from '../../adapters/mysql.js';
import type { AcquireRequest, AcquireResult, ReplayEpoch, RunRecord, RunsPort, RunState, RunTrigger } from '../types.js';
import { inList, msOrNull, num, tsCol } from './common.js';

const RUN_COLUMNS = `day, epoch, run_id, state, from_stage, plan_kind, \`trigger\`, chunks, merchant_days, planned_rows, lock_owner,
  (lock_owner IS NOT NULL AND lock_expires_at > NOW(3)) AS lock_live, error,
  ${tsCol('started_at')}, ${tsCol('first_publish_at')}, ${tsCol('completed_at')}, ${tsCol('lock_expires_at')}, ${tsCol('lock_renewed_at')}`;

export function toRunRecord(r: Record<string, unknown>): RunRecord {
  return {
    day: String(r.day), epoch: num(r.epoch), run_id: String(r.run_id), state: String(r.state) as RunState, from_stage: String(r.from_stage),
    plan_kind: String(r.plan_kind) as RunRecord['plan_kind'], trigger: String(r.trigger) as RunRecord['trigger'],
    chunks: num(r.chunks), merchant_days: num(r.merchant_days), planned_rows: num(r.planned_rows),
    lock_owner: r.lock_owner === null || r.lock_owner === undefined ? null : String(r.lock_owner), lock_live: num(r.lock_live) === 1,
    lock_expires_at: msOrNull(r.lock_expires_at), lock_renewed_at: msOrNull(r.lock_renewed_at),
    error: r.error === null || r.error === undefined ? null : String(r.error),
    started_at: msOrNull(r.started_at) ?? 0, first_publish_at: msOrNull(r.first_publish_at), completed_at: msOrNull(r.completed_at),
  };
}

export async function getRun(q: Queryable, day: string, forUpdate = false): Promise<RunRecord | undefined> {
  const [r] = await q.query<Record<string, unknown>>(`SELECT ${RUN_COLUMNS} FROM runs WHERE day = ?${forUpdate ? ' FOR UPDATE' : ''}`, [day]);
  return r ? toRunRecord(r) : undefined;
}

async function insertRun(q: Queryable, day: string, runId: string, owner: string, leaseSec: number, trigger: RunTrigger): Promise<void> {
  await q.execute("INSERT INTO runs (day, epoch, run_id, state, `trigger`, lock_owner, lock_expires_at, lock_renewed_at) VALUES (?, 1, ?, 'planning', ?, ?, NOW(3) + INTERVAL ? SECOND, NOW(3))", [day, runId, trigger, owner, leaseSec]);
}

async function openNewEpoch(q: Queryable, day: string, epoch: number, runId: string, owner: string, leaseSec: number, kind: 'full' | 'late', trigger: RunTrigger): Promise<void> {
  await q.execute(
    `UPDATE runs SET epoch = ?, run_id = ?, state = 'planning', from_stage = 'split', plan_kind = ?, \`trigger\` = ?, chunks = 0, merchant_days = 0, planned_rows = 0, error = NULL,
       completed_at = NULL, first_publish_at = NULL, started_at = NOW(3), lock_owner = ?, lock_expires_at = NOW(3) + INTERVAL ? SECOND, lock_renewed_at = NOW(3) WHERE day = ?`,
    [epoch, runId, kind, trigger, owner, leaseSec, day]);
}

async function resumeRun(q: Queryable, day: string, state: RunState, owner: string, leaseSec: number): Promise<void> {
  await q.execute('UPDATE runs SET state = ?, error = NULL, lock_owner = ?, lock_expires_at = NOW(3) + INTERVAL ? SECOND, lock_renewed_at = NOW(3) WHERE day = ?', [state, owner, leaseSec, day]);
}

/**
 * Whether a complete (or waiting) day has something to catch up: a due merchant-day with late data,
 * or a due merchant with rows and no plan yet (not due when the day was planned, or new to the day).
 */
async function catchUpWaiting(q: Queryable, day: string, due: readonly string[] | undefined): Promise<boolean> {
  if (due !== undefined && due.length === 0) return false;
  const only = due === undefined ? '' : ` AND merchant_id IN (${inList(due)})`;
  const params = due === undefined ? [day] : [day, ...due];
  if ((await q.query(`SELECT 1 FROM late_data WHERE day = ? AND \`rows\` > 0${only} LIMIT 1`, params)).length > 0) return true;
  const unplanned = await q.query(
    `SELECT 1 FROM raw_buckets rb WHERE rb.day = ? AND rb.rows_stored > 0${only.replace('merchant_id', 'rb.merchant_id')}
       AND NOT EXISTS (SELECT 1 FROM merchant_day_epochs e WHERE e.day = rb.day AND e.merchant_id = rb.merchant_id) LIMIT 1`, params);
  return unplanned.length > 0;
}

async function acquire(db: Db, o: AcquireRequest): Promise<AcquireResult> {
  return db.tx(async (q) => {
    const run = await getRun(q, o.day, true);
    const trigger = o.trigger ?? 'nightly';
    if (!run) {
      const runId = o.newRunId(1);
      await insertRun(q, o.day, runId, o.owner, o.leaseSec, trigger);
      return { kind: 'acquired', run: { day: o.day, epoch: 1, run_id: runId, state: 'planning', kind: 'full' } };
    }
    if (run.lock_owner !== null && run.lock_owner !== o.owner && run.lock_live) return { kind: 'held', owner: run.lock_owner };
    if (run.state === 'complete' || run.state === 'waiting') {
      const late = o.mode === 'late' && (await catchUpWaiting(q, o.day, o.due));
      if (o.mode !== 'rerun' && !late) return { kind: 'already-complete', epoch: run.epoch, state: run.state };
      const epoch = run.epoch + 1;
      const runId = o.newRunId(epoch);
      const kind = late ? 'late' : 'full';
      await openNewEpoch(q, o.day, epoch, runId, o.owner, o.leaseSec, kind, trigger);
      return { kind: 'acquired', run: { day: o.day, epoch, run_id: runId, state: 'planning', kind } };
    }
    // planning, running, or failed: resume the recorded epoch (a failed one that never got its plan plans again).
    const planned = (await q.query('SELECT 1 FROM run_epochs WHERE day = ? AND epoch = ?', [o.day, run.epoch])).length > 0;
    const state: RunState = run.state === 'failed' ? (planned ? 'running' : 'planning') : run.state;
    await resumeRun(q, o.day, state, o.owner, o.leaseSec);
    return { kind: 'acquired', run: { day: o.day, epoch: run.epoch, run_id: run.run_id, state, kind: run.plan_kind } };
  });
}

async function openReplayEpoch(db: Db, p: ReplayEpoch): Promise<boolean> {
  return db.tx(async (q) => {
    const [run] = await q.query<{ epoch: number }>('SELECT epoch FROM runs WHERE day = ? FOR UPDATE', [p.day]);
    if (!run || run.epoch !== p.fromEpoch) return false;
    const args = [p.toEpoch, p.day, p.fromEpoch];
    // The same snapshot and batch shape: a replay reads and cuts exactly what the epoch it repeats did.
    await q.execute("INSERT IGNORE INTO run_epochs (day, epoch, kind, snapshot_seq, batch_visitors, batch_bytes, partial_bytes, from_stage, source_epoch) SELECT day, ?, 'replay', snapshot_seq, batch_visitors, batch_bytes, partial_bytes, ?, ? FROM run_epochs WHERE day = ? AND epoch = ?",
      [p.toEpoch, p.fromStage, p.sourceEpoch, p.day, p.fromEpoch]);
    await q.execute(
      `INSERT IGNORE INTO run_chunks (day, epoch, chunk_id, seq, ranges, est_rows, publish_count, published_at, split_done_at, split_runs)
       SELECT day, ?, chunk_id, seq, ranges, est_rows, publish_count, COALESCE(published_at, NOW(3)), ${p.keepSplit ? 'split_done_at' : 'NULL'}, 0 FROM run_chunks WHERE day = ? AND epoch = ?`, args);
    await q.execute(
      `INSERT IGNORE INTO chunk_ledger (day, epoch, chunk_id, merchant_id, bucket_lo, bucket_hi, expected_rows, rows_read, valid, invalid, batches, sealed_at, digest)
       SELECT day, ?, chunk_id, merchant_id, bucket_lo, bucket_hi, expected_rows, ${p.keepSplit ? 'rows_read, valid, invalid, batches, sealed_at, digest' : 'NULL, NULL, NULL, NULL, NULL, NULL'} FROM chunk_ledger WHERE day = ? AND epoch = ?`, args);
    if (p.keepSplit) {
      // Split's seals carry over; whether each partial arrived is for the new epoch to find out again.
      await q.execute('INSERT IGNORE INTO sealed_batches (day, epoch, merchant_id, batch_id, chunk_id, received) SELECT day, ?, merchant_id, batch_id, chunk_id, 0 FROM sealed_batches WHERE day = ? AND epoch = ?', args);
    }
    await q.execute(
      `INSERT IGNORE INTO merchant_days (day, epoch, merchant_id, chunks, est_rows, time_zone, day_start_ms, day_end_ms, hours, day_start_iso, day_end_iso, chunks_sealed, batches_expected, invalid_sealed)
       SELECT day, ?, merchant_id, chunks, est_rows, time_zone, day_start_ms, day_end_ms, hours, day_start_iso, day_end_iso, ${p.keepSplit ? 'chunks_sealed, batches_expected, invalid_sealed' : '0, 0, 0'} FROM merchant_days WHERE day = ? AND epoch = ?`, args);
    await q.execute('UPDATE merchant_day_epochs e JOIN merchant_days md ON md.day = e.day AND md.merchant_id = e.merchant_id AND md.epoch = ? SET e.epoch = GREATEST(e.epoch, ?) WHERE e.day = ?', [p.fromEpoch, p.toEpoch, p.day]);
    // The new epoch's offset ranges start as the old ones for the stages it does not redo.
    await q.execute('INSERT IGNORE INTO run_offsets (day, epoch, topic, kafka_partition, first_offset, last_offset) SELECT day, ?, topic, kafka_partition, first_offset, last_offset FROM run_offsets WHERE day = ? AND epoch = ? AND topic = ?',
      [...args, p.topic]);
    await q.execute(
      "UPDATE runs SET epoch = ?, state = 'running', from_stage = ?, `trigger` = 'replay', error = NULL, completed_at = NULL, started_at = NOW(3), first_publish_at = NOW(3), lock_owner = NULL, lock_expires_at = NULL WHERE day = ?",
      [p.toEpoch, p.fromStage, p.day]);
    return true;
  });
}

export function mysqlRuns(db: Db): RunsPort {
  return {
    get: (day) => getRun(db, day),
    async currentEpoch(day) {
      const [r] = await db.query<{ epoch: number }>('SELECT epoch FROM runs WHERE day = ?', [day]);
      return r ? num(r.epoch) : undefined;
    },
    async range(from, to) {
      const rows = await db.query<Record<string, unknown>>(`SELECT ${RUN_COLUMNS} FROM runs WHERE day BETWEEN ? AND ? ORDER BY day`, [from, to]);
      return rows.map(toRunRecord);
    },
    async active() {
      const rows = await db.query<Record<string, unknown>>(`SELECT ${RUN_COLUMNS} FROM runs WHERE lock_owner IS NOT NULL AND lock_expires_at > NOW(3) ORDER BY day`);
      return rows.map(toRunRecord);
    },
    async latestDay() {
      const [r] = await db.query<{ day: string }>('SELECT day FROM runs ORDER BY updated_at DESC LIMIT 1');
      return r?.day;
    },
    acquire: (o) => acquire(db, o),
    async renewLease(day, owner, leaseSec) {
      const r = await db.execute('UPDATE runs SET lock_expires_at = NOW(3) + INTERVAL ? SECOND, lock_renewed_at = NOW(3) WHERE day = ? AND lock_owner = ?', [leaseSec, day, owner]);
      return r.affectedRows > 0;
    },
    async releaseLease(day, owner) {
      const r = await db.execute('UPDATE runs SET lock_owner = NULL, lock_expires_at = NULL WHERE day = ? AND lock_owner = ?', [day, owner]);
      return r.affectedRows > 0;
    },
    async releaseLeaseByPrefix(day, prefix) {
      const r = await db.execute('UPDATE runs SET lock_owner = NULL, lock_expires_at = NULL WHERE day = ? AND LEFT(lock_owner, CHAR_LENGTH(?)) = ?', [day, prefix, prefix]);
      return r.affectedRows > 0;
    },
    async markFirstPublish(day, owner) {
      const r = await db.execute('UPDATE runs SET first_publish_at = COALESCE(first_publish_at, NOW(3)) WHERE day = ? AND lock_owner = ?', [day, owner]);
      return r.affectedRows > 0;
    },
    async complete(day, epoch, owner, state = 'complete') {
      const r = await db.execute('UPDATE runs SET state = ?, completed_at = NOW(3), lock_owner = NULL, lock_expires_at = NULL WHERE day = ? AND epoch = ? AND lock_owner = ?', [state, day, epoch, owner]);
      return r.affectedRows > 0;
    },
    async fail(day, epoch, owner, report) {
      const r = await db.execute("UPDATE runs SET state = 'failed', error = ?, lock_owner = NULL, lock_expires_at = NULL WHERE day = ? AND epoch = ? AND lock_owner = ?", [report, day, epoch, owner]);
      return r.affectedRows > 0;
    },
    openReplayEpoch: (p) => openReplayEpoch(db, p),
  };
}
