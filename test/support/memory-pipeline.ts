/**
 * A whole night in memory, for unit tests of the stage handlers and the master: the in-memory
 * ledger, table store and producer, the real ingest function, and a pump that hands every produced
 * message to the stage whose input topic it is on (the real registry, decoders and handlers).
 */
import { createMemoryLedger, type MemoryLedger } from '../../src/ledger/memory.js';
import { createMemoryProducer, createMemoryTableStore, type MemoryProducer, type MemoryTableStore } from '../../src/adapters/memory.js';
import { ingest } from '../../src/ingest/ingest.js';
import { silentLogger } from '../../src/log.js';
import { tablesFor } from '../../src/tables.js';
import { loadTopology, topicName } from '../../topology/index.js';
import { registeredStages, type StageName } from '../../stages/index.js';
import type { HandleOutcome, StagePorts } from '../../stages/stage.js';
import type { SourceMessage } from '../../src/runtime/stage-runtime.js';
import { stageTopics } from '../../src/worker/stage-process.js';
import { createFakeClock, type FakeClock } from './fake-clock.js';

export const NS = 'mem';

export interface MemoryWorld {
  clock: FakeClock;
  ledger: MemoryLedger;
  tables: MemoryTableStore;
  producer: MemoryProducer;
  tableNames: ReturnType<typeof tablesFor>;
  ports(overrides?: Partial<StagePorts['settings']>): StagePorts;
  handler(stage: StageName, settings?: Partial<StagePorts['settings']>): (value: Buffer, meta?: Partial<SourceMessage>) => Promise<HandleOutcome>;
  ingestLines(lines: string[]): Promise<void>;
  /** Delivers produced messages to their stages until no stage has anything new; returns how many were delivered. */
  pump(opts?: { only?: StageName[]; settings?: Partial<StagePorts['settings']> }): Promise<number>;
  topic(key: string): string;
}

export function createMemoryWorld(): MemoryWorld {
  const clock = createFakeClock();
  const ledger = createMemoryLedger(clock.now);
  const tables = createMemoryTableStore();
  const producer = createMemoryProducer();
  const topology = loadTopology();
  const stages = registeredStages(topology);
  const tableNames = tablesFor(NS);
  const consumed = new Map<string, number>();
  const handlers = new Map<string, (msg: unknown, meta: SourceMessage) => Promise<HandleOutcome>>();

  const ports = (settings: Partial<StagePorts['settings']> = {}, stage = stages[0]!): StagePorts => ({
    ledger, tables, tableNames, producer,
    topics: stageTopics(NS, stage.input, stage.outputs),
    settings: { batchVisitors: 200, maxMessageBytes: 1_048_588, ...settings },
    log: silentLogger,
  });
  const handler = (name: StageName, settings: Partial<StagePorts['settings']> = {}) => {
    const stage = stages.find((s) => s.name === name)!;
    const handle = stage.module.create(ports(settings, stage));
    return (value: Buffer, meta: Partial<SourceMessage> = {}) => handle(stage.module.decode(value), { topic: topicName(NS, stage.input), partition: 0, offset: '0', key: null, value, ...meta });
  };

  return {
    clock, ledger, tables, producer, tableNames,
    ports: (s) => ports(s),
    handler,
    topic: (key) => topicName(NS, key),
    async ingestLines(lines) {
      await ingest((async function* () { yield lines.join('\n') + '\n'; })(), null, { hbase: tables, ledger: ledger.ingest, rawTable: tableNames.raw, buckets: topology.buckets, now: clock.now, source: 'test' });
    },
    async pump(opts = {}) {
      let delivered = 0;
      for (let moved = true; moved;) {
        moved = false;
        for (const stage of stages) {
          if (opts.only && !opts.only.includes(stage.name)) continue;
          const topic = topicName(NS, stage.input);
          const list = producer.sent.get(topic) ?? [];
          const key = `${stage.name}|${topic}`;
          let at = consumed.get(key) ?? 0;
          if (at >= list.length) continue;
          const h = handlers.get(stage.name) ?? stage.module.create(ports(opts.settings, stage));
          handlers.set(stage.name, h);
          for (; at < list.length; at++) {
            const m = list[at]!;
            consumed.set(key, at + 1);
            await h(stage.module.decode(m.value), { topic, partition: 0, offset: String(at), key: null, value: m.value });
            delivered++;
            moved = true;
          }
        }
      }
      return delivered;
    },
  };
}
