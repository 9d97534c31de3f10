/**
 * Split, wiring: a chunk task → for each of its ranges, scan the raw table, keep the cells of the
 * epoch's snapshot, batch (split/logic.ts) → visitor batches to the batches topic, invalid events to
 * the quarantine, then the seal in the ledger and a ChunkSealed record to the partials topic so
 * summarize re-checks completeness.
 *
 * Everything a range's output depends on comes from the plan: the epoch of the task, the ranges and
 * the rows each must read (chunks.get), the snapshot and the batch shape (plan.meta). A scan that
 * reads another number of rows than the plan counted is not sealed (it fails loudly and is retried),
 * and a seal that disagrees with an earlier seal of the range is recorded as a conflict, which fails
 * the run: neither can make a day complete with wrong numbers.
 */
import { decodeAs, encode, toBatchEvent, type ChunkTask } from '../../schemas/index.js';
import { rawBucketPrefix, qualifierBatch } from '../../src/domain/rowkey.js';
import { EpochMetas, MerchantEpochs, OffsetRecorder, Snapshots } from '../../src/ledger/checkpoints.js';
import { StagelineError } from '../../src/errors.js';
import type { SourceMessage } from '../../src/runtime/stage-runtime.js';
import type { HandleOutcome, StageModule, StagePorts } from '../stage.js';
import { VisitorBatcher, batchId, sealDigest, type BatchOut } from './logic.js';

const SCAN_CACHING = 1000;

function handler(ports: StagePorts) {
  const { ledger, producer, tables, tableNames } = ports;
  const batchesTopic = ports.topics.out('batches');
  const sealsTopic = ports.topics.out('partials');
  const offsets = new OffsetRecorder(ledger.offsets);
  const metas = new EpochMetas(ledger.plan);
  const epochs = new MerchantEpochs(ledger.merchantDays);
  const snapshots = new Snapshots(ledger.ingest);
  return async (task: ChunkTask, meta: SourceMessage): Promise<HandleOutcome> => {
    const { day } = task;
    // The epoch the task is worked under: its own, or a replay's that takes it over; none: dropped.
    const resolved = new Set<number>();
    for (const r of task.ranges) {
      const e = await epochs.resolve(day, r.merchant_id, task.epoch, 'split', metas);
      if (e !== undefined) resolved.add(e);
    }
    if (resolved.size === 0) return 'dropped';
    const epoch = Math.max(...resolved);
    const log = ports.log.child({ day, epoch, chunkId: task.chunk_id, partition: meta.partition, offset: meta.offset });
    const chunk = await ledger.chunks.get(day, epoch, task.chunk_id);
    const plan = await metas.get(day, epoch);
    if (!chunk || !plan) {
      log.info('chunk is not in any plan of its epoch: dropped');
      return 'dropped';
    }
    await offsets.record(day, epoch, meta);
    if (chunk.split_done) {
      log.info('chunk already split in this epoch: duplicate absorbed');
      return;
    }
    await ledger.chunks.beginSplit(day, epoch, task.chunk_id);
    const inSnapshot = await snapshots.includes(day, plan.snapshotSeq);
    let live = 0;
    for (const range of chunk.ranges) {
      const m = range.merchant_id;
      if ((await epochs.resolve(day, m, task.epoch, 'split', metas)) !== epoch) {
        log.info({ merchantId: m }, 'range of a superseded epoch: skipped');
        continue;
      }
      live++;
      const batcher = new VisitorBatcher(m, day, plan.shape, (q) => inSnapshot(qualifierBatch(q)));
      const sends: Array<Promise<void>> = [];
      const emitted: Array<{ id: string; events: number }> = [];
      const emit = (b: BatchOut) => {
        const id = batchId(task.chunk_id, m, b.key);
        emitted.push({ id, events: b.events });
        const value = encode('VisitorBatch', {
          day, epoch, run_id: task.run_id, chunk_id: task.chunk_id, batch_id: id, merchant_id: m, seq: emitted.length - 1,
          visitors: b.visitors.map((v) => ({ visitor_id: v.visitor_id, events: v.events.map(toBatchEvent), fragment: v.fragment, fragments: v.fragments, first_open: v.first_open, last_open: v.last_open })),
          // The merchant-day's frame as the plan fixed it (its zone's day): transform counts hours from it.
          day_start: range.day_start, hours: range.hours,
        });
        const p = producer.enqueue(batchesTopic, { key: id, value });
        p.catch(() => undefined);
        sends.push(p);
      };
      // A scan answer at a time: split reads every stored row, and one await per row was measurable.
      const batches = tables.scanBatches(tableNames.raw, { startRow: rawBucketPrefix(m, day, range.bucket_lo), stopRow: rawBucketPrefix(m, day, range.bucket_hi), caching: SCAN_CACHING });
      for await (const rows of batches) for (const row of rows) for (const b of batcher.push(row)) emit(b);
      for (const b of batcher.finish()) emit(b);
      await Promise.all(sends);
      // Crash tests: every batch of the range is out, nothing sealed yet (the worst place to die).
      await ports.fault?.('split-range', { day, epoch, chunkId: task.chunk_id, merchantId: m, bucketLo: range.bucket_lo, bucketHi: range.bucket_hi });
      const c = batcher.counts;
      if (c.rows_read !== range.expected_rows) {
        // A silent short (or long) scan must never seal: say so, and let the runtime retry.
        const msg = `scan of ${m} buckets ${range.bucket_lo}..${range.bucket_hi - 1} read ${c.rows_read} rows of the snapshot, the plan counted ${range.expected_rows}`;
        await ledger.chunks.recordError(day, epoch, task.chunk_id, m, msg);
        log.error({ merchantId: m, rowsRead: c.rows_read, expected: range.expected_rows }, 'scan does not reconcile with the plan: not sealed, retrying');
        throw new StagelineError('HBASE_ERROR', msg, { retryable: true });
      }
      await ledger.quarantine.add(day, m, batcher.invalid);
      const digest = sealDigest(c, emitted);
      // The seal goes in only after every batch is acknowledged by Kafka: summarize trusts it.
      const outcome = await ledger.chunks.seal({ day, epoch, chunkId: task.chunk_id, merchantId: m, counts: c, digest, batches: emitted });
      if (outcome === 'conflict') {
        log.error({ merchantId: m, ...c }, 'ALARM: this split of the range disagrees with its first seal; nothing overwritten, the run will fail');
        return;
      }
      await producer.enqueue(sealsTopic, {
        key: m,
        value: encode('ChunkSealed', { day, epoch, run_id: task.run_id, chunk_id: task.chunk_id, merchant_id: m, rows_read: c.rows_read, valid: c.valid, invalid: c.invalid, batches: c.batches, digest }),
      });
      log.debug({ merchantId: m, outcome, ...c }, 'range split');
    }
    await ledger.chunks.finishSplit(day, epoch, task.chunk_id);
    if (live === 0) return 'dropped';
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
