/**
 * Summarize, wiring: store each partial once (its batch id is the key), and after every partial
 * or seal re-check the merchant-day's ledger; when it reconciles, merge, write the summary and
 * per-product rows to HBase, and mark the merchant-day done in MySQL.
 *
 * Two replicas may finish the same merchant-day at once (one got the last partial, the other the
 * seal): both compute the same summary from the same rows and write the same cells, so the race
 * is harmless. Each re-check runs after its own insert committed, so the last writer always sees
 * everything.
 */
import type { App } from '../../src/app.js';
import { StagelineError } from '../../src/errors.js';
import { decode, decodeAs, fromAvroPartial, type ChunkSealed, type PartialRecord } from '../../schemas/index.js';
import { productRowKey, summaryRowKey } from '../../src/domain/rowkey.js';
import type { StageDefinition, SourceMessage } from '../../src/runtime/stage-runtime.js';
import { EpochCache, OffsetRecorder } from '../../src/runtime/checkpoints.js';
import { canonicalJson, isComplete, summarize, type LedgerState } from './logic.js';

export const SUMMARY_FAMILY = 's';
export const PRODUCT_FAMILY = 'p';

type SummarizeMessage = { name: 'PartialRecord'; value: PartialRecord } | { name: 'ChunkSealed'; value: ChunkSealed };

/**
 * The merchant-day's state and its ledger in one round trip. Only partials of chunks in this
 * epoch's plan count: a stray partial of a superseded plan must not.
 */
export async function ledgerState(app: App, day: string, epoch: number, merchantId: string): Promise<(LedgerState & { state: string }) | undefined> {
  const [r] = await app.db().query<{ state: string; chunks: number | null; sealed: string | number | null; expected: string | number | null; invalid: string | number | null; received: number | null }>(
    `SELECT md.state, l.chunks, l.sealed, l.expected, l.invalid,
       (SELECT COUNT(*) FROM partials p JOIN chunk_ledger c ON c.day = p.day AND c.epoch = p.epoch AND c.merchant_id = p.merchant_id AND c.chunk_id = p.chunk_id
         WHERE p.day = md.day AND p.epoch = md.epoch AND p.merchant_id = md.merchant_id) AS received
     FROM merchant_days md
     LEFT JOIN (SELECT day, epoch, merchant_id, COUNT(*) AS chunks, SUM(sealed_at IS NOT NULL) AS sealed, SUM(batches) AS expected, SUM(invalid) AS invalid
                FROM chunk_ledger WHERE day = ? AND epoch = ? AND merchant_id = ? GROUP BY day, epoch, merchant_id) l
       ON l.day = md.day AND l.epoch = md.epoch AND l.merchant_id = md.merchant_id
     WHERE md.day = ? AND md.epoch = ? AND md.merchant_id = ?`,
    [day, epoch, merchantId, day, epoch, merchantId],
  );
  if (!r) return undefined;
  return { state: r.state, chunks: Number(r.chunks ?? 0), sealed: Number(r.sealed ?? 0), expectedBatches: Number(r.expected ?? 0), receivedBatches: Number(r.received ?? 0), invalid: Number(r.invalid ?? 0) };
}

async function finishIfComplete(app: App, day: string, epoch: number, merchantId: string): Promise<void> {
  const db = app.db();
  const state = await ledgerState(app, day, epoch, merchantId);
  if (!state || state.state === 'done' || !isComplete(state)) return;
  const rows = await db.query<{ payload: Buffer }>(
    `SELECT p.payload FROM partials p JOIN chunk_ledger c ON c.day = p.day AND c.epoch = p.epoch AND c.merchant_id = p.merchant_id AND c.chunk_id = p.chunk_id
     WHERE p.day = ? AND p.epoch = ? AND p.merchant_id = ? ORDER BY p.batch_id`,
    [day, epoch, merchantId],
  );
  const partials = rows.map((r) => fromAvroPartial(decodeAs('PartialRecord', r.payload).partial));
  const summary = summarize(merchantId, day, partials, state.invalid);
  const hbase = app.hbase();
  await hbase.putMany(app.tables.products, productRows(day, merchantId, partials));
  await hbase.put(app.tables.summaries, {
    key: summaryRowKey(day, merchantId),
    cells: [
      { family: SUMMARY_FAMILY, qualifier: Buffer.from('json'), value: Buffer.from(canonicalJson(summary)) },
      { family: SUMMARY_FAMILY, qualifier: Buffer.from('epoch'), value: Buffer.from(String(epoch)) },
    ],
  });
  await db.execute("UPDATE merchant_days SET state = 'done', events = ?, invalid_events = ?, done_at = NOW(3) WHERE day = ? AND epoch = ? AND merchant_id = ? AND state = 'pending'", [summary.events, summary.invalid_events, day, epoch, merchantId]);
  app.log.info({ stage: 'summarize', day, epoch, merchantId, events: summary.events }, 'merchant-day summarized');
}

/** The per-product table: every product of the merchant-day, not only the top 10. */
function productRows(day: string, merchantId: string, partials: ReturnType<typeof fromAvroPartial>[]) {
  const all = new Map<string, { views: number; add_to_carts: number; units_sold: number; revenue_cents: number }>();
  for (const p of partials) {
    for (const [id, s] of Object.entries(p.products)) {
      const cur = all.get(id) ?? { views: 0, add_to_carts: 0, units_sold: 0, revenue_cents: 0 };
      cur.views += s.views;
      cur.add_to_carts += s.add_to_carts;
      cur.units_sold += s.units_sold;
      cur.revenue_cents += s.revenue_cents;
      all.set(id, cur);
    }
  }
  return [...all].map(([id, s]) => ({ key: productRowKey(day, merchantId, id), cells: [{ family: PRODUCT_FAMILY, qualifier: Buffer.from('d'), value: Buffer.from(JSON.stringify({ product_id: id, ...s })) }] }));
}

export function summarizeStage(app: App): StageDefinition<SummarizeMessage> {
  const epochs = new EpochCache(app.db());
  const offsets = new OffsetRecorder(app.db());
  return {
    stage: 'summarize',
    decode(buf) {
      const m = decode(buf);
      if (m.name === 'PartialRecord' || m.name === 'ChunkSealed') return m as SummarizeMessage;
      throw new StagelineError('DECODE_FAILED', `summarize does not take ${m.name} messages`);
    },
    async handle(msg: SummarizeMessage, meta: SourceMessage): Promise<void> {
      const db = app.db();
      const day = msg.value.day;
      const epoch = await epochs.get(day, msg.value.epoch);
      await offsets.record(day, epoch, meta);
      if (msg.name === 'PartialRecord') {
        const p = msg.value;
        await db.execute('INSERT IGNORE INTO partials (day, epoch, merchant_id, batch_id, chunk_id, payload) VALUES (?, ?, ?, ?, ?, ?)', [day, epoch, p.merchant_id, p.batch_id, p.chunk_id, meta.value ?? Buffer.alloc(0)]);
      }
      await finishIfComplete(app, day, epoch, msg.value.merchant_id);
    },
  };
}
