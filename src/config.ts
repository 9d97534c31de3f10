/**
 * The one place that reads the environment. Env vars and command-line flags become a validated,
 * frozen Config; everything inside takes the pieces it needs as arguments.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { StagelineError } from './errors.js';
import { projectPath } from './paths.js';

export interface KafkaConfig {
  brokers: string[];
  clientId: string;
  ssl?: { ca?: string; cert?: string; key?: string; rejectUnauthorized: boolean } | true;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
}

export interface MysqlConfig {
  host: string;
  port: number;
  user: string;
  password: string;
  /** the namespace's database */
  database: string;
  ssl?: { ca?: string; rejectUnauthorized: boolean };
}

export interface StackConfig {
  /** pid files, logs and server data */
  dir: string;
  /** downloaded jars; survives `stack down` */
  cacheDir: string;
  kafkaPort: number;
  kafkaControllerPort: number;
  kafkaHeapMb: number;
  hbaseZkPort: number;
  hbaseMasterPort: number;
  hbaseRegionServerPort: number;
  hbaseHeapMb: number;
  javaHome?: string;
  startTimeoutMs: number;
  /** issue 14: Kafka nodes `stack up` runs (KRaft, each broker + controller) @defaultValue 1 */
  kafkaBrokerCount: number;
  /** issue 14: region servers in the native HBase JVM @defaultValue 1 */
  hbaseRegionServers: number;
  /** issue 14: address the native servers bind to and advertise @defaultValue 127.0.0.1 */
  advertisedHost: string;
}

export interface PipelineConfig {
  /** target raw rows per chunk when the master plans @defaultValue 20000 */
  chunkRows: number;
  /** visitors per batch emitted by split @defaultValue 200 */
  batchVisitors: number;
  /** seconds without progress before the master re-publishes a chunk @defaultValue 120 */
  stuckAfterSec: number;
  /** re-publications of a stuck chunk before the run is marked failed @defaultValue 3 */
  maxRepublish: number;
  /** master re-spawns after a crash @defaultValue 5 */
  masterRestarts: number;
  /** messages a stage process works on at once, across its partitions @defaultValue 4 */
  concurrency: number;
  /** floor of the adaptive concurrency (src/runtime/controller.ts) @defaultValue 1 */
  concurrencyMin: number;
  /** ceiling of the adaptive concurrency; equal to min to pin it @defaultValue 16 */
  concurrencyMax: number;
  /** messages a stage process holds accepted and unfinished before it pauses its partitions @defaultValue 1000 */
  maxInFlightMessages: number;
  /** bytes (message values) of those messages @defaultValue 67108864 (64 MiB) */
  maxInFlightBytes: number;
}

export interface Config {
  namespace: string;
  kafka: KafkaConfig;
  mysql: MysqlConfig;
  hbase: { zkQuorum: string; namespace: string };
  stack: StackConfig;
  pipeline: PipelineConfig;
  log: { level: string; pretty: boolean; /** issue 14 @defaultValue 'stderr' */ destination: 'stdout' | 'stderr' };
  /** Prometheus port of this process; 0 = off @defaultValue 0 */
  metricsPort: number;
  /** issue 14: address the metrics server binds to @defaultValue 127.0.0.1 */
  metricsHost: string;
  /** the stage graph and partition counts @defaultValue topology/topology.json */
  topologyFile: string;
  /** fault injection for the crash tests: the master sleeps this long after each such checkpoint */
  faultPause?: { checkpoint: string; ms: number };
}

// ---- issue 14 (run like production): cluster and multi-host settings -------------------------
// Self-contained on purpose: one block to move into the declarative config table.

/** Rows for ENV_DOC: name, flag, default, what. */
export const CLUSTER_ENV_DOC: Array<[name: string, flag: string | null, def: string, what: string]> = [
  ['STAGELINE_KAFKA_BROKER_COUNT', '--brokers (stack up)', '1', 'native stack: Kafka nodes (KRaft, each broker + controller; node i listens on STAGELINE_KAFKA_PORT + 2i, its controller on +1)'],
  ['STAGELINE_HBASE_REGION_SERVERS', null, '1', 'native stack: region servers in the HBase JVM (server i on STAGELINE_HBASE_REGIONSERVER_PORT + 10i)'],
  ['STAGELINE_ADVERTISED_HOST', null, '127.0.0.1', 'native stack: address Kafka, HBase and a private mariadbd bind to and advertise; also the default host of STAGELINE_KAFKA_BROKERS and STAGELINE_HBASE_ZK'],
  ['STAGELINE_METRICS_HOST', null, '127.0.0.1', 'address the Prometheus endpoint binds to (0.0.0.0: all interfaces)'],
  ['STAGELINE_LOG_DESTINATION', null, 'stderr', 'stdout or stderr: where log lines go (services under systemd or Docker: stdout)'],
];

