/**
 * Summarize, wiring: store each partial once, checked against its range's sealed batch ids, and
 * after every partial or seal look at the merchant-day's counters; when they reconcile, merge the
 * partials a page at a time (linear in their size), join the sessions that fragments cut, and write
 * the summary, the per-product rows and the joined sessions' rows, all keyed by the epoch, then
 * mark the merchant-day done.
 *
 * Two replicas may finish the same merchant-day at once (one got the last partial, the other the
 * seal): both compute the same summary from the same partials and write the same rows. A message
 * of a superseded epoch is dropped; a late finisher of an old epoch writes only its own epoch's
 * rows, which nothing reads once a newer epoch is done.
 */
import { StagelineError } from '../../src/errors.js';
import { decode, decodeAs, fromAvroPartial, type ChunkSealed, type PartialRecord } from '../../schemas/index.js';
import { prefixEnd, productEpochPrefix, productRowKey, sessionEpochPrefix, summaryRowKey } from '../../src/domain/rowkey.js';
import { createMerger, finalizeSummary, joinPieces } from '../../src/domain/aggregate.js';
import type { ProductStats } from '../../src/domain/types.js';
import { EpochMetas, MerchantEpochs, OffsetRecorder } from '../../src/ledger/checkpoints.js';
import type { SourceMessage } from '../../src/runtime/stage-runtime.js';
import type { Row } from '../../src/adapters/ports.js';
import type { HandleOutcome, StageModule, StagePorts } from '../stage.js';
import { sessionRow } from '../transform/wiring.js';
import { canonicalJson, isComplete } from './logic.js';

export const SUMMARY_FAMILY = 's';
export const PRODUCT_FAMILY = 'p';

export type SummarizeMessage = { name: 'PartialRecord'; value: PartialRecord } | { name: 'ChunkSealed'; value: ChunkSealed };

/** The per-product rows: every product of the merchant-day, not only the top 10. */
function productRows(day: string, merchantId: string, epoch: number, products: Record<string, ProductStats>): Row[] {
  return Object.entries(products).map(([id, s]) => ({
    key: productRowKey(day, merchantId, epoch, id),
    cells: [{ family: PRODUCT_FAMILY, qualifier: Buffer.from('d'), value: Buffer.from(JSON.stringify({ product_id: id, views: s.views, add_to_carts: s.add_to_carts, units_sold: s.units_sold, revenue_cents: s.revenue_cents })) }],
  }));
}

async function finishIfComplete(ports: StagePorts, day: string, epoch: number, merchantId: string): Promise<void> {
  const { ledger, tables, tableNames } = ports;
  const state = await ledger.merchantDays.completeness(day, epoch, merchantId);
  if (!state || state.state === 'done' || !isComplete(state)) return;
  // One accumulator, each page of partials added into it and let go: memory is the merged result
  // plus one page, whatever the number of partials.
  const merger = createMerger(state.frame.hours);
  let pages = 0;
  for await (const page of ledger.merchantDays.partialPages(day, epoch, merchantId)) {
    if (pages++ === 1) await ports.fault?.('summarize-merge');
    for (const payload of page) {
      const wire = decodeAs('PartialRecord', payload).partial;
      // Products go to the merger as the wire's rows (see createMerger); the rest as a partial.
      const p = fromAvroPartial({ ...wire, products: [] });
      if (p.hourly_events.length !== state.frame.hours) {
        // The plan fixed the day's hours; a partial of another length was cut for another frame.
        throw new StagelineError('INTERNAL', `partial of ${merchantId} ${day} e${epoch} has ${p.hourly_events.length} hourly entries, the plan's frame ${state.frame.hours} (${state.frame.time_zone})`);
      }
      merger.add(p, wire.products);
    }
  }
  const merged = merger.result();
  const joined = joinPieces(merged, merchantId, day);
  const summary = finalizeSummary(merchantId, day, merged, state.invalid, state.frame);
  await tables.putMany(tableNames.sessions, joined.map((s) => sessionRow(s, epoch)));
  await tables.putMany(tableNames.products, productRows(day, merchantId, epoch, merged.products));
  await tables.put(tableNames.summaries, {
    key: summaryRowKey(day, merchantId, epoch),
    cells: [
      { family: SUMMARY_FAMILY, qualifier: Buffer.from('json'), value: Buffer.from(canonicalJson(summary)) },
      { family: SUMMARY_FAMILY, qualifier: Buffer.from('epoch'), value: Buffer.from(String(epoch)) },
    ],
  });
  if (await ledger.merchantDays.markDone(day, epoch, merchantId, summary.events, summary.invalid_events)) {
    ports.log.info({ day, epoch, merchantId, events: summary.events, partials: state.receivedBatches }, 'merchant-day summarized');
    await dropOlderEpochs(ports, day, merchantId);
  }
}

