/**
 * Merchant-days and partials: summarize's side of the ledger. Completeness is two counters per
 * merchant-day, kept by the seals and by each new partial (never a recount of the partials), and a
 * partial counts only when its batch id is in the sealed set of its range.
 */
import type { Db, Queryable } from '../../adapters/mysql.js';
import type { MerchantDaysPort, PartialOutcome, PartialRow } from '../types.js';
import { FRAME_COLUMNS, frameFromRow, msOrNull, num } from './common.js';

async function addPartial(db: Db, p: PartialRow): Promise<PartialOutcome> {
  return db.tx(async (q: Queryable): Promise<PartialOutcome> => {
    // Shared lock on the range's ledger row: a seal of the range (which takes it for update) is
    // either wholly before this partial or wholly after it.
    const [range] = await q.query<{ sealed: number }>('SELECT sealed_at IS NOT NULL AS sealed FROM chunk_ledger WHERE day = ? AND epoch = ? AND merchant_id = ? AND chunk_id = ? LOCK IN SHARE MODE',
      [p.day, p.epoch, p.merchant_id, p.chunk_id]);
    const ins = await q.execute('INSERT IGNORE INTO partials (day, epoch, merchant_id, batch_id, chunk_id, payload) VALUES (?, ?, ?, ?, ?, ?)', [p.day, p.epoch, p.merchant_id, p.batch_id, p.chunk_id, p.payload]);
    if (ins.affectedRows === 0) return 'duplicate';
    const refuse = async (): Promise<PartialOutcome> => {
      await q.execute('UPDATE partials SET refused = 1 WHERE day = ? AND epoch = ? AND merchant_id = ? AND batch_id = ?', [p.day, p.epoch, p.merchant_id, p.batch_id]);
      await q.execute('UPDATE merchant_days SET refused_partials = refused_partials + 1 WHERE day = ? AND epoch = ? AND merchant_id = ?', [p.day, p.epoch, p.merchant_id]);
      return 'refused';
    };
    // A chunk this epoch's plan does not hold (a superseded plan's partial): never counted.
    if (!range) return refuse();
    if (num(range.sealed) === 0) return 'stored'; // the seal will settle it
    const got = await q.execute('UPDATE sealed_batches SET received = 1 WHERE day = ? AND epoch = ? AND merchant_id = ? AND batch_id = ? AND received = 0', [p.day, p.epoch, p.merchant_id, p.batch_id]);
    if (got.affectedRows === 0) return refuse();
    await q.execute('UPDATE merchant_days SET batches_received = batches_received + 1 WHERE day = ? AND epoch = ? AND merchant_id = ?', [p.day, p.epoch, p.merchant_id]);
    return 'stored';
  });
}

async function* partialPages(db: Db, day: string, epoch: number, merchantId: string, pageSize: number): AsyncIterable<Buffer[]> {
  let after = '';
  for (;;) {
    const rows = await db.query<{ batch_id: string; payload: Buffer }>(
      `SELECT p.batch_id, p.payload FROM partials p
       JOIN sealed_batches sb ON sb.day = p.day AND sb.epoch = p.epoch AND sb.merchant_id = p.merchant_id AND sb.batch_id = p.batch_id AND sb.received = 1
       WHERE p.day = ? AND p.epoch = ? AND p.merchant_id = ? AND p.batch_id > ? AND p.refused = 0 ORDER BY p.batch_id LIMIT ${Number(pageSize)}`,
      [day, epoch, merchantId, after]);
    if (rows.length === 0) return;
    yield rows.map((r) => r.payload);
    after = rows[rows.length - 1]!.batch_id;
    if (rows.length < pageSize) return;
  }
}

export function mysqlMerchantDays(db: Db): MerchantDaysPort {
  return {
    addPartial: (p) => addPartial(db, p),
    async completeness(day, epoch, merchantId) {
      const [r] = await db.query<Record<string, unknown>>(
        `SELECT state, chunks, chunks_sealed, batches_expected, batches_received, invalid_sealed, refused_partials, ${FRAME_COLUMNS} FROM merchant_days WHERE day = ? AND epoch = ? AND merchant_id = ?`, [day, epoch, merchantId]);
      if (!r) return undefined;
      return {
        state: String(r.state) as 'pending' | 'done', chunks: num(r.chunks), sealed: num(r.chunks_sealed), expectedBatches: num(r.batches_expected),
        receivedBatches: num(r.batches_received), invalid: num(r.invalid_sealed), refusedPartials: num(r.refused_partials), frame: frameFromRow(day, r),
      };
    },
    partialPages: (day, epoch, merchantId, pageSize = 200) => partialPages(db, day, epoch, merchantId, pageSize),
    async markDone(day, epoch, merchantId, events, invalidEvents) {
      return db.tx(async (q) => {
        const r = await q.execute("UPDATE merchant_days SET state = 'done', events = ?, invalid_events = ?, done_at = NOW(3) WHERE day = ? AND epoch = ? AND merchant_id = ? AND state = 'pending'",
          [events, invalidEvents, day, epoch, merchantId]);
        if (r.affectedRows === 0) return false;
        // The summary report shows is the newest finished epoch's; a late finisher of an older one never moves it back.
        await q.execute('UPDATE merchant_day_epochs SET done_epoch = GREATEST(COALESCE(done_epoch, 0), ?) WHERE day = ? AND merchant_id = ? AND epoch >= ?', [epoch, day, merchantId, epoch]);
        return true;
      });
    },
    async epochs(day) {
      const rows = await db.query<Record<string, unknown>>(
        `SELECT e.merchant_id, e.epoch, e.done_epoch, UNIX_TIMESTAMP(re.planned_at) * 1000 AS computed_at FROM merchant_day_epochs e
         LEFT JOIN run_epochs re ON re.day = e.day AND re.epoch = e.done_epoch WHERE e.day = ? ORDER BY e.merchant_id`, [day]);
      return rows.map((r) => ({ merchant_id: String(r.merchant_id), epoch: num(r.epoch), done_epoch: r.done_epoch === null ? undefined : num(r.done_epoch), computed_at: msOrNull(r.computed_at) ?? undefined }));
    },
  };
}
