/**
 * Transform, wiring: a visitor batch → session rows in HBase (the intermediate representation)
 * → one partial aggregate to the partials topic. Both writes are keyed by the batch's content
 * (session row keys, batch id), so a redelivered batch rewrites the same rows and partial.
 */
import type { App } from '../../src/app.js';
import { decodeAs, encode, fromBatchEvent, toAvroPartial, type VisitorBatch } from '../../schemas/index.js';
import { sessionRowKey } from '../../src/domain/rowkey.js';
import type { StageDefinition, SourceMessage } from '../../src/runtime/stage-runtime.js';
import { EpochCache, OffsetRecorder } from '../../src/runtime/checkpoints.js';
import { topicName } from '../../topology/index.js';
import { transformBatch } from './logic.js';

export const SESSION_FAMILY = 's';

export function transformStage(app: App): StageDefinition<VisitorBatch> {
  const partialsTopic = topicName(app.cfg.namespace, 'partials');
  const epochs = new EpochCache(app.db());
  const offsets = new OffsetRecorder(app.db());
  return {
    stage: 'transform',
    decode: (buf) => decodeAs('VisitorBatch', buf),
    async handle(batch: VisitorBatch, meta: SourceMessage): Promise<void> {
      const epoch = await epochs.get(batch.day, batch.epoch);
      await offsets.record(batch.day, epoch, meta);
      const { partial, sessions } = transformBatch({
        merchant_id: batch.merchant_id,
        day: batch.day,
        visitors: batch.visitors.map((v) => ({ visitor_id: v.visitor_id, events: v.events.map((e) => fromBatchEvent(v.visitor_id, e)) })),
      });
      await app.hbase().putMany(app.tables.sessions, sessions.map((s) => ({
        key: sessionRowKey(s.merchant_id, s.day, s.visitor_id, s.index),
        cells: [{ family: SESSION_FAMILY, qualifier: Buffer.from('d'), value: Buffer.from(JSON.stringify(s)) }],
      })));
      const producer = await app.producer();
      await producer.enqueue(partialsTopic, {
        key: batch.batch_id,
        value: encode('PartialRecord', { day: batch.day, epoch, run_id: batch.run_id, chunk_id: batch.chunk_id, batch_id: batch.batch_id, merchant_id: batch.merchant_id, partial: toAvroPartial(partial) }),
      });
    },
  };
}