/**
 * A merchant-day done under a new epoch replaces its older epochs' rows as a set: their sessions,
 * products and summaries are deleted (nothing reads them once the ledger shows the new epoch). A
 * writer of an old epoch still running could add some back; `stageline purge` sweeps those.
 */
async function dropOlderEpochs(ports: StagePorts, day: string, merchantId: string): Promise<void> {
  const { ledger, tables, tableNames } = ports;
  const old = (await ledger.retention.superseded(day)).filter((x) => x.merchant_id === merchantId);
  for (const { epoch } of old) {
    for (const [table, prefix] of [[tableNames.sessions, sessionEpochPrefix(merchantId, day, epoch)], [tableNames.products, productEpochPrefix(day, merchantId, epoch)]] as const) {
      await deleteAll(tables, table, prefix);
    }
    await tables.deleteRow(tableNames.summaries, summaryRowKey(day, merchantId, epoch));
  }
  if (old.length > 0) ports.log.info({ day, merchantId, epochs: old.map((o) => o.epoch) }, 'rows of superseded epochs deleted');
}

/**
 * Deletes every row under a prefix, a bounded number at a time, as Multi RPCs (one Mutate per row
 * made a re-run several times slower than a first run).
 */
export async function deleteAll(tables: StagePorts['tables'], table: string, prefix: Buffer): Promise<number> {
  let n = 0;
  let keys: Buffer[] = [];
  const flush = async () => {
    await tables.deleteMany(table, keys);
    n += keys.length;
    keys = [];
  };
  for await (const row of tables.scan(table, { startRow: prefix, stopRow: prefixEnd(prefix), caching: 1000 })) {
    keys.push(row.key);
    if (keys.length >= 1000) await flush();
  }
  await flush();
  return n;
}

function handler(ports: StagePorts) {
  const { ledger } = ports;
  const epochs = new MerchantEpochs(ledger.merchantDays);
  const metas = new EpochMetas(ledger.plan);
  const offsets = new OffsetRecorder(ledger.offsets);
  return async (msg: SummarizeMessage, meta: SourceMessage): Promise<HandleOutcome> => {
    const { day, merchant_id: merchantId } = msg.value;
    const epoch = await epochs.resolve(day, merchantId, msg.value.epoch, 'summarize', metas);
    if (epoch === undefined) return 'dropped';
    await offsets.record(day, epoch, meta);
    if (msg.name === 'PartialRecord') {
      const p = msg.value;
      const outcome = await ledger.merchantDays.addPartial({ day, epoch, merchant_id: merchantId, batch_id: p.batch_id, chunk_id: p.chunk_id, payload: meta.value ?? Buffer.alloc(0) });
      if (outcome === 'refused') ports.log.warn({ day, epoch, merchantId, batchId: p.batch_id, chunkId: p.chunk_id }, 'partial refused: its batch id is not in the sealed set of its range (another split\'s batch); counted, never merged');
    }
    await finishIfComplete(ports, day, epoch, merchantId);
  };
}

export const summarizeStage: StageModule<SummarizeMessage> = {
  name: 'summarize',
  produces: [],
  units: { progress: 'merchant-days', lag: 'partials' },
  decode(buf) {
    const m = decode(buf);
    if (m.name === 'PartialRecord' || m.name === 'ChunkSealed') return m as SummarizeMessage;
    throw new StagelineError('DECODE_FAILED', `summarize does not take ${m.name} messages`);
  },
  attribute: (m) => ({ day: m.value.day, epoch: m.value.epoch, chunkId: m.value.chunk_id, events: m.name === 'PartialRecord' ? Number(m.value.partial.events) : 0 }),
  create: handler,
};
