/**
 * Transform, wiring: a visitor batch → session rows in the sessions table (the intermediate
 * representation) → one partial aggregate to the partials topic. Both writes are keyed by the
 * batch's content (session row keys, batch id), so a redelivered batch rewrites the same rows and partial.
 */
import { decodeAs, encode, fromBatchEvent, toAvroPartial, type VisitorBatch } from '../../schemas/index.js';
import { sessionRowKey } from '../../src/domain/rowkey.js';
import { EpochCache, OffsetRecorder } from '../../src/ledger/checkpoints.js';
import type { SourceMessage } from '../../src/runtime/stage-runtime.js';
import type { StageModule, StagePorts } from '../stage.js';
import { transformBatch } from './logic.js';

export const SESSION_FAMILY = 's';

function handler(ports: StagePorts) {
  const { ledger, producer, tables, tableNames } = ports;
  const partialsTopic = ports.topics.out('partials');
  const epochs = new EpochCache(ledger.runs);
  const offsets = new OffsetRecorder(ledger.offsets);
  return async (batch: VisitorBatch, meta: SourceMessage): Promise<void> => {
    const epoch = await epochs.get(batch.day, batch.epoch);
    await offsets.record(batch.day, epoch, meta);
    const { partial, sessions } = transformBatch({
      merchant_id: batch.merchant_id,
      day: batch.day,
      visitors: batch.visitors.map((v) => ({ visitor_id: v.visitor_id, events: v.events.map((e) => fromBatchEvent(v.visitor_id, e)) })),
    });
    await tables.putMany(tableNames.sessions, sessions.map((s) => ({
      key: sessionRowKey(s.merchant_id, s.day, s.visitor_id, s.index),
      cells: [{ family: SESSION_FAMILY, qualifier: Buffer.from('d'), value: Buffer.from(JSON.stringify(s)) }],
    })));
    await producer.enqueue(partialsTopic, {
      key: batch.batch_id,
      value: encode('PartialRecord', { day: batch.day, epoch, run_id: batch.run_id, chunk_id: batch.chunk_id, batch_id: batch.batch_id, merchant_id: batch.merchant_id, partial: toAvroPartial(partial) }),
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
