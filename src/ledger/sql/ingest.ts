/**
 * Ingest's side of the ledger: batches, the commit counter, exact bucket counts, late data, and
 * the refused lines.
 *
 * Every raw cell names the ingest batch that wrote it. A batch counts once committed, and commits
 * are numbered one at a time under the lock of `ingest_clock`, which the plan takes too: a plan's
 * snapshot is "batches committed up to N", its bucket counts are exactly those batches' first
 * stores of each identity, and a batch committed after the plan is late data for the merchant-days
 * it touched that were planned already.
 */
import { shownHead } from '../shown.js';
import type { Db, Queryable } from '../../adapters/mysql.js';
import type { BucketCountRow, IngestCommit, IngestPort, TouchedMerchantDay } from '../types.js';
import { inList, insertMany, num, statementBudget } from './common.js';
import { StagelineError } from '../../errors.js';

const pairs = (n: number): string => new Array<string>(n).fill('(?, ?)').join(', ');

/**
 * A batch keys its rows by its merchants' days under the registry version it read: when one of
 * them changed zone since, the batch must not count (its cells stay uncommitted, so no plan ever
 * reads them). Ingesting the lines again keys them by the new history.
 */
async function refuseIfZoneChanged(q: Queryable, c: IngestCommit): Promise<void> {
  if (c.zonesVersion === undefined) return;
  const merchants = [...new Set(c.touched.map((t) => t.merchant_id))];
  for (let i = 0; i < merchants.length; i += 1000) {
    const part = merchants.slice(i, i + 1000);
    const changed = await q.query<{ merchant_id: string }>(
      `SELECT merchant_id FROM merchant_zone_changes WHERE version > ? AND merchant_id IN (${inList(part)}) ORDER BY merchant_id`, [c.zonesVersion, ...part]);
    if (changed.length > 0) {
      throw new StagelineError('CONFLICT', `the time zone of ${changed.map((r) => r.merchant_id).join(', ')} changed while this ingest ran: this batch does not count (nothing of it is read); run the ingest again`);
    }
  }
}

async function commit(db: Db, c: IngestCommit): Promise<{ seq: number; late: TouchedMerchantDay[] } | 'already'> {
  const budget = await statementBudget(db);
  return db.tx(async (q: Queryable) => {
    const [clock] = await q.query<{ commit_seq: number }>('SELECT commit_seq FROM ingest_clock WHERE id = 1 FOR UPDATE');
    const [b] = await q.query<{ state: string }>('SELECT state FROM ingest_batches WHERE id = ? FOR UPDATE', [c.batch.id]);
    if (!b) throw new Error(`ingest batch ${c.batch.id} was never opened`);
    if (b.state === 'committed') return 'already' as const;
    await refuseIfZoneChanged(q, c);
    const touched = c.touched.filter((t) => t.rows > 0);
    let buckets: BucketCountRow[] = c.buckets;
    if (touched.length > 0) {
      const racing = new Set<number>();
      for (let i = 0; i < touched.length; i += 500) {
        const part = touched.slice(i, i + 500);
        const rows = await q.query<{ batch_id: number }>(`SELECT DISTINCT batch_id FROM ingest_batch_days WHERE commit_seq > ? AND (day, merchant_id) IN (${pairs(part.length)})`,
          [c.batch.openSeq, ...part.flatMap((t) => [t.day, t.merchant_id])]);
        for (const r of rows) racing.add(num(r.batch_id));
      }
      // Another batch wrote to the same merchant-days and committed while this one was open: which
      // identities this batch stored first is decided again, knowing that commit.
      if (racing.size > 0) buckets = await c.recheck(racing);
    }
    const seq = num(clock?.commit_seq) + 1;
    await q.execute('UPDATE ingest_clock SET commit_seq = ? WHERE id = 1', [seq]);
    await q.execute("UPDATE ingest_batches SET state = 'committed', commit_seq = ?, committed_at = NOW(3) WHERE id = ?", [seq, c.batch.id]);
    await insertMany(q, budget, 'INSERT IGNORE INTO ingest_batch_days (batch_id, day, merchant_id, commit_seq)', '(?, ?, ?, ?)', c.touched, (t) => [c.batch.id, t.day, t.merchant_id, seq]);
    await insertMany(q, budget, 'INSERT INTO raw_buckets (day, merchant_id, bucket, rows_stored)', '(?, ?, ?, ?)', buckets.filter((x) => x.rows > 0),
      (x) => [x.day, x.merchant_id, x.bucket, x.rows], 'ON DUPLICATE KEY UPDATE rows_stored = rows_stored + VALUES(rows_stored)');
    // Late: the day was planned already (every plan writes run_epochs). That covers a merchant new
    // to a planned day too: the day is complete, so without a mark nothing would ever plan it.
    const days = [...new Set(touched.map((t) => t.day))];
    const plannedDays = new Set<string>();
    for (let i = 0; i < days.length; i += 500) {
      const part = days.slice(i, i + 500);
      for (const r of await q.query<{ day: string }>(`SELECT DISTINCT day FROM run_epochs WHERE day IN (${inList(part)})`, part)) plannedDays.add(String(r.day));
    }
    const late: TouchedMerchantDay[] = touched.filter((t) => plannedDays.has(t.day));
    await insertMany(q, budget, 'INSERT INTO late_data (day, merchant_id, `rows`, first_seq, last_seq)', '(?, ?, ?, ?, ?)', late, (t) => [t.day, t.merchant_id, t.rows, seq, seq],
      'ON DUPLICATE KEY UPDATE `rows` = `rows` + VALUES(`rows`), last_seq = VALUES(last_seq)');
    return { seq, late };
  });
}