export interface ClusterSettings {
  kafkaBrokerCount: number;
  hbaseRegionServers: number;
  advertisedHost: string;
  metricsHost: string;
  logDestination: 'stdout' | 'stderr';
}

const HOST_RE = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$|^\[?[0-9A-Fa-f:.]+\]?$/;

function host(name: string, raw: string | undefined, def: string): string {
  if (raw === undefined || raw === '') return def;
  if (!HOST_RE.test(raw)) throw new StagelineError('CONFIG_INVALID', `${name} must be a host name or IP address, got "${raw}"`);
  return raw;
}

export function clusterSettings(env: NodeJS.ProcessEnv, flags: Flags): ClusterSettings {
  const brokersFlag = typeof flags.brokers === 'string' ? flags.brokers : undefined;
  const dest = env.STAGELINE_LOG_DESTINATION ?? 'stderr';
  if (dest !== 'stdout' && dest !== 'stderr') throw new StagelineError('CONFIG_INVALID', `STAGELINE_LOG_DESTINATION must be stdout or stderr, got "${dest}"`);
  return {
    kafkaBrokerCount: int(brokersFlag !== undefined ? '--brokers' : 'STAGELINE_KAFKA_BROKER_COUNT', brokersFlag ?? env.STAGELINE_KAFKA_BROKER_COUNT, 1, 1, 9),
    hbaseRegionServers: int('STAGELINE_HBASE_REGION_SERVERS', env.STAGELINE_HBASE_REGION_SERVERS, 1, 1, 9),
    advertisedHost: host('STAGELINE_ADVERTISED_HOST', env.STAGELINE_ADVERTISED_HOST, '127.0.0.1'),
    metricsHost: host('STAGELINE_METRICS_HOST', env.STAGELINE_METRICS_HOST, '127.0.0.1'),
    logDestination: dest,
  };
}

/** Listener port of Kafka node i (0-based); its controller listens one above. */
export const kafkaNodePort = (basePort: number, i: number): number => basePort + 2 * i;
// ---- end issue 14 -------------------------------------------------------------------------------

