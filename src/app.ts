/**
 * Wiring shared by every command: the config, a logger, and adapters opened lazily and closed
 * once. Commands ask for what they use; nothing here holds domain logic.
 */
import type { Config } from './config.js';
import { createLogger, type Logger } from './log.js';
import { createDb, type Db } from './adapters/mysql.js';
import { createHBaseClient, type HBaseClient } from './adapters/hbase.js';
import { createKafka, createProducer, createAdmin, type BatchingProducer, type KafkaAdminPort, type Kafka } from './adapters/kafka.js';
import { createMysqlLedger } from './ledger/mysql.js';
import type { Ledger } from './ledger/types.js';
import { tablesFor, type Tables } from './tables.js';
import { loadTopology, type Topology } from '../topology/index.js';

export { tablesFor, type Tables };

export interface App {
  cfg: Readonly<Config>;
  log: Logger;
  topology: Topology;
  tables: Tables;
  db(): Db;
  /** The run state on the namespace's MySQL database. */
  ledger(): Ledger;
  hbase(): HBaseClient;
  kafka(): Kafka;
  producer(): Promise<BatchingProducer>;
  admin(): Promise<KafkaAdminPort>;
  close(): Promise<void>;
}

export function createApp(cfg: Readonly<Config>, log: Logger = createLogger(cfg.log)): App {
  let db: Db | undefined;
  let ledger: Ledger | undefined;
  let hbase: HBaseClient | undefined;
  let kafka: Kafka | undefined;
  let producer: Promise<BatchingProducer> | undefined;
  let admin: Promise<KafkaAdminPort> | undefined;
  const app: App = {
    cfg,
    log,
    topology: loadTopology(cfg.topologyFile),
    tables: tablesFor(cfg.hbase.namespace),
    db: () => (db ??= createDb(cfg.mysql, log.child({ component: 'mysql' }))),
    ledger: () => (ledger ??= createMysqlLedger(app.db())),
    hbase: () => (hbase ??= createHBaseClient({ zkQuorum: cfg.hbase.zkQuorum }, log.child({ component: 'hbase' }))),
    kafka: () => (kafka ??= createKafka({ brokers: [...cfg.kafka.brokers], clientId: cfg.kafka.clientId, ...(cfg.kafka.ssl ? { ssl: cfg.kafka.ssl } : {}), ...(cfg.kafka.sasl ? { sasl: cfg.kafka.sasl } : {}) }, log)),
    // A failed connect must not be cached: a stage whose first produce meets a broker outage
    // would otherwise never produce again.
    producer: () => (producer ??= createProducer(app.kafka(), { lingerMs: 5, maxBatch: 500 }).catch((err: unknown) => { producer = undefined; throw err; })),
    admin: () => (admin ??= createAdmin(app.kafka()).catch((err: unknown) => { admin = undefined; throw err; })),
    async close() {
      const p = producer;
      const a = admin;
      producer = undefined;
      admin = undefined;
      await Promise.allSettled([p?.then((x) => x.close()), a?.then((x) => x.close()), hbase?.close(), db?.close()]);
      hbase = undefined;
      db = undefined;
      ledger = undefined;
    },
  };
  return app;
}
