/**
 * Transform, wiring: a visitor batch → session rows in the sessions table (the intermediate
 * representation) → one partial aggregate to the partials topic. Both are keyed by what the batch
 * is (session rows by merchant-day, epoch, visitor and session; the partial by the batch id, a hash
 * of the batch's content), so a redelivered batch rewrites the same rows and the same partial. A
 * batch of a superseded epoch is dropped.
 */
import { decodeAs, encode, fromBatchEvent, toAvroPartial, type VisitorBatch } from '../../schemas/index.js';
import { sessionRowKey } from '../../src/domain/rowkey.js';
import { utcFrame } from '../../src/domain/aggregate.js';
import type { SessionRecord } from '../../src/domain/types.js';
import { EpochMetas, MerchantEpochs, OffsetRecorder } from '../../src/ledger/checkpoints.js';
import type { Row } from '../../src/adapters/ports.js';
import type { SourceMessage } from '../../src/runtime/stage-runtime.js';
import type { HandleOutcome, StageModule, StagePorts } from '../stage.js';
import { transformBatch } from './logic.js';

export const SESSION_FAMILY = 's';

/** A session's row: JSON of the record, under its merchant-day, epoch, visitor and index. */
export function sessionRow(s: SessionRecord, epoch: number): Row {
  return { key: sessionRowKey(s.merchant_id, s.day, epoch, s.visitor_id, s.index), cells: [{ family: SESSION_FAMILY, qualifier: Buffer.from('d'), value: Buffer.from(JSON.stringify(s)) }] };
}

function handler(ports: StagePorts) {
  const { ledger, producer, tables, tableNames } = ports;
  const partialsTopic = ports.topics.out('partials');
  const epochs = new MerchantEpochs(ledger.merchantDays);
  const metas = new EpochMetas(ledger.plan);
  const offsets = new OffsetRecorder(ledger.offsets);
  return async (batch: VisitorBatch, meta: SourceMessage): Promise<HandleOutcome> => {
    // The epoch the batch was made for, carried end to end (never the day's current one), unless a
    // replay from transform takes the batch over as its own; a superseded batch is dropped.
    const { day } = batch;
    const epoch = await epochs.resolve(day, batch.merchant_id, batch.epoch, 'transform', metas);
    if (epoch === undefined) return 'dropped';
    await offsets.record(day, epoch, meta);
    const { partial, sessions } = transformBatch({
      merchant_id: batch.merchant_id,
      day,
      frame: batch.day_start >= 0 ? { start: batch.day_start, hours: batch.hours } : utcFrame(day),
      visitors: batch.visitors.map((v) => ({ ...v, events: v.events.map((e) => fromBatchEvent(v.visitor_id, e)) })),
    });
    await tables.putMany(tableNames.sessions, sessions.map((s) => sessionRow(s, epoch)));
    await producer.enqueue(partialsTopic, {
      key: batch.batch_id,
      value: encode('PartialRecord', { day, epoch, run_id: batch.run_id, chunk_id: batch.chunk_id, batch_id: batch.batch_id, merchant_id: batch.merchant_id, partial: toAvroPartial(partial) }),
    });
  };
}

export const transformStage: StageModule<VisitorBatch> = {
  name: 'transform',
  produces: ['partials'],
  units: { progress: 'batches', lag: 'batches' },
  decode: (buf) => decodeAs('VisitorBatch', buf),
  attribute: (b) => ({ day: b.day, epoch: b.epoch, chunkId: b.chunk_id, events: b.visitors.reduce((a, v) => a + v.events.length, 0) }),
  create: handler,
};
