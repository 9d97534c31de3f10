/**
 * Split, wiring: a chunk task from the chunks topic → scan its bucket ranges in HBase → visitor
 * batches to the batches topic, invalid events to the quarantine, the ledger sealed per
 * merchant-day, and a ChunkSealed record to the partials topic so summarize re-checks completeness.
 */
import type { App } from '../../src/app.js';
import { decodeAs, encode, toBatchEvent, type ChunkTask } from '../../schemas/index.js';
import { rawBucketPrefix } from '../../src/domain/rowkey.js';
import type { StageDefinition, SourceMessage } from '../../src/runtime/stage-runtime.js';
import { currentEpoch, OffsetRecorder } from '../../src/runtime/checkpoints.js';
import { topicName } from '../../topology/index.js';
import { VisitorBatcher, batchId, type BatchOut, type InvalidEvent } from './logic.js';

const SCAN_CACHING = 1000;

async function quarantine(app: App, day: string, merchantId: string, rows: InvalidEvent[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) {
    const part = rows.slice(i, i + 500);
    const params = part.flatMap((r) => [day, merchantId, r.visitor_id, r.event_id, r.reason, r.detail.slice(0, 512), r.raw]);
    await app.db().execute(`INSERT IGNORE INTO quarantine (day, merchant_id, visitor_id, event_id, reason, detail, raw) VALUES ${part.map(() => '(?, ?, ?, ?, ?, ?, ?)').join(', ')}`, params);
  }
}

export function splitStage(app: App): StageDefinition<ChunkTask> {
  const batchesTopic = topicName(app.cfg.namespace, 'batches');
  const partialsTopic = topicName(app.cfg.namespace, 'partials');
  const offsets = new OffsetRecorder(app.db());
  return {
    stage: 'split',
    decode: (buf) => decodeAs('ChunkTask', buf),
    async handle(task: ChunkTask, meta: SourceMessage): Promise<void> {
      const db = app.db();
      const epoch = await currentEpoch(db, task.day);
      const log = app.log.child({ stage: 'split', day: task.day, epoch, chunkId: task.chunk_id, partition: meta.partition, offset: meta.offset });
      const [chunk] = await db.query<{ split_done_at: string | null }>('SELECT split_done_at FROM run_chunks WHERE day = ? AND epoch = ? AND chunk_id = ?', [task.day, epoch, task.chunk_id]);
      if (!chunk) {
        log.info('chunk is not in the current plan (superseded by a re-plan): skipped');
        return;
      }
      await offsets.record(task.day, epoch, meta);
      if (chunk.split_done_at !== null) {
        log.info('chunk already split in this epoch: duplicate absorbed');
        return;
      }
      await db.execute('UPDATE run_chunks SET split_runs = split_runs + 1 WHERE day = ? AND epoch = ? AND chunk_id = ?', [task.day, epoch, task.chunk_id]);
      const producer = await app.producer();
      for (const range of task.ranges) {
        const batcher = new VisitorBatcher(range.merchant_id, task.day, app.cfg.pipeline.batchVisitors);
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
        const rows = app.hbase().scan(app.tables.raw, {
          startRow: rawBucketPrefix(range.merchant_id, task.day, range.bucket_lo),
          stopRow: rawBucketPrefix(range.merchant_id, task.day, range.bucket_hi),
          caching: SCAN_CACHING,
        });
        for await (const row of rows) {
          const out = batcher.push(row);
          if (out) emit(out);
        }
        for (const last of batcher.finish()) emit(last);
        await quarantine(app, task.day, range.merchant_id, batcher.invalid);
        await Promise.all(sends);
        const c = batcher.counts;
        // The seal goes in only after every batch is acknowledged by Kafka: summarize trusts it.
        await db.execute(
          'UPDATE chunk_ledger SET rows_read = ?, valid = ?, invalid = ?, batches = ?, sealed_at = COALESCE(sealed_at, NOW(3)) WHERE day = ? AND epoch = ? AND merchant_id = ? AND chunk_id = ?',
          [c.rows_read, c.valid, c.invalid, c.batches, task.day, epoch, range.merchant_id, task.chunk_id],
        );
        await producer.enqueue(partialsTopic, {
          key: range.merchant_id,
          value: encode('ChunkSealed', { day: task.day, epoch, run_id: task.run_id, chunk_id: task.chunk_id, merchant_id: range.merchant_id, rows_read: c.rows_read, valid: c.valid, invalid: c.invalid, batches: c.batches }),
        });
        log.debug({ merchantId: range.merchant_id, ...c }, 'range split');
      }
      await db.execute('UPDATE run_chunks SET split_done_at = COALESCE(split_done_at, NOW(3)) WHERE day = ? AND epoch = ? AND chunk_id = ?', [task.day, epoch, task.chunk_id]);
    },
  };
}
