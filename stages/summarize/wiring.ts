/**
 * Summarize, wiring: store each partial once (its batch id is the key), and after every partial
 * or seal re-check the merchant-day's ledger; when it reconciles, merge, write the summary and
 * per-product rows to the tables, and mark the merchant-day done in the ledger.
 *
 * Two replicas may finish the same merchant-day at once (one got the last partial, the other the
 * seal): both compute the same summary from the same rows and write the same cells, so the race
 * is harmless. Each re-check runs after its own insert committed, so the last writer always sees
 * everything.
 */
import { StagelineError } from '../../src/errors.js';
import { decode, decodeAs, fromAvroPartial, type ChunkSealed, type PartialRecord } from '../../schemas/index.js';
import { productRowKey, summaryRowKey } from '../../src/domain/rowkey.js';
import { finalizeSummary, mergeAll } from '../../src/domain/aggregate.js';
import type { ProductStats } from '../../src/domain/types.js';
import { EpochCache, OffsetRecorder } from '../../src/ledger/checkpoints.js';
import type { SourceMessage } from '../../src/runtime/stage-runtime.js';
import type { Row } from '../../src/adapters/ports.js';
import type { StageModule, StagePorts } from '../stage.js';
import { canonicalJson, isComplete } from './logic.js';

export const SUMMARY_FAMILY = 's';
export const PRODUCT_FAMILY = 'p';

export type SummarizeMessage = { name: 'PartialRecord'; value: PartialRecord } | { name: 'ChunkSealed'; value: ChunkSealed };

/** The per-product table: every product of the merchant-day, not only the top 10. */
function productRows(day: string, merchantId: string, products: Record<string, ProductStats>): Row[] {
  return Object.entries(products).map(([id, s]) => ({
    key: productRowKey(day, merchantId, id),
    cells: [{ family: PRODUCT_FAMILY, qualifier: Buffer.from('d'), value: Buffer.from(JSON.stringify({ product_id: id, views: s.views, add_to_carts: s.add_to_carts, units_sold: s.units_sold, revenue_cents: s.revenue_cents })) }],
  }));
}

async function finishIfComplete(ports: StagePorts, day: string, epoch: number, merchantId: string): Promise<void> {
  const { ledger, tables, tableNames } = ports;
  const state = await ledger.merchantDays.completeness(day, epoch, merchantId);
  if (!state || state.state === 'done' || !isComplete(state)) return;
  const payloads = await ledger.merchantDays.partialPayloads(day, epoch, merchantId);
  const merged = mergeAll(payloads.map((p) => fromAvroPartial(decodeAs('PartialRecord', p).partial)));
  const summary = finalizeSummary(merchantId, day, merged, state.invalid);
  await tables.putMany(tableNames.products, productRows(day, merchantId, merged.products));
  await tables.put(tableNames.summaries, {
    key: summaryRowKey(day, merchantId),
    cells: [
      { family: SUMMARY_FAMILY, qualifier: Buffer.from('json'), value: Buffer.from(canonicalJson(summary)) },
      { family: SUMMARY_FAMILY, qualifier: Buffer.from('epoch'), value: Buffer.from(String(epoch)) },
    ],
  });
  await ledger.merchantDays.markDone(day, epoch, merchantId, summary.events, summary.invalid_events);
  ports.log.info({ day, epoch, merchantId, events: summary.events }, 'merchant-day summarized');
}

function handler(ports: StagePorts) {
  const { ledger } = ports;
  const epochs = new EpochCache(ledger.runs);
  const offsets = new OffsetRecorder(ledger.offsets);
  return async (msg: SummarizeMessage, meta: SourceMessage): Promise<void> => {
    const day = msg.value.day;
    const epoch = await epochs.get(day, msg.value.epoch);
    await offsets.record(day, epoch, meta);
    if (msg.name === 'PartialRecord') {
      const p = msg.value;
      await ledger.merchantDays.addPartial({ day, epoch, merchant_id: p.merchant_id, batch_id: p.batch_id, chunk_id: p.chunk_id, payload: meta.value ?? Buffer.alloc(0) });
    }
    await finishIfComplete(ports, day, epoch, msg.value.merchant_id);
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
