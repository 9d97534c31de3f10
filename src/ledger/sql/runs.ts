/** Runs and leases: the `runs` table, one row per day (current epoch, state, the master's lease). */
import type { Db, Queryable } from '../../adapters/mysql.js';
import type { AcquireRequest, AcquireResult, ReplayEpoch, RunRecord, RunsPort, RunState } from '../types.js';
import { msOrNull, num, tsCol } from './common.js';

const RUN_COLUMNS = `day, epoch, run_id, state, from_stage, chunks, merchant_days, planned_rows, lock_owner,
  (lock_owner IS NOT NULL AND lock_expires_at > NOW(3)) AS lock_live, error,
  ${tsCol('started_at')}, ${tsCol('first_publish_at')}, ${tsCol('completed_at')}`;

export function toRunRecord(r: Record<string, unknown>): RunRecord {
  return {
    day: String(r.day), epoch: num(r.epoch), run_id: String(r.run_id), state: String(r.state) as RunState, from_stage: String(r.from_stage),
    chunks: num(r.chunks), merchant_days: num(r.merchant_days), planned_rows: num(r.planned_rows),
    lock_owner: r.lock_owner === null || r.lock_owner === undefined ? null : String(r.lock_owner), lock_live: num(r.lock_live) === 1,
    error: r.error === null || r.error === undefined ? null : String(r.error),
    started_at: msOrNull(r.started_at) ?? 0, first_publish_at: msOrNull(r.first_publish_at), completed_at: msOrNull(r.completed_at),
  };
}

export async function getRun(q: Queryable, day: string, forUpdate = false): Promise<RunRecord | undefined> {
  const [r] = await q.query<Record<string, unknown>>(`SELECT ${RUN_COLUMNS} FROM runs WHERE day = ?${forUpdate ? ' FOR UPDATE' : ''}`, [day]);
  return r ? toRunRecord(r) : undefined;
}

async function insertRun(q: Queryable, day: string, runId: string, owner: string, leaseSec: number): Promise<void> {
  await q.execute("INSERT INTO runs (day, epoch, run_id, state, lock_owner, lock_expires_at) VALUES (?, 1, ?, 'planning', ?, NOW(3) + INTERVAL ? SECOND)", [day, runId, owner, leaseSec]);
}

async function openNewEpoch(q: Queryable, day: string, epoch: number, runId: string, owner: string, leaseSec: number): Promise<void> {
  await q.execute(
    `UPDATE runs SET epoch = ?, run_id = ?, state = 'planning', from_stage = 'split', chunks = 0, merchant_days = 0, planned_rows = 0, error = NULL,
       completed_at = NULL, first_publish_at = NULL, started_at = NOW(3), lock_owner = ?, lock_expires_at = NOW(3) + INTERVAL ? SECOND WHERE day = ?`,
    [epoch, runId, owner, leaseSec, day]);
}

async function resumeRun(q: Queryable, day: string, state: RunState, owner: string, leaseSec: number): Promise<void> {
  await q.execute('UPDATE runs SET state = ?, error = NULL, lock_owner = ?, lock_expires_at = NOW(3) + INTERVAL ? SECOND WHERE day = ?', [state, owner, leaseSec, day]);
}

async function acquire(db: Db, o: AcquireRequest): Promise<AcquireResult> {
  return db.tx(async (q) => {
    const run = await getRun(q, o.day, true);
    if (!run) {
      const runId = o.newRunId(1);
      await insertRun(q, o.day, runId, o.owner, o.leaseSec);
      return { kind: 'acquired', run: { day: o.day, epoch: 1, run_id: runId, state: 'planning' } };
    }
    if (run.lock_owner !== null && run.lock_owner !== o.owner && run.lock_live) return { kind: 'held', owner: run.lock_owner };
    if (run.state === 'complete' && !o.rerun) return { kind: 'already-complete', epoch: run.epoch };
    if (run.state === 'complete') {
      const epoch = run.epoch + 1;
      const runId = o.newRunId(epoch);
      await openNewEpoch(q, o.day, epoch, runId, o.owner, o.leaseSec);
      return { kind: 'acquired', run: { day: o.day, epoch, run_id: runId, state: 'planning' } };
    }
    // planning, running, or failed: resume the recorded epoch.
    const state: RunState = run.state === 'failed' ? 'running' : run.state;
    await resumeRun(q, o.day, state, o.owner, o.leaseSec);
    return { kind: 'acquired', run: { day: o.day, epoch: run.epoch, run_id: run.run_id, state } };
  });
}

