/**
 * Idempotent provisioning of one namespace: the MySQL database and its migrations, the HBase
 * namespace and tables, the Kafka topics at the topology's partition counts (raised, never lowered).
 */
import type { App } from './app.js';
import { ensureDatabase, migrate } from './adapters/mysql.js';
import type { TableSpec } from './adapters/hbase-admin.js';
import { RAW_FAMILY, RAW_SPLITS } from './domain/rowkey.js';
import { dlqTopicName, topicName } from '../topology/index.js';
import { registeredStages } from '../stages/index.js';
import { replicationFor, type TopicSpec } from './adapters/kafka.js';
import { StagelineError } from './errors.js';

export function tableSpecs(app: App): TableSpec[] {
  return [
    { name: app.tables.raw, families: [RAW_FAMILY], splits: RAW_SPLITS },
    // Sessions are the intermediate representation: kept for a while (replays, audits), not forever.
    { name: app.tables.sessions, families: ['s'], ttlSeconds: app.cfg.pipeline.sessionsTtlDays * 86_400 },
    { name: app.tables.summaries, families: ['s'] },
    { name: app.tables.products, families: ['p'] },
  ];
}

/**
 * Every topic of the topology, plus one dead-letter topic per registered stage. With `brokers`
 * (the cluster's size when provisioning), each carries its replication: min(3, brokers) replicas
 * and min.insync.replicas 2 from 3 brokers on (see replicationFor). Existing topics keep theirs:
 * ensureTopics never alters a topic's config.
 */
export function topicSpecs(app: App, brokers?: number): TopicSpec[] {
  const ns = app.cfg.namespace;
  const t = app.topology;
  const r = brokers === undefined ? undefined : replicationFor(brokers);
  const rep = r ? { replicationFactor: r.replicationFactor, config: { 'min.insync.replicas': String(r.minInsyncReplicas) } } : {};
  return [
    ...Object.entries(t.topics).map(([key, spec]) => ({ topic: topicName(ns, key), partitions: spec.partitions, ...rep })),
    ...registeredStages(t).map((s) => ({ topic: dlqTopicName(ns, s.name), partitions: t.dlq.partitions, ...rep })),
  ];
}

export interface ProvisionResult {
  migrations: number[];
  topicsCreated: string[];
  topicsRaised: string[];
  tables: string[];
}

export interface HBaseProvisioner {
  ensure(namespace: string, tables: TableSpec[]): Promise<void>;
}

export async function provisionMysql(app: App): Promise<number[]> {
  await ensureDatabase(app.cfg.mysql);
  return migrate(app.db(), app.log);
}

export async function provisionKafka(app: App): Promise<{ created: string[]; raised: string[] }> {
  const admin = await app.admin();
  return admin.ensureTopics(topicSpecs(app, await admin.brokerCount()));
}

/**
 * Refuses a MySQL ledger that counts stored rows beside an empty raw table: the ledger belongs to
 * another HBase (nothing ever deletes raw rows). A demo in one clone ran against the database a
 * demo in another clone had left in the shared MariaDB: split refused to seal every range (the
 * scans do not match the plan) and the night failed only after 9 minutes, naming neither cause.
 * The counts are the planner's own (committed batches only): refused lines store nothing.
 */
export async function assertLedgerMatchesRaw(app: App): Promise<void> {
  const stored = await app.ledger().ingest.stored();
  if (!stored) return;
  for await (const _row of app.hbase().scan(app.tables.raw, { caching: 1 })) return;
  throw new StagelineError('NOT_PROVISIONED',
    `MySQL database ${app.cfg.mysql.database} counts ${stored.rows.toLocaleString('en-US')} stored rows (days ${stored.firstDay} to ${stored.lastDay}), but HBase table ${app.tables.raw} at ${app.cfg.hbase.zkQuorum} is empty: that ledger belongs to another HBase. ` +
    `Point STAGELINE_HBASE_ZK at the HBase that holds the rows, or drop the database (DROP DATABASE \`${app.cfg.mysql.database}\`) to start over.`);
}

export async function provision(app: App, hbaseAdmin: HBaseProvisioner): Promise<ProvisionResult> {
  const migrations = await provisionMysql(app);
  const specs = tableSpecs(app);
  await hbaseAdmin.ensure(app.cfg.hbase.namespace, specs);
  await assertLedgerMatchesRaw(app);
  const topics = await provisionKafka(app);
  return { migrations, topicsCreated: topics.created, topicsRaised: topics.raised, tables: specs.map((s) => s.name) };
}

/** The smallest message limit of the pipeline's topics, read from the brokers (never assumed). */
export async function topicsMessageLimit(app: App): Promise<number> {
  const admin = await app.admin();
  return admin.maxMessageBytes(Object.keys(app.topology.topics).map((k) => topicName(app.cfg.namespace, k)));
}
