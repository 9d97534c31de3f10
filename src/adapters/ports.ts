/**
 * The ports the stages, the master and ingest see of the outside systems, without their clients:
 * a table store (HBase) and a message producer (Kafka). Type-only re-exports, so importing this
 * file loads no client library; ./memory.ts holds the in-memory twins.
 */
export type { Cell, Row, ScanOptions, HBaseClient as TableStore } from './hbase.js';
export type { OutMessage, BatchingProducer as MessageProducer } from './kafka.js';
