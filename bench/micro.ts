/**
 * Where the time goes: each primitive a stage runs, timed alone in the bench process on the same
 * raw rows, in the stage's own order and with the stage's own code (the pure logic modules, the
 * adapters, the real SQL of the checkpoints and ledger). Costs are µs per raw event, so they add
 * up per stage and compare with the workers' measured CPU µs/event.
 *
 * Writes go to a scratch day (SCRATCH_DAY) of the bench namespace and a scratch topic, so the
 * real day's rows, topics and consumer groups are never touched.
 */
import type { App } from '../src/app.js';
import { rawBucketPrefix, productRowKey, summaryRowKey } from '../src/domain/rowkey.js';
import type { Row } from '../src/adapters/hbase.js';
import { createConsumer } from '../src/adapters/kafka.js';
import { decodeAs, encode, fromAvroPartial, fromBatchEvent, toAvroPartial, toBatchEvent } from '../schemas/index.js';
import { VisitorBatcher, batchId, type BatchOut } from '../stages/split/logic.js';
import { transformBatch } from '../stages/transform/logic.js';
import { canonicalJson } from '../stages/summarize/logic.js';
import { sessionRow } from '../stages/transform/wiring.js';
import { addInto, emptyPartial, finalizeSummary, utcFrame } from '../src/domain/aggregate.js';
import { batchShape } from '../src/master/master.js';
import { EpochCache, OffsetRecorder } from '../src/ledger/checkpoints.js';
import type { SourceMessage } from '../src/runtime/stage-runtime.js';
import { merchantsOfDay } from './direct.js';
import { round, say } from './common.js';

export const SCRATCH_DAY = '1999-01-01';
const SCRATCH_CHUNK = 'bench.scratch.c0';

export interface Primitive {
  stage: 'split' | 'transform' | 'summarize' | '-';
  what: string;
  ms: number;
  usPerEvent: number;
  note?: string;
}

export interface MicroResult {
  events: number;
  merchants: number;
  batches: number;
  avgBatchBytes: number;
  sessionsPerEvent: number;
  partialsBytes: number;
  primitives: Primitive[];
  /** client-side throughput of the raw primitives */
  scanRowsPerSec: number;
  putRowsPerSec: number;
  putRowsPerSecSequentialBatches: number;
}

class Clock {
  readonly ms = new Map<string, number>();
  async time<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this.ms.set(name, (this.ms.get(name) ?? 0) + performance.now() - t0);
    }
  }
  get(name: string): number {
    return this.ms.get(name) ?? 0;
  }
}

async function setupScratchDay(app: App, merchants: string[]): Promise<void> {
  const db = app.db();
  for (const t of ['runs', 'chunk_ledger', 'merchant_days', 'partials', 'run_offsets']) await db.execute(`DELETE FROM ${t} WHERE day = ?`, [SCRATCH_DAY]);
  await db.execute("INSERT INTO runs (day, epoch, run_id, state) VALUES (?, 1, 'bench-scratch', 'running')", [SCRATCH_DAY]);
  for (const m of merchants) {
    // Not sealed: each partial pays the "stored, waiting for the seal" path, as most partials of a
    // merchant-day do in the pipeline (transform runs ahead of split's seal).
    await db.execute('INSERT INTO chunk_ledger (day, epoch, chunk_id, merchant_id, bucket_lo, bucket_hi) VALUES (?, 1, ?, ?, 0, 64)', [SCRATCH_DAY, SCRATCH_CHUNK, m]);
    await db.execute('INSERT INTO merchant_days (day, epoch, merchant_id, chunks, est_rows) VALUES (?, 1, ?, 1, 0)', [SCRATCH_DAY, m]);
  }
}