export function mysqlIngest(db: Db): IngestPort {
  return {
    async open() {
      const r = await db.execute('INSERT INTO ingest_batches (open_seq) SELECT commit_seq FROM ingest_clock WHERE id = 1', []);
      const [row] = await db.query<{ open_seq: number }>('SELECT open_seq FROM ingest_batches WHERE id = ?', [r.insertId]);
      return { id: r.insertId, openSeq: num(row?.open_seq) };
    },
    async committed(ids) {
      const out = new Map<number, number>();
      for (let i = 0; i < ids.length; i += 1000) {
        const part = ids.slice(i, i + 1000);
        const rows = await db.query<{ id: number; commit_seq: number }>(`SELECT id, commit_seq FROM ingest_batches WHERE state = 'committed' AND id IN (${inList(part)})`, [...part]);
        for (const r of rows) out.set(num(r.id), num(r.commit_seq));
      }
      return out;
    },
    commit: (c) => commit(db, c),
    async daySeqs(day) {
      const rows = await db.query<{ batch_id: number; commit_seq: number }>('SELECT DISTINCT batch_id, commit_seq FROM ingest_batch_days WHERE day = ?', [day]);
      return new Map(rows.map((r) => [num(r.batch_id), num(r.commit_seq)]));
    },
    async ofDay(day) {
      const rows = await db.query<{ merchant_id: string; bucket: number; rows: number }>('SELECT merchant_id, bucket, rows_stored AS `rows` FROM raw_buckets WHERE day = ? AND rows_stored > 0 ORDER BY merchant_id, bucket', [day]);
      return rows.map((r) => ({ day, merchant_id: r.merchant_id, bucket: num(r.bucket), rows: num(r.rows) }));
    },
    async merchantsOf(day) {
      const rows = await db.query<{ merchant_id: string }>('SELECT DISTINCT merchant_id FROM raw_buckets WHERE day = ? AND rows_stored > 0 ORDER BY merchant_id', [day]);
      return rows.map((r) => r.merchant_id);
    },
    async dayTotals(days) {
      if (days.length === 0) return new Map();
      const rows = await db.query<{ day: string; rows: number }>(`SELECT day, SUM(rows_stored) AS \`rows\` FROM raw_buckets WHERE day IN (${inList(days)}) GROUP BY day HAVING SUM(rows_stored) > 0`, [...days]);
      return new Map(rows.map((r) => [String(r.day), num(r.rows)]));
    },
    async stored() {
      const [r] = await db.query<{ rows: number | string | null; first: string | null; last: string | null }>('SELECT SUM(rows_stored) AS `rows`, MIN(day) AS first, MAX(day) AS last FROM raw_buckets WHERE rows_stored > 0');
      return r && r.first !== null && r.last !== null ? { rows: num(r.rows), firstDay: String(r.first), lastDay: String(r.last) } : undefined;
    },
    async addRejects(rows) {
      await insertMany(db, await statementBudget(db),
        'INSERT IGNORE INTO ingest_rejects (day, line_sha, day_known, merchant_id, source, line_no, reason, detail, line_bytes, line_head)', '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)', rows,
        (r) => [r.day, r.sha256, r.day_known ? 1 : 0, r.merchant_id === null ? null : Buffer.from(r.merchant_id, 'utf8'), r.source.slice(0, 512), r.line_no, r.reason, r.detail.slice(0, 512), r.line_bytes, r.head]);
    },
    async rejects(day, limit) {
      const reasons = await db.query<{ reason: string; n: number }>('SELECT reason, COUNT(*) AS n FROM ingest_rejects WHERE day = ? GROUP BY reason ORDER BY n DESC', [day]);
      const rows = await db.query<Record<string, unknown>>(`SELECT day, day_known, merchant_id, source, line_no, reason, detail, line_bytes, line_head FROM ingest_rejects WHERE day = ? ORDER BY source, line_no LIMIT ${Number(limit)}`, [day]);
      const byReason = Object.fromEntries(reasons.map((r) => [r.reason, num(r.n)]));
      return {
        total: Object.values(byReason).reduce((a, b) => a + b, 0),
        byReason,
        rows: rows.map((r) => ({
          day: String(r.day), day_known: num(r.day_known) === 1, merchant_id: r.merchant_id === null ? null : Buffer.from(r.merchant_id as Buffer).toString('utf8'),
          source: String(r.source), line_no: num(r.line_no), reason: String(r.reason), detail: String(r.detail), line_bytes: num(r.line_bytes),
          // What the merchant sent, shown as text (and as base64 when it is not valid UTF-8).
          ...shownHead(Buffer.from(r.line_head as Buffer)),
        })),
      };
    },
  };
}
