/**
 * Idempotent provisioning of one namespace: the MySQL database and its migrations, the HBase
 * namespace and tables, the Kafka topics at the topology's partition counts (raised, never lowered).
 */
import type { App } from './app.js';
import { ensureDatabase, migrate } from './adapters/mysql.js';
import type { TableSpec } from './adapters/hbase-admin.js';
import { RAW_FAMILY, RAW_SPLITS } from './domain/rowkey.js';
import { STAGES, dlqTopicName, topicName } from '../topology/index.js';
import { replicationFor, type TopicSpec } from './adapters/kafka.js';

export function tableSpecs(app: App): TableSpec[] {
  return [
    { name: app.tables.raw, families: [RAW_FAMILY], splits: RAW_SPLITS },
    { name: app.tables.sessions, families: ['s'] },
    { name: app.tables.summaries, families: ['s'] },
    { name: app.tables.products, families: ['p'] },
  ];
}

/**
 * The namespace's topics. With `brokers` (the cluster's size when provisioning), each carries its
 * replication: min(3, brokers) replicas and min.insync.replicas 2 from 3 brokers on (see
 * replicationFor). Existing topics keep theirs: ensureTopics never alters a topic's config.
 */
export function topicSpecs(app: App, brokers?: number): TopicSpec[] {
  const ns = app.cfg.namespace;
  const t = app.topology.topics;
  const r = brokers === undefined ? undefined : replicationFor(brokers);
  const rep = r ? { replicationFactor: r.replicationFactor, config: { 'min.insync.replicas': String(r.minInsyncReplicas) } } : {};
  return [
    { topic: topicName(ns, 'chunks'), partitions: t.chunks.partitions, ...rep },
    { topic: topicName(ns, 'batches'), partitions: t.batches.partitions, ...rep },
    { topic: topicName(ns, 'partials'), partitions: t.partials.partitions, ...rep },
    ...STAGES.map((s) => ({ topic: dlqTopicName(ns, s), partitions: t.dlq.partitions, ...rep })),
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

export async function provision(app: App, hbaseAdmin: HBaseProvisioner): Promise<ProvisionResult> {
  const migrations = await provisionMysql(app);
  const specs = tableSpecs(app);
  await hbaseAdmin.ensure(app.cfg.hbase.namespace, specs);
  const topics = await provisionKafka(app);
  return { migrations, topicsCreated: topics.created, topicsRaised: topics.raised, tables: specs.map((s) => s.name) };
}