/** Merchants of the day, in id order, until about `maxEvents` raw rows. */
async function sampleMerchants(app: App, day: string, maxEvents: number): Promise<Array<{ merchant_id: string; rows: number }>> {
  const all = await merchantsOfDay(app, day);
  const out: Array<{ merchant_id: string; rows: number }> = [];
  let n = 0;
  for (const m of all) {
    if (n >= maxEvents) break;
    out.push(m);
    n += m.rows;
  }
  return out;
}

export async function runMicro(app: App, day: string, maxEvents: number, scratchTopic: string): Promise<MicroResult> {
  const merchants = await sampleMerchants(app, day, maxEvents);
  await setupScratchDay(app, merchants.map((m) => m.merchant_id));
  const hbase = app.hbase();
  const clock = new Clock();
  const producer = await app.producer();
  const buckets = app.topology.buckets;
  const batchValues: Buffer[] = [];
  const partialValues: Array<{ merchant: string; batch: string; value: Buffer }> = [];
  let events = 0;
  let batches = 0;
  let batchBytes = 0;
  let sessions = 0;
  let sessionRows: Row[] = [];
  const allSessionRows: Row[] = [];
  let offset = 0;
  const meta = (topic: string): SourceMessage => ({ topic, partition: 0, offset: String(offset++), key: null, value: null });
  const ledger = app.ledger();
  const tEpochs = new EpochCache(ledger.runs);
  const sEpochs = new EpochCache(ledger.runs);
  const tOffsets = new OffsetRecorder(ledger.offsets);
  const sOffsets = new OffsetRecorder(ledger.offsets);

  for (const { merchant_id } of merchants) {
    // split: scan, dedupe/validate/batch, encode
    const rows = await clock.time('scan', async () => {
      const got: Row[] = [];
      for await (const r of hbase.scan(app.tables.raw, { startRow: rawBucketPrefix(merchant_id, day, 0), stopRow: rawBucketPrefix(merchant_id, day, buckets), caching: 1000 })) got.push(r);
      return got;
    });
    events += rows.length;
    const outs = await clock.time('validate', () => {
      const b = new VisitorBatcher(merchant_id, day, batchShape(1_048_588, app.cfg.pipeline.batchVisitors));
      const o: BatchOut[] = [];
      for (const r of rows) o.push(...b.push(r));
      o.push(...b.finish());
      return o;
    });
    for (const [seq, b] of outs.entries()) {
      const id = batchId(SCRATCH_CHUNK, merchant_id, b.key);
      const value = await clock.time('avroEncodeBatch', () => encode('VisitorBatch', {
        day: SCRATCH_DAY, epoch: 1, run_id: 'bench', chunk_id: SCRATCH_CHUNK, batch_id: id, merchant_id, seq,
        visitors: b.visitors.map((v) => ({ ...v, events: v.events.map(toBatchEvent) })),
        day_start: Date.parse(`${day}T00:00:00Z`), hours: 24,
      }));
      batches++;
      batchBytes += value.length;
      batchValues.push(value);

      // transform: checkpoints, decode, aggregate, session rows, partial
      await clock.time('mysqlTransform', async () => {
        const epoch = await tEpochs.get(SCRATCH_DAY, 1);
        await tOffsets.record(SCRATCH_DAY, epoch, meta(`${scratchTopic}.t`));
      });
      const batch = await clock.time('avroDecodeBatch', () => {
        const v = decodeAs('VisitorBatch', value);
        return { ...v, frame: utcFrame(day), visitors: v.visitors.map((x) => ({ ...x, events: x.events.map((e) => fromBatchEvent(x.visitor_id, e)) })) };
      });
      const { partial, sessions: recs } = await clock.time('aggregate', () => transformBatch(batch));
      sessions += recs.length;
      sessionRows = await clock.time('sessionsJson', () => recs.map((s) => sessionRow({ ...s, day: SCRATCH_DAY }, 1)));
      await clock.time('sessionsPut', () => hbase.putMany(app.tables.sessions, sessionRows));
      if (allSessionRows.length < 200_000) allSessionRows.push(...sessionRows);
      const pv = await clock.time('avroEncodePartial', () => encode('PartialRecord', { day: SCRATCH_DAY, epoch: 1, run_id: 'bench', chunk_id: SCRATCH_CHUNK, batch_id: id, merchant_id, partial: toAvroPartial(partial) }));
      partialValues.push({ merchant: merchant_id, batch: id, value: pv });

      // summarize, per partial: decode, checkpoints, store, ledger re-check (not complete yet)
      await clock.time('avroDecodePartial', () => decodeAs('PartialRecord', pv));
      await clock.time('mysqlSummarize', async () => {
        // The same statements as stages/summarize/wiring.ts per partial.
        const epoch = await sEpochs.get(SCRATCH_DAY, 1);
        await sOffsets.record(SCRATCH_DAY, epoch, meta(`${scratchTopic}.s`));
        await ledger.merchantDays.addPartial({ day: SCRATCH_DAY, epoch, merchant_id, batch_id: id, chunk_id: SCRATCH_CHUNK, payload: pv });
        await ledger.merchantDays.completeness(SCRATCH_DAY, epoch, merchant_id);
      });
    }
    // summarize, once per merchant-day: read back every partial, merge, write summary + products
    await clock.time('summarizeFinish', async () => {
      // The same reads as summarize (partials of its sealed batches, a page at a time), merged linearly.
      const merged = emptyPartial();
      const payloads = await app.db().query<{ payload: Buffer }>('SELECT payload FROM partials WHERE day = ? AND epoch = 1 AND merchant_id = ? ORDER BY batch_id', [SCRATCH_DAY, merchant_id]);
      for (const p of payloads) addInto(merged, fromAvroPartial(decodeAs('PartialRecord', p.payload).partial));
      const summary = finalizeSummary(merchant_id, SCRATCH_DAY, merged, 0);
      await hbase.putMany(app.tables.products, Object.entries(merged.products).map(([pid, s]) => ({ key: productRowKey(SCRATCH_DAY, merchant_id, 1, pid), cells: [{ family: 'p', qualifier: Buffer.from('d'), value: Buffer.from(JSON.stringify(s)) }] })));
      await hbase.put(app.tables.summaries, { key: summaryRowKey(SCRATCH_DAY, merchant_id, 1), cells: [{ family: 's', qualifier: Buffer.from('json'), value: Buffer.from(canonicalJson(summary)) }] });
      await ledger.merchantDays.markDone(SCRATCH_DAY, 1, merchant_id, summary.events, 0);
    });
  }
  say(`micro: ${events} events, ${batches} batches of ${merchants.length} merchants profiled; Kafka produce/consume next`);

  // Kafka: the batches and partials through a scratch topic, produced the way split does (enqueue
  // all, await together), consumed by a fresh group; consume time counts from the first message
  // (the group join is start-up, measured separately in the pipeline runs).
  // In waves of ≤ 512 KB: the producer's batcher caps a request by message count (500), not bytes,
  // and 200+ VisitorBatch messages of ~35 KB in one request exceed the broker's 1 MB record-batch
  // limit (MESSAGE_TOO_LARGE). Split never enqueues that many at once: its scan paces it.
  const waves = async (msgs: Array<{ key: string; value: Buffer }>) => {
    for (let i = 0; i < msgs.length;) {
      const wave: Array<Promise<void>> = [];
      for (let bytes = 0; i < msgs.length && bytes < 512 * 1024; i++) {
        bytes += msgs[i]!.value.length;
        wave.push(producer.enqueue(scratchTopic, msgs[i]!));
      }
      await Promise.all(wave);
    }
  };
  await clock.time('kafkaProduce', () => waves(batchValues.map((value, i) => ({ key: String(i), value }))));
  await clock.time('kafkaProducePartials', () => waves(partialValues.map((p) => ({ key: p.batch, value: p.value }))));
  const total = batchValues.length + partialValues.length;
  const consumer = createConsumer(app.kafka(), { groupId: `${scratchTopic}.g${Date.now()}` });
  await consumer.connect();
  await consumer.subscribe({ topic: scratchTopic, fromBeginning: true });
  let seen = 0;
  let firstAt = 0;
  let lastAt = 0;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`scratch consume: ${seen}/${total} after 120 s`)), 120_000);
    consumer.run({
      eachBatch: async ({ batch, resolveOffset }) => {
        if (firstAt === 0) firstAt = performance.now();
        for (const m of batch.messages) {
          seen++;
          resolveOffset(m.offset);
        }
        lastAt = performance.now();
        if (seen >= total) {
          clearTimeout(timer);
          resolve();
        }
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  const batchShare = batchBytes / (batchBytes + partialValues.reduce((a, p) => a + p.value.length, 0));
  clock.ms.set('kafkaConsume', (lastAt - firstAt) * batchShare);
  clock.ms.set('kafkaConsumePartials', (lastAt - firstAt) * (1 - batchShare));

  // Raw client throughput: scan rows/s is the scan above; puts as one big putMany (the adapter's
  // 4 Multi RPCs in flight) and as transform does it (one awaited putMany per batch).
  const bigPutT0 = performance.now();
  await hbase.putMany(app.tables.sessions, allSessionRows);
  const bigPutMs = performance.now() - bigPutT0;

  const us = (ms: number) => round((ms * 1000) / Math.max(1, events), 2);
  const p = (stage: Primitive['stage'], what: string, key: string, note?: string): Primitive => ({ stage, what, ms: round(clock.get(key), 0), usPerEvent: us(clock.get(key)), ...(note ? { note } : {}) });
  return {
    events,
    merchants: merchants.length,
    batches,
    avgBatchBytes: Math.round(batchBytes / Math.max(1, batches)),
    sessionsPerEvent: round(sessions / Math.max(1, events), 3),
    partialsBytes: partialValues.reduce((a, x) => a + x.value.length, 0),
    scanRowsPerSec: Math.round(events / (clock.get('scan') / 1000)),
    putRowsPerSec: Math.round(allSessionRows.length / (bigPutMs / 1000)),
    putRowsPerSecSequentialBatches: Math.round(sessions / (clock.get('sessionsPut') / 1000)),
    primitives: [
      p('split', 'HBase scan (RPC + protobuf → rows)', 'scan', 'caching 1000, as split'),
      p('split', 'dedupe + JSON.parse + validate + batch', 'validate'),
      p('split', 'Avro encode VisitorBatch', 'avroEncodeBatch'),
      p('split', 'Kafka produce batches', 'kafkaProduce', 'enqueue all, await together'),
      p('transform', 'Kafka consume batches', 'kafkaConsume', 'fresh group, first→last message'),
      p('transform', 'Avro decode VisitorBatch', 'avroDecodeBatch'),
      p('transform', 'MySQL checkpoints (epoch + offset)', 'mysqlTransform', '2 statements per batch'),
      p('transform', 'aggregateVisitors (sessionize)', 'aggregate'),
      p('transform', 'session rows JSON + keys', 'sessionsJson'),
      p('transform', 'HBase putMany sessions', 'sessionsPut', 'one awaited putMany per batch'),
      p('transform', 'Avro encode PartialRecord', 'avroEncodePartial'),
      p('transform', 'Kafka produce partials', 'kafkaProducePartials'),
      p('summarize', 'Kafka consume partials', 'kafkaConsumePartials'),
      p('summarize', 'Avro decode PartialRecord', 'avroDecodePartial'),
      p('summarize', 'MySQL per partial', 'mysqlSummarize', 'as summarize: cached epoch, lazy offset, insert, one ledger query'),
      p('summarize', 'finish: read partials, merge, put summary+products', 'summarizeFinish', 'once per merchant-day'),
    ],
  };
}