/** The documented variables; the README's configuration table mirrors this list. */
export const ENV_DOC: Array<[name: string, flag: string | null, def: string, what: string]> = [
  ['STAGELINE_NAMESPACE', '--namespace', 'stageline', 'prefix of every topic, consumer group, the MySQL database and the HBase namespace'],
  ['STAGELINE_KAFKA_BROKERS', '--kafka-brokers', '127.0.0.1:$STAGELINE_KAFKA_PORT', 'comma-separated bootstrap brokers'],
  ['STAGELINE_KAFKA_SSL', null, 'false', 'true: TLS to the brokers'],
  ['STAGELINE_KAFKA_SSL_CA / _CERT / _KEY', null, '', 'PEM files for Kafka TLS'],
  ['STAGELINE_KAFKA_SASL_MECHANISM', null, '', 'plain, scram-sha-256 or scram-sha-512'],
  ['STAGELINE_KAFKA_SASL_USERNAME / _PASSWORD', null, '', 'SASL credentials (never logged)'],
  ['STAGELINE_MYSQL_URL', '--mysql-url', 'mysql://root@127.0.0.1:3306', 'server to use; the database is the namespace (a path in the URL overrides it)'],
  ['STAGELINE_MYSQL_SSL_CA', null, '', 'PEM CA file: enables TLS to MySQL'],
  ['STAGELINE_HBASE_ZK', '--hbase-zk', '127.0.0.1:$STAGELINE_HBASE_ZK_PORT', 'HBase ZooKeeper quorum host:port'],
  ['STAGELINE_DATA_DIR', '--data-dir', '<project>/.stack', 'native stack: pid files, logs, server data'],
  ['STAGELINE_CACHE_DIR', null, '<data dir>/cache', 'native stack: downloaded jars'],
  ['STAGELINE_KAFKA_PORT', null, '9092', 'native Kafka listener (controller: port+1)'],
  ['STAGELINE_KAFKA_HEAP_MB', null, '512', 'native Kafka heap'],
  ['STAGELINE_HBASE_ZK_PORT', null, '2181', 'native HBase ZooKeeper port'],
  ['STAGELINE_HBASE_MASTER_PORT / _REGIONSERVER_PORT', null, '16000 / 16020', 'native HBase RPC ports'],
  ['STAGELINE_HBASE_HEAP_MB', null, '2048', 'native HBase heap'],
  ['STAGELINE_JAVA_HOME', null, '(java on PATH)', 'JDK 17 for Kafka and HBase'],
  ['STAGELINE_STACK_TIMEOUT_SEC', null, '180', 'bound on one service start'],
  ['STAGELINE_CHUNK_ROWS', null, '20000', 'target raw rows per chunk'],
  ['STAGELINE_BATCH_VISITORS', null, '200', 'visitors per batch emitted by split'],
  ['STAGELINE_CONCURRENCY', null, '4', 'messages in their handler at once per stage process, at start (then adaptive)'],
  ['STAGELINE_CONCURRENCY_MIN / _MAX', null, '1 / 16', 'bounds of the adaptive concurrency (equal values pin it)'],
  ['STAGELINE_MAX_INFLIGHT_MESSAGES', null, '1000', 'accepted, unfinished messages per stage process; at the bound it pauses its partitions'],
  ['STAGELINE_MAX_INFLIGHT_BYTES', null, '67108864 (64 MiB)', 'the same bound in message bytes'],
  ['STAGELINE_STUCK_AFTER_SEC', null, '120', 'no progress for this long: the master re-publishes the chunk'],
  ['STAGELINE_MAX_REPUBLISH', null, '3', 're-publications before the run is marked failed'],
  ['STAGELINE_MASTER_RESTARTS', null, '5', 'master re-spawns after a crash'],
  ['STAGELINE_METRICS_PORT', '--metrics-port', '0 (off)', 'Prometheus metrics on 127.0.0.1:port'],
  ['STAGELINE_TOPOLOGY', null, 'topology/topology.json', 'stage graph, buckets and partition counts'],
  ['STAGELINE_FAULT_PAUSE', null, '', 'crash tests only: `<checkpoint>:<ms>` makes the master pause after acquired, planned, published-part, published'],
  ['STAGELINE_LOG_LEVEL', '--log-level', 'info', 'pino level'],
  ['STAGELINE_LOG_FORMAT', null, 'auto', 'json, pretty, or auto (pretty on a terminal)'],
  ...CLUSTER_ENV_DOC,
];

export type Flags = Record<string, string | boolean | undefined>;


function int(name: string, raw: string | undefined, def: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new StagelineError('CONFIG_INVALID', `${name} must be an integer in ${min}..${max}, got "${raw}"`);
  return n;
}

function bool(name: string, raw: string | undefined, def: boolean): boolean {
  if (raw === undefined || raw === '') return def;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new StagelineError('CONFIG_INVALID', `${name} must be true or false, got "${raw}"`);
}

const readPem = (path: string | undefined): string | undefined => (path ? readFileSync(path, 'utf8') : undefined);

/** Database and HBase namespace names allow fewer characters than topic names. */
export function sanitizeNamespace(ns: string): string {
  return ns.replace(/[^A-Za-z0-9_]/g, '_');
}

export function parseMysqlUrl(url: string, defaultDb: string): Omit<MysqlConfig, 'ssl'> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new StagelineError('CONFIG_INVALID', `STAGELINE_MYSQL_URL is not a URL: use mysql://user:password@host:port[/database]`);
  }
  if (u.protocol !== 'mysql:' && u.protocol !== 'mariadb:') throw new StagelineError('CONFIG_INVALID', `STAGELINE_MYSQL_URL must start with mysql://`);
  const db = decodeURIComponent(u.pathname.replace(/^\//, ''));
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username || 'root'),
    password: decodeURIComponent(u.password),
    database: db || defaultDb,
  };
}

/**
 * Builds the Config from an environment and parsed flags. Flags win over env vars; both win over
 * defaults. Pure apart from reading PEM files that the env names.
 */
