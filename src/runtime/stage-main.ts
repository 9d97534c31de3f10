/**
 * One stage process: a consumer-group member on the stage's input topic running the stage
 * runtime. SIGTERM/SIGINT drain gracefully (stop fetching, finish in-flight messages, commit);
 * a second signal exits at once.
 */
import type { Consumer } from 'kafkajs';
import type { App } from '../app.js';
import { createConsumer } from '../adapters/kafka.js';
import { encode } from '../../schemas/index.js';
import { dlqTopicName, groupName, topicName, type StageName } from '../../topology/index.js';
import { createStageRuntime, type DeadLetterPort, type MessageSource, type StageDefinition } from './stage-runtime.js';
import { splitStage } from '../../stages/split/wiring.js';
import { transformStage } from '../../stages/transform/wiring.js';
import { summarizeStage } from '../../stages/summarize/wiring.js';

/** kafkajs consumer as the runtime's MessageSource; offsets are resolved by the runtime only. */
export function kafkaSource(consumer: Consumer): MessageSource {
  return {
    async run(eachBatch, partitionsConcurrently) {
      await consumer.run({
        autoCommit: true,
        autoCommitInterval: 1000,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: partitionsConcurrently,
        eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
          await eachBatch(
            { topic: batch.topic, partition: batch.partition, messages: batch.messages.map((m) => ({ topic: batch.topic, partition: batch.partition, offset: m.offset, key: m.key ?? null, value: m.value ?? null })) },
            { resolveOffset, heartbeat, isRunning, isStale },
          );
        },
      });
    },
    async stop() {
      await consumer.stop();
      await consumer.disconnect();
    },
  };
}

export function deadLetterPort(app: App): DeadLetterPort {
  return {
    async deadLetter(stage, meta, err) {
      const producer = await app.producer();
      await producer.send(dlqTopicName(app.cfg.namespace, stage as StageName), [{
        key: meta.key,
        value: encode('DeadLetter', { stage, source_topic: meta.topic, partition: meta.partition, offset: meta.offset, key: meta.key, error_code: err.code, error: err.message.slice(0, 4000), payload: meta.value ?? Buffer.alloc(0), failed_at: Date.now() }),
      }]);
      await app.db().execute('INSERT IGNORE INTO dead_letters (stage, source_topic, kafka_partition, kafka_offset, error_code, error) VALUES (?, ?, ?, ?, ?, ?)', [stage, meta.topic, meta.partition, meta.offset, err.code, err.message.slice(0, 4000)]);
    },
  };
}

export function stageDefinition(app: App, stage: StageName): StageDefinition<unknown> {
  switch (stage) {
    case 'split': return splitStage(app) as StageDefinition<unknown>;
    case 'transform': return transformStage(app) as StageDefinition<unknown>;
    case 'summarize': return summarizeStage(app) as StageDefinition<unknown>;
  }
}

export async function runStage(app: App, stage: StageName, opts: { onSignal?: boolean } = {}): Promise<void> {
  const log = app.log.child({ stage });
  const input = app.topology.stages[stage].input;
  const consumer = createConsumer(app.kafka(), { groupId: groupName(app.cfg.namespace, stage) });
  await consumer.connect();
  await consumer.subscribe({ topic: topicName(app.cfg.namespace, input), fromBeginning: true });
  const rt = createStageRuntime(stageDefinition(app, stage), { source: kafkaSource(consumer), deadLetters: deadLetterPort(app), log, concurrency: app.cfg.pipeline.concurrency });
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((r) => { resolveDone = r; });
  let stopping = false;
  const shutdown = async (why: string) => {
    if (stopping) {
      log.warn({ why }, 'second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    log.info({ why }, 'draining');
    const timer = setTimeout(() => { log.error('drain took too long: exiting'); process.exit(1); }, 30_000);
    timer.unref();
    await rt.stop().catch((err: unknown) => log.error({ err }, 'stop failed'));
    await app.close();
    log.info(rt.stats() as unknown as Record<string, unknown>, 'stopped');
    resolveDone();
  };
  if (opts.onSignal !== false) {
    process.on('SIGTERM', () => void shutdown('SIGTERM'));
    process.on('SIGINT', () => void shutdown('SIGINT'));
  }
  consumer.on(consumer.events.CRASH, (e) => {
    // kafkajs restarts the consumer itself on retryable errors; when it gives up, exit so the supervisor restarts us.
    if (!e.payload.restart) {
      log.fatal({ err: e.payload.error }, 'consumer crashed for good');
      process.exit(1);
    }
  });
  await rt.start();
  log.info({ group: groupName(app.cfg.namespace, stage), topic: topicName(app.cfg.namespace, input) }, 'stage running');
  await done;
}
