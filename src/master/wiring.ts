/** The master's ports on the real systems: the MySQL ledger, Kafka for chunk tasks, the system clock. */
import type { App } from '../app.js';
import { systemClock } from '../clock.js';
import { encode } from '../../schemas/index.js';
import { topicName } from '../../topology/index.js';
import type { MessageProducer } from '../adapters/ports.js';
import { topicsMessageLimit } from '../provision.js';
import type { ChunkPublisher, MasterPorts } from './master.js';

/** Chunk tasks as ChunkTask messages on the chunks topic, keyed by chunk id, one request per call. */
export function chunkPublisher(producer: () => Promise<MessageProducer>, topic: string, maxMessageBytes: () => Promise<number> = async () => 1_048_588): ChunkPublisher {
  return {
    maxMessageBytes,
    async publish(run, chunks, publishedAt) {
      if (chunks.length === 0) return;
      await (await producer()).send(topic, chunks.map((c) => ({
        key: c.chunk_id,
        value: encode('ChunkTask', { day: run.day, epoch: run.epoch, run_id: run.run_id, chunk_id: c.chunk_id, attempt: c.publish_count + 1, ranges: c.ranges, published_at: publishedAt }),
      })));
    },
  };
}

export function masterPorts(app: App): MasterPorts {
  const p = app.cfg.pipeline;
  return {
    ledger: app.ledger(),
    publisher: chunkPublisher(() => app.producer(), topicName(app.cfg.namespace, 'chunks'), () => topicsMessageLimit(app)),
    clock: systemClock,
    log: app.log,
    settings: { buckets: app.topology.buckets, chunkRows: p.chunkRows, batchVisitors: p.batchVisitors, stuckAfterSec: p.stuckAfterSec, maxRepublish: p.maxRepublish, dayGraceMs: p.dayGraceMin * 60_000 },
  };
}