export function buildConfig(env: NodeJS.ProcessEnv, flags: Flags = {}): Readonly<Config> {
  const flag = (k: string): string | undefined => (typeof flags[k] === 'string' ? (flags[k] as string) : undefined);
  const namespace = flag('namespace') ?? env.STAGELINE_NAMESPACE ?? 'stageline';
  if (!/^[A-Za-z][A-Za-z0-9_-]{0,39}$/.test(namespace)) {
    throw new StagelineError('CONFIG_INVALID', `namespace "${namespace}" must start with a letter and hold at most 40 of A-Z a-z 0-9 _ -`);
  }
  const dataDirRaw = flag('data-dir') ?? env.STAGELINE_DATA_DIR ?? projectPath('.stack');
  const dir = isAbsolute(dataDirRaw) ? dataDirRaw : resolve(dataDirRaw);
  const kafkaPort = int('STAGELINE_KAFKA_PORT', env.STAGELINE_KAFKA_PORT, 9092, 1, 65534);
  const zkPort = int('STAGELINE_HBASE_ZK_PORT', env.STAGELINE_HBASE_ZK_PORT, 2181, 1, 65535);
  const cluster = clusterSettings(env, flags);
  const defaultBrokers = Array.from({ length: cluster.kafkaBrokerCount }, (_, i) => `${cluster.advertisedHost}:${kafkaNodePort(kafkaPort, i)}`).join(',');

  const brokers = (flag('kafka-brokers') ?? env.STAGELINE_KAFKA_BROKERS ?? defaultBrokers).split(',').map((s) => s.trim()).filter(Boolean);
  if (brokers.length === 0 || brokers.some((b) => !/^[^:\s]+:\d+$/.test(b))) throw new StagelineError('CONFIG_INVALID', `STAGELINE_KAFKA_BROKERS must be host:port[,host:port...]`);
  const kafka: KafkaConfig = { brokers, clientId: `stageline-${namespace}` };
  if (bool('STAGELINE_KAFKA_SSL', env.STAGELINE_KAFKA_SSL, false)) {
    const ca = readPem(env.STAGELINE_KAFKA_SSL_CA);
    const cert = readPem(env.STAGELINE_KAFKA_SSL_CERT);
    const key = readPem(env.STAGELINE_KAFKA_SSL_KEY);
    kafka.ssl = ca || cert || key ? { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}), rejectUnauthorized: true } : true;
  }
  const mech = env.STAGELINE_KAFKA_SASL_MECHANISM;
  if (mech) {
    if (mech !== 'plain' && mech !== 'scram-sha-256' && mech !== 'scram-sha-512') throw new StagelineError('CONFIG_INVALID', `STAGELINE_KAFKA_SASL_MECHANISM must be plain, scram-sha-256 or scram-sha-512`);
    kafka.sasl = { mechanism: mech, username: env.STAGELINE_KAFKA_SASL_USERNAME ?? '', password: env.STAGELINE_KAFKA_SASL_PASSWORD ?? '' };
  }

  const dbName = sanitizeNamespace(namespace);
  const mysql: MysqlConfig = parseMysqlUrl(flag('mysql-url') ?? env.STAGELINE_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306', dbName);
  const mysqlCa = readPem(env.STAGELINE_MYSQL_SSL_CA);
  if (mysqlCa) mysql.ssl = { ca: mysqlCa, rejectUnauthorized: true };

  const javaHome = env.STAGELINE_JAVA_HOME;
  const stack: StackConfig = {
    dir,
    cacheDir: env.STAGELINE_CACHE_DIR ? resolve(env.STAGELINE_CACHE_DIR) : resolve(dir, 'cache'),
    kafkaPort,
    kafkaControllerPort: kafkaPort + 1,
    kafkaHeapMb: int('STAGELINE_KAFKA_HEAP_MB', env.STAGELINE_KAFKA_HEAP_MB, 512, 128, 16384),
    hbaseZkPort: zkPort,
    hbaseMasterPort: int('STAGELINE_HBASE_MASTER_PORT', env.STAGELINE_HBASE_MASTER_PORT, 16000, 1, 65535),
    hbaseRegionServerPort: int('STAGELINE_HBASE_REGIONSERVER_PORT', env.STAGELINE_HBASE_REGIONSERVER_PORT, 16020, 1, 65535),
    hbaseHeapMb: int('STAGELINE_HBASE_HEAP_MB', env.STAGELINE_HBASE_HEAP_MB, 2048, 256, 16384),
    ...(javaHome ? { javaHome } : {}),
    startTimeoutMs: 1000 * int('STAGELINE_STACK_TIMEOUT_SEC', env.STAGELINE_STACK_TIMEOUT_SEC, 180, 5, 3600),
    kafkaBrokerCount: cluster.kafkaBrokerCount,
    hbaseRegionServers: cluster.hbaseRegionServers,
    advertisedHost: cluster.advertisedHost,
  };

  const pipeline: PipelineConfig = {
    chunkRows: int('STAGELINE_CHUNK_ROWS', env.STAGELINE_CHUNK_ROWS, 20000, 100, 10_000_000),
    batchVisitors: int('STAGELINE_BATCH_VISITORS', env.STAGELINE_BATCH_VISITORS, 200, 1, 100_000),
    stuckAfterSec: int('STAGELINE_STUCK_AFTER_SEC', env.STAGELINE_STUCK_AFTER_SEC, 120, 1, 86400),
    maxRepublish: int('STAGELINE_MAX_REPUBLISH', env.STAGELINE_MAX_REPUBLISH, 3, 0, 100),
    masterRestarts: int('STAGELINE_MASTER_RESTARTS', env.STAGELINE_MASTER_RESTARTS, 5, 0, 100),
    concurrency: int('STAGELINE_CONCURRENCY', env.STAGELINE_CONCURRENCY, 4, 1, 256),
    concurrencyMin: int('STAGELINE_CONCURRENCY_MIN', env.STAGELINE_CONCURRENCY_MIN, 1, 1, 256),
    concurrencyMax: int('STAGELINE_CONCURRENCY_MAX', env.STAGELINE_CONCURRENCY_MAX, 16, 1, 256),
    maxInFlightMessages: int('STAGELINE_MAX_INFLIGHT_MESSAGES', env.STAGELINE_MAX_INFLIGHT_MESSAGES, 1000, 1, 1_000_000),
    maxInFlightBytes: int('STAGELINE_MAX_INFLIGHT_BYTES', env.STAGELINE_MAX_INFLIGHT_BYTES, 64 * 1024 * 1024, 1024, 2 ** 40),
  };
  if (pipeline.concurrencyMin > pipeline.concurrencyMax) throw new StagelineError('CONFIG_INVALID', `STAGELINE_CONCURRENCY_MIN (${pipeline.concurrencyMin}) must not exceed STAGELINE_CONCURRENCY_MAX (${pipeline.concurrencyMax})`);

  const format = env.STAGELINE_LOG_FORMAT ?? 'auto';
  if (!['auto', 'json', 'pretty'].includes(format)) throw new StagelineError('CONFIG_INVALID', `STAGELINE_LOG_FORMAT must be auto, json or pretty`);
  const level = flag('log-level') ?? env.STAGELINE_LOG_LEVEL ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(level)) throw new StagelineError('CONFIG_INVALID', `log level "${level}" is not a pino level`);

  const cfg: Config = {
    namespace,
    kafka,
    mysql,
    hbase: { zkQuorum: flag('hbase-zk') ?? env.STAGELINE_HBASE_ZK ?? `${cluster.advertisedHost}:${zkPort}`, namespace: dbName },
    stack,
    pipeline,
    log: { level, pretty: format === 'pretty' || (format === 'auto' && process[cluster.logDestination].isTTY === true), destination: cluster.logDestination },
    metricsPort: int('STAGELINE_METRICS_PORT', flag('metrics-port') ?? env.STAGELINE_METRICS_PORT, 0, 0, 65535),
    metricsHost: cluster.metricsHost,
    topologyFile: resolve(env.STAGELINE_TOPOLOGY ?? projectPath('topology', 'topology.json')),
  };
  const pause = env.STAGELINE_FAULT_PAUSE;
  if (pause) {
    const m = /^([a-z-]+):(\d+)$/.exec(pause);
    if (!m) throw new StagelineError('CONFIG_INVALID', 'STAGELINE_FAULT_PAUSE must be <checkpoint>:<ms>, e.g. planned:5000');
    cfg.faultPause = { checkpoint: m[1]!, ms: Number(m[2]) };
  }
  return deepFreeze(cfg);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/** The config as it may be printed: credentials replaced. */
export function redactedConfig(cfg: Config): unknown {
  return {
    ...cfg,
    kafka: { ...cfg.kafka, ...(cfg.kafka.sasl ? { sasl: { ...cfg.kafka.sasl, password: '[redacted]' } } : {}), ...(cfg.kafka.ssl && cfg.kafka.ssl !== true ? { ssl: { ...cfg.kafka.ssl, key: '[redacted]' } } : {}) },
    mysql: { ...cfg.mysql, password: cfg.mysql.password ? '[redacted]' : '' },
  };
}
