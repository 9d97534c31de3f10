/**
 * Split, wiring: a chunk task from the chunks topic → scan its bucket ranges in the raw table →
 * visitor batches to the batches topic, invalid events to the quarantine, the ledger sealed per
 * merchant-day, and a ChunkSealed record to the partials topic so summarize re-checks completeness.
 */
import { decodeAs, encode, toBatchEvent, type ChunkTask } from '../../schemas/index.js';
import { rawBucketPrefix } from '../../src/domain/rowkey.js';
import { OffsetRecorder } from '../../src/ledger/checkpoints.js';
import { StagelineError } from '../../src/errors.js';
import type { SourceMessage } from '../../src/runtime/stage-runtime.js';
import type { StageModule, StagePorts } from '../stage.js';
import { VisitorBatcher, batchId, type BatchOut } from './logic.js';

const SCAN_CACHING = 1000;

function handler(ports: StagePorts) {
  const { ledger, producer, tables, tableNames } = ports;
  const batchesTopic = ports.topics.out('batches');
  const sealsTopic = ports.topics.out('partials');
  const offsets = new OffsetRecorder(ledger.offsets);
  return async (task: ChunkTask, meta: SourceMessage): Promise<void> => {
    const epoch = await ledger.runs.currentEpoch(task.day);
    if (epoch === undefined) throw new StagelineError('NOT_FOUND', `no run is recorded for day ${task.day}`, { retryable: false });
    const log = ports.log.child({ day: task.day, epoch, chunkId: task.chunk_id, partition: meta.partition, offset: meta.offset });
    const chunk = await ledger.chunks.get(task.day, epoch, task.chunk_id);
    if (!chunk) {
      log.info('chunk is not in the current plan (superseded by a re-plan): skipped');
      return;
    }
    await offsets.record(task.day, epoch, meta);
    if (chunk.split_done) {
      log.info('chunk already split in this epoch: duplicate absorbed');
      return;
    }
    await ledger.chunks.beginSplit(task.day, epoch, task.chunk_id);
    for (const range of task.ranges) {
      const batcher = new VisitorBatcher(range.merchant_id, task.day, ports.settings.batchVisitors);
      const sends: Array<Promise<void>> = [];
      const emit = (b: BatchOut) => {
        const id = batchId(task.chunk_id, range.merchant_id, b.seq);
        const value = encode('VisitorBatch', {
          day: task.day, epoch, run_id: task.run_id, chunk_id: task.chunk_id, batch_id: id, merchant_id: range.merchant_id, seq: b.seq,
          visitors: b.visitors.map((v) => ({ visitor_id: v.visitor_id, events: v.events.map(toBatchEvent) })),
        });
        const p = producer.enqueue(batchesTopic, { key: id, value });
        p.catch(() => undefined);
        sends.push(p);
      };
      const rows = tables.scan(tableNames.raw, {
        startRow: rawBucketPrefix(range.merchant_id, task.day, range.bucket_lo),
        stopRow: rawBucketPrefix(range.merchant_id, task.day, range.bucket_hi),
        caching: SCAN_CACHING,
      });
      for await (const row of rows) {
        const out = batcher.push(row);
        if (out) emit(out);
      }
      for (const last of batcher.finish()) emit(last);
      await ledger.quarantine.add(task.day, range.merchant_id, batcher.invalid);
      await Promise.all(sends);
      const c = batcher.counts;
      // The seal goes in only after every batch is acknowledged by Kafka: summarize trusts it.
      await ledger.chunks.seal(task.day, epoch, task.chunk_id, range.merchant_id, c);
      await producer.enqueue(sealsTopic, {
        key: range.merchant_id,
        value: encode('ChunkSealed', { day: task.day, epoch, run_id: task.run_id, chunk_id: task.chunk_id, merchant_id: range.merchant_id, rows_read: c.rows_read, valid: c.valid, invalid: c.invalid, batches: c.batches }),
      });
      log.debug({ merchantId: range.merchant_id, ...c }, 'range split');
    }
    await ledger.chunks.finishSplit(task.day, epoch, task.chunk_id);
  };
}

export const splitStage: StageModule<ChunkTask> = {
  name: 'split',
  produces: ['batches', 'partials'],
  units: { progress: 'chunks', lag: 'chunks' },
  decode: (buf) => decodeAs('ChunkTask', buf),
  // Split's events are the rows its scans yield, counted by the worker: no count in the task.
  attribute: (t) => ({ day: t.day, epoch: t.epoch, chunkId: t.chunk_id }),
  create: handler,
};
