/**
 * What every stage is, in one shape: a decoder for its input messages, the chunk a message works
 * for (work reports and metrics), and a handler built over injected ports. The handler is
 * "decode → pure logic (./<stage>/logic.ts) → ledger / tables / produce"; it never opens a
 * connection itself, so unit tests drive it with the in-memory ledger, table store and producer.
 */
import type { Logger } from '../src/log.js';
import type { Ledger } from '../src/ledger/types.js';
import type { MessageProducer, TableStore } from '../src/adapters/ports.js';
import type { Tables } from '../src/tables.js';
import type { SourceMessage } from '../src/runtime/stage-runtime.js';

/** Output topics by their topology key; asking for one the topology does not declare is a bug. */
export interface StageTopics {
  input: string;
  out(key: string): string;
}

export interface StageSettings {
  /** this replica's STAGELINE_BATCH_VISITORS: only the master's planning reads it; split cuts by the plan's shape */
  batchVisitors: number;
  /** the topics' message limit in bytes: what a produced message must stay under (the dead-letter envelope) */
  maxMessageBytes: number;
}

export interface StagePorts {
  ledger: Ledger;
  tables: TableStore;
  tableNames: Tables;
  producer: MessageProducer;
  topics: StageTopics;
  settings: StageSettings;
  log: Logger;
  /** crash tests only: a named point where a handler may be made to pause (STAGELINE_FAULT_PAUSE) */
  fault?: (point: string, context?: Record<string, unknown>) => Promise<void>;
}

/** Which chunk a decoded message works for; the runtime itself never looks inside messages. */
export interface Attribution {
  day: string;
  epoch: number;
  chunkId: string;
  /** events inside the message; undefined: count what the handler scanned */
  events?: number;
}

export interface StageModule<T> {
  name: string;
  /** topology keys of the topics this stage produces to: must equal the topology's `outputs` */
  produces: readonly string[];
  /** what `status` counts this stage's progress and lag in */
  units: { progress: string; lag: string };
  decode(value: Buffer): T;
  attribute(msg: T): Attribution | undefined;
  /**
   * The handler. It resolves 'dropped' for a message it did not process because a newer epoch
   * holds its merchant-day (counted per stage: metrics, work reports, `status`).
   */
  create(ports: StagePorts): (msg: T, meta: SourceMessage) => Promise<HandleOutcome>;
}

export type HandleOutcome = void | 'dropped';