async function openReplayEpoch(db: Db, p: ReplayEpoch): Promise<boolean> {
  return db.tx(async (q) => {
    const [run] = await q.query<{ epoch: number }>('SELECT epoch FROM runs WHERE day = ? FOR UPDATE', [p.day]);
    if (!run || run.epoch !== p.fromEpoch) return false;
    await q.execute(
      `INSERT IGNORE INTO run_chunks (day, epoch, chunk_id, seq, ranges, est_rows, publish_count, published_at, split_done_at, split_runs)
       SELECT day, ?, chunk_id, seq, ranges, est_rows, publish_count, COALESCE(published_at, NOW(3)), ${p.keepSplit ? 'split_done_at' : 'NULL'}, 0 FROM run_chunks WHERE day = ? AND epoch = ?`,
      [p.toEpoch, p.day, p.fromEpoch]);
    await q.execute(
      `INSERT IGNORE INTO chunk_ledger (day, epoch, chunk_id, merchant_id, bucket_lo, bucket_hi, rows_read, valid, invalid, batches, sealed_at)
       SELECT day, ?, chunk_id, merchant_id, bucket_lo, bucket_hi, ${p.keepSplit ? 'rows_read, valid, invalid, batches, sealed_at' : 'NULL, NULL, NULL, NULL, NULL'} FROM chunk_ledger WHERE day = ? AND epoch = ?`,
      [p.toEpoch, p.day, p.fromEpoch]);
    await q.execute('INSERT IGNORE INTO merchant_days (day, epoch, merchant_id, chunks, est_rows) SELECT day, ?, merchant_id, chunks, est_rows FROM merchant_days WHERE day = ? AND epoch = ?',
      [p.toEpoch, p.day, p.fromEpoch]);
    // The new epoch's offset ranges start as the old ones for the stages it does not redo.
    await q.execute('INSERT IGNORE INTO run_offsets (day, epoch, topic, kafka_partition, first_offset, last_offset) SELECT day, ?, topic, kafka_partition, first_offset, last_offset FROM run_offsets WHERE day = ? AND epoch = ? AND topic = ?',
      [p.toEpoch, p.day, p.fromEpoch, p.topic]);
    await q.execute(
      "UPDATE runs SET epoch = ?, state = 'running', from_stage = ?, error = NULL, completed_at = NULL, started_at = NOW(3), first_publish_at = NOW(3), lock_owner = NULL, lock_expires_at = NULL WHERE day = ?",
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
    async latestDay() {
      const [r] = await db.query<{ day: string }>('SELECT day FROM runs ORDER BY updated_at DESC LIMIT 1');
      return r?.day;
    },
    acquire: (o) => acquire(db, o),
    async renewLease(day, owner, leaseSec) {
      const r = await db.execute('UPDATE runs SET lock_expires_at = NOW(3) + INTERVAL ? SECOND WHERE day = ? AND lock_owner = ?', [leaseSec, day, owner]);
      return r.affectedRows > 0;
    },
    async releaseLeaseByPrefix(day, prefix) {
      const r = await db.execute('UPDATE runs SET lock_owner = NULL, lock_expires_at = NULL WHERE day = ? AND LEFT(lock_owner, CHAR_LENGTH(?)) = ?', [day, prefix, prefix]);
      return r.affectedRows > 0;
    },
    async markFirstPublish(day) {
      await db.execute('UPDATE runs SET first_publish_at = COALESCE(first_publish_at, NOW(3)) WHERE day = ?', [day]);
    },
    async complete(day, epoch) {
      const r = await db.execute("UPDATE runs SET state = 'complete', completed_at = NOW(3), lock_owner = NULL, lock_expires_at = NULL WHERE day = ? AND epoch = ?", [day, epoch]);
      return r.affectedRows > 0;
    },
    async fail(day, epoch, _owner, report) {
      const r = await db.execute("UPDATE runs SET state = 'failed', error = ?, lock_owner = NULL, lock_expires_at = NULL WHERE day = ? AND epoch = ?", [report, day, epoch]);
      return r.affectedRows > 0;
    },
    openReplayEpoch: (p) => openReplayEpoch(db, p),
  };
}
