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
  /** seconds of the master's lease on a day @defaultValue 30 */
  leaseSec: number;
  /** days before yesterday whose late data nightly re-runs @defaultValue 7 */
  lateLookbackDays: number;
  /** a merchant-day is due this many minutes after its local day ended */
  dayGraceMin: number;
  /** share of the trailing 7-day median below which a day is refused @defaultValue 0.2 */
  minDayFraction: number;
  /** days `purge` keeps quarantine, refusals and dead letters @defaultValue 90 */
  quarantineRetentionDays: number;
  /** TTL of session rows @defaultValue 90 */
  sessionsTtlDays: number;
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
  /** issue 16: `stageline web` @defaultValue 127.0.0.1:8080, no token */
  web: { host: string; port: number; /** required when host is not a loopback address; never logged */ token: string };
  /** the stage graph and partition counts @defaultValue topology/topology.json */
  topologyFile: string;
  /** fault injection for the crash tests: the master sleeps this long after each such checkpoint */
  faultPause?: { checkpoint: string; ms: number };
  /** dead-letter tests: this stage refuses the messages of chunks whose id contains `chunk` */
  faultPoison?: { stage: string; chunk: string };
}

/**
 * Every setting, declared once: its env var, its flag (if any), its type and bounds, its default
 * and a one-line doc. buildConfig reads values only through this table, `stageline --help` lists
 * the flags from it, and the README's configuration table is rendered from it
 * (`stageline config --table`; test/unit/config.test.ts fails when the README disagrees).
 */
export type SettingSpec =
  | { type: 'int'; default: number; min: number; max: number }
  | { type: 'bool'; default: boolean }
  | { type: 'string'; default?: string }
  | { type: 'enum'; default: string; values: readonly string[] };

export interface Setting {
  env: string;
  /** the command-line flag, without `--` */
  flag?: string;
  spec: SettingSpec;
  /** how the default reads in docs, when it is derived from other settings */
  shownDefault?: string;
  doc: string;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const SETTINGS = [
  { env: 'STAGELINE_NAMESPACE', flag: 'namespace', spec: { type: 'string', default: 'stageline' }, doc: 'prefix of every topic, consumer group, the MySQL database and the HBase namespace' },
  { env: 'STAGELINE_KAFKA_BROKERS', flag: 'kafka-brokers', spec: { type: 'string' }, shownDefault: '127.0.0.1:$STAGELINE_KAFKA_PORT', doc: 'comma-separated bootstrap brokers' },
  { env: 'STAGELINE_KAFKA_SSL', spec: { type: 'bool', default: false }, doc: 'true: TLS to the brokers' },
  { env: 'STAGELINE_KAFKA_SSL_CA', spec: { type: 'string' }, doc: 'PEM file: CA for Kafka TLS' },
  { env: 'STAGELINE_KAFKA_SSL_CERT', spec: { type: 'string' }, doc: 'PEM file: client certificate for Kafka TLS' },
  { env: 'STAGELINE_KAFKA_SSL_KEY', spec: { type: 'string' }, doc: 'PEM file: client key for Kafka TLS' },
  { env: 'STAGELINE_KAFKA_SASL_MECHANISM', spec: { type: 'enum', default: '', values: ['', 'plain', 'scram-sha-256', 'scram-sha-512'] }, doc: 'plain, scram-sha-256 or scram-sha-512 (empty: no SASL)' },
  { env: 'STAGELINE_KAFKA_SASL_USERNAME', spec: { type: 'string', default: '' }, doc: 'SASL user' },
  { env: 'STAGELINE_KAFKA_SASL_PASSWORD', spec: { type: 'string', default: '' }, doc: 'SASL password (never logged)' },
  { env: 'STAGELINE_MYSQL_URL', flag: 'mysql-url', spec: { type: 'string', default: 'mysql://root@127.0.0.1:3306' }, doc: 'server to use; the database is the namespace (a path in the URL overrides it)' },
  { env: 'STAGELINE_MYSQL_SSL_CA', spec: { type: 'string' }, doc: 'PEM CA file: enables TLS to MySQL' },
  { env: 'STAGELINE_HBASE_ZK', flag: 'hbase-zk', spec: { type: 'string' }, shownDefault: '127.0.0.1:$STAGELINE_HBASE_ZK_PORT', doc: 'HBase ZooKeeper quorum host:port' },
  { env: 'STAGELINE_DATA_DIR', flag: 'data-dir', spec: { type: 'string' }, shownDefault: '<project>/.stack', doc: 'native stack: pid files, logs, server data' },
  { env: 'STAGELINE_CACHE_DIR', spec: { type: 'string' }, shownDefault: '<data dir>/cache', doc: 'native stack: downloaded jars' },
  { env: 'STAGELINE_KAFKA_PORT', spec: { type: 'int', default: 9092, min: 1, max: 65534 }, doc: 'native Kafka listener (controller: port+1)' },
  { env: 'STAGELINE_KAFKA_HEAP_MB', spec: { type: 'int', default: 512, min: 128, max: 16384 }, doc: 'native Kafka heap' },
  { env: 'STAGELINE_HBASE_ZK_PORT', spec: { type: 'int', default: 2181, min: 1, max: 65535 }, doc: 'native HBase ZooKeeper port' },
  { env: 'STAGELINE_HBASE_MASTER_PORT', spec: { type: 'int', default: 16000, min: 1, max: 65535 }, doc: 'native HBase master RPC port' },
  { env: 'STAGELINE_HBASE_REGIONSERVER_PORT', spec: { type: 'int', default: 16020, min: 1, max: 65535 }, doc: 'native HBase region server RPC port' },
  { env: 'STAGELINE_HBASE_HEAP_MB', spec: { type: 'int', default: 2048, min: 256, max: 16384 }, doc: 'native HBase heap' },
  { env: 'STAGELINE_JAVA_HOME', spec: { type: 'string' }, shownDefault: '(java on PATH)', doc: 'JDK 17 for Kafka and HBase' },
  { env: 'STAGELINE_STACK_TIMEOUT_SEC', spec: { type: 'int', default: 180, min: 5, max: 3600 }, doc: 'bound on one service start' },
  { env: 'STAGELINE_KAFKA_BROKER_COUNT', flag: 'brokers', spec: { type: 'int', default: 1, min: 1, max: 9 }, doc: 'native stack: Kafka nodes (KRaft, each broker + controller; node i listens on STAGELINE_KAFKA_PORT + 2i, its controller on +1); `stack up --kafka-brokers N` with a number says the same' },
  { env: 'STAGELINE_HBASE_REGION_SERVERS', spec: { type: 'int', default: 1, min: 1, max: 9 }, doc: 'native stack: region servers in the HBase JVM (server i on STAGELINE_HBASE_REGIONSERVER_PORT + 10i)' },
  { env: 'STAGELINE_ADVERTISED_HOST', spec: { type: 'string', default: '127.0.0.1' }, doc: 'native stack: address Kafka, HBase and a private mariadbd bind to and advertise; also the default host of STAGELINE_KAFKA_BROKERS and STAGELINE_HBASE_ZK' },
  { env: 'STAGELINE_CHUNK_ROWS', spec: { type: 'int', default: 20000, min: 100, max: 10_000_000 }, doc: 'target raw rows per chunk' },
  { env: 'STAGELINE_BATCH_VISITORS', spec: { type: 'int', default: 200, min: 1, max: 100_000 }, doc: 'visitors per batch emitted by split' },
  { env: 'STAGELINE_CONCURRENCY', spec: { type: 'int', default: 4, min: 1, max: 256 }, doc: 'messages in their handler at once per stage process, at start (then adaptive)' },
  { env: 'STAGELINE_CONCURRENCY_MIN', spec: { type: 'int', default: 1, min: 1, max: 256 }, doc: 'floor of the adaptive concurrency' },
  { env: 'STAGELINE_CONCURRENCY_MAX', spec: { type: 'int', default: 16, min: 1, max: 256 }, doc: 'ceiling of the adaptive concurrency (equal to the floor: pinned)' },
  { env: 'STAGELINE_MAX_INFLIGHT_MESSAGES', spec: { type: 'int', default: 1000, min: 1, max: 1_000_000 }, doc: 'accepted, unfinished messages per stage process; at the bound it pauses its partitions' },
  { env: 'STAGELINE_MAX_INFLIGHT_BYTES', spec: { type: 'int', default: 64 * 1024 * 1024, min: 1024, max: 2 ** 40 }, doc: 'the same bound in message bytes' },
  { env: 'STAGELINE_STUCK_AFTER_SEC', spec: { type: 'int', default: 120, min: 1, max: 86400 }, doc: 'no progress for this long: the master re-publishes the chunk' },
  { env: 'STAGELINE_MAX_REPUBLISH', spec: { type: 'int', default: 3, min: 0, max: 100 }, doc: 're-publications before the run is marked failed' },
  { env: 'STAGELINE_MASTER_RESTARTS', spec: { type: 'int', default: 5, min: 0, max: 100 }, doc: 'master re-spawns after a crash' },
  { env: 'STAGELINE_DAY_GRACE_MIN', spec: { type: 'int', default: 60, min: 0, max: 525600 }, doc: 'a merchant-day is due (planned by nightly) this many minutes after its day ended in the merchant\'s zone' },
  { env: 'STAGELINE_LATE_LOOKBACK_DAYS', spec: { type: 'int', default: 7, min: 0, max: 366 }, doc: 'nightly without --day also re-runs the late data of this many days before yesterday' },
  { env: 'STAGELINE_MIN_DAY_FRACTION', spec: { type: 'string', default: '0.2' }, doc: 'a day with fewer rows than this share of the trailing 7-day median (or none) is refused (exit 5) unless --allow-small-day' },
  { env: 'STAGELINE_QUARANTINE_RETENTION_DAYS', spec: { type: 'int', default: 90, min: 1, max: 3650 }, doc: '`purge` keeps quarantined events, ingest refusals and dead letters this many days' },
  { env: 'STAGELINE_SESSIONS_TTL_DAYS', spec: { type: 'int', default: 90, min: 1, max: 3650 }, doc: 'time to live of the sessions table\'s rows (set by provisioning)' },
  { env: 'STAGELINE_LEASE_SEC', spec: { type: 'int', default: 30, min: 2, max: 3600 }, doc: 'the master\'s lease on a day; renewed every third of it, and a dead holder\'s lease lapses after it' },
  { env: 'STAGELINE_METRICS_PORT', flag: 'metrics-port', spec: { type: 'int', default: 0, min: 0, max: 65535 }, doc: 'Prometheus metrics on STAGELINE_METRICS_HOST:port (0: off; nightly gives its children port+1, +2, …)' },
  { env: 'STAGELINE_METRICS_HOST', spec: { type: 'string', default: '127.0.0.1' }, doc: 'address the Prometheus endpoint binds to (0.0.0.0: all interfaces)' },
  { env: 'STAGELINE_WEB_PORT', flag: 'port', spec: { type: 'int', default: 8080, min: 0, max: 65535 }, doc: '`stageline web` listens on this port (0: any free port, printed at start)' },
  { env: 'STAGELINE_WEB_HOST', flag: 'host', spec: { type: 'string', default: '127.0.0.1' }, doc: 'address `stageline web` binds to; any non-loopback address needs STAGELINE_WEB_TOKEN' },
  { env: 'STAGELINE_WEB_TOKEN', spec: { type: 'string', default: '' }, doc: 'bearer token every request to `stageline web` must carry (`Authorization: Bearer …`); required off loopback; never logged' },
  { env: 'STAGELINE_TOPOLOGY', spec: { type: 'string' }, shownDefault: 'topology/topology.json', doc: 'stage graph, buckets and partition counts' },
  { env: 'STAGELINE_FAULT_PAUSE', spec: { type: 'string' }, doc: 'crash tests only: `<checkpoint>:<ms>` pauses the master after acquired, planned, published-part, published; split after a range\'s batches are out, before its seal (split-range); summarize in the middle of a merge (summarize-merge)' },
  { env: 'STAGELINE_FAULT_POISON', spec: { type: 'string' }, doc: 'dead-letter tests only: `<stage>:<text>` makes that stage refuse (not retry) every message whose chunk id contains the text' },
  { env: 'STAGELINE_LOG_LEVEL', flag: 'log-level', spec: { type: 'enum', default: 'info', values: LOG_LEVELS }, doc: 'pino level' },
  { env: 'STAGELINE_LOG_FORMAT', spec: { type: 'enum', default: 'auto', values: ['auto', 'json', 'pretty'] }, doc: 'json, pretty, or auto (pretty on a terminal)' },
  { env: 'STAGELINE_LOG_DESTINATION', spec: { type: 'enum', default: 'stderr', values: ['stderr', 'stdout'] }, doc: 'where log lines go (services under systemd or Docker: stdout)' },
] as const satisfies readonly Setting[];

export type SettingName = (typeof SETTINGS)[number]['env'];
const BY_ENV = new Map<string, Setting>(SETTINGS.map((s) => [s.env, s]));

function defaultText(s: Setting): string {
  if (s.shownDefault !== undefined) return s.shownDefault;
  const d = s.spec.default;
  if (d === undefined || d === '') return '';
  if (s.spec.type === 'int' && s.spec.default >= 1024 * 1024 && s.spec.default % (1024 * 1024) === 0) return `${s.spec.default} (${s.spec.default / (1024 * 1024)} MiB)`;
  return String(d);
}

/** The README's configuration table, rendered from SETTINGS. */
export function renderSettingsTable(): string {
  const esc = (t: string) => t.replaceAll('|', '\\|').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
  const rows = SETTINGS.map((s: Setting) => `| \`${s.env}\` | ${s.flag ? `\`--${s.flag}\`` : ''} | ${esc(defaultText(s))} | ${esc(s.doc)} |`);
  return ['| variable | flag | default | what |', '|---|---|---|---|', ...rows].join('\n');
}

/** The flags that are settings, as `--help` lists them. */
export function settingFlagsHelp(): string[] {
  return SETTINGS.filter((s: Setting) => s.flag !== undefined).map((s: Setting) => `  --${`${s.flag} VALUE`.padEnd(24)} ${s.doc} (${s.env})`);
}

/** Flags that are settings, for node:util parseArgs. */
export const SETTING_FLAGS: Record<string, { type: 'string' }> = Object.fromEntries(SETTINGS.filter((s: Setting) => s.flag !== undefined).map((s: Setting) => [s.flag!, { type: 'string' as const }]));

export type Flags = Record<string, string | boolean | undefined>;

/** Reads one setting: the flag wins over the env var; both are parsed and checked against the table. */
function reader(env: NodeJS.ProcessEnv, flags: Flags) {
  const raw = (name: SettingName): string | undefined => {
    const s = BY_ENV.get(name)!;
    const f = s.flag !== undefined && typeof flags[s.flag] === 'string' ? (flags[s.flag] as string) : undefined;
    const v = f ?? env[name];
    return v === '' ? undefined : v;
  };
  const spec = (name: SettingName) => BY_ENV.get(name)!.spec;
  return {
    raw,
    str(name: SettingName): string | undefined {
      const s = spec(name);
      return raw(name) ?? (s.type === 'string' ? s.default : undefined);
    },
    int(name: SettingName): number {
      const s = spec(name);
      if (s.type !== 'int') throw new StagelineError('INTERNAL', `${name} is not an int setting`);
      const v = raw(name);
      if (v === undefined) return s.default;
      const n = Number(v);
      if (!Number.isInteger(n) || n < s.min || n > s.max) throw new StagelineError('CONFIG_INVALID', `${name} must be an integer in ${s.min}..${s.max}, got "${v}"`);
      return n;
    },
    bool(name: SettingName): boolean {
      const s = spec(name);
      if (s.type !== 'bool') throw new StagelineError('INTERNAL', `${name} is not a bool setting`);
      const v = raw(name);
      if (v === undefined) return s.default;
      if (/^(1|true|yes|on)$/i.test(v)) return true;
      if (/^(0|false|no|off)$/i.test(v)) return false;
      throw new StagelineError('CONFIG_INVALID', `${name} must be true or false, got "${v}"`);
    },
    oneOf(name: SettingName): string {
      const s = spec(name);
      if (s.type !== 'enum') throw new StagelineError('INTERNAL', `${name} is not an enum setting`);
      const v = raw(name) ?? s.default;
      if (!s.values.includes(v)) throw new StagelineError('CONFIG_INVALID', `${name} must be one of ${s.values.filter(Boolean).join(', ')}, got "${v}"`);
      return v;
    },
  };
}

const HOST_RE = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$|^\[?[0-9A-Fa-f:.]+\]?$/;

function host(name: string, raw: string): string {
  if (!HOST_RE.test(raw)) throw new StagelineError('CONFIG_INVALID', `${name} must be a host name or IP address, got "${raw}"`);
  return raw;
}

/** Listener port of Kafka node i (0-based); its controller listens one above. */
export const kafkaNodePort = (basePort: number, i: number): number => basePort + 2 * i;

function fraction(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new StagelineError('CONFIG_INVALID', `${name} must be a number in 0..1, got "${raw}"`);
  return n;
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
  const r = reader(env, flags);
  const namespace = r.str('STAGELINE_NAMESPACE')!;
  if (!/^[A-Za-z][A-Za-z0-9_-]{0,39}$/.test(namespace)) {
    throw new StagelineError('CONFIG_INVALID', `namespace "${namespace}" must start with a letter and hold at most 40 of A-Z a-z 0-9 _ -`);
  }
  const dataDirRaw = r.str('STAGELINE_DATA_DIR') ?? projectPath('.stack');
  const dir = isAbsolute(dataDirRaw) ? dataDirRaw : resolve(dataDirRaw);
  const kafkaPort = r.int('STAGELINE_KAFKA_PORT');
  const zkPort = r.int('STAGELINE_HBASE_ZK_PORT');
  const advertisedHost = host('STAGELINE_ADVERTISED_HOST', r.str('STAGELINE_ADVERTISED_HOST')!);
  // `stack up --kafka-brokers 3`: a bare number there is the native cluster's size, not a list.
  const brokersFlag = typeof flags['kafka-brokers'] === 'string' ? flags['kafka-brokers'] : undefined;
  const countFromFlag = brokersFlag !== undefined && /^\d+$/.test(brokersFlag) ? Number(brokersFlag) : undefined;
  if (countFromFlag !== undefined && (countFromFlag < 1 || countFromFlag > 9)) throw new StagelineError('CONFIG_INVALID', `--kafka-brokers N must be 1..9 native brokers, got ${countFromFlag}`);
  const kafkaBrokerCount = countFromFlag ?? r.int('STAGELINE_KAFKA_BROKER_COUNT');
  const defaultBrokers = Array.from({ length: kafkaBrokerCount }, (_, i) => `${advertisedHost}:${kafkaNodePort(kafkaPort, i)}`).join(',');
  const brokersList = countFromFlag !== undefined ? env.STAGELINE_KAFKA_BROKERS : r.str('STAGELINE_KAFKA_BROKERS');
  const brokers = (brokersList ?? defaultBrokers).split(',').map((s) => s.trim()).filter(Boolean);
  const logDestination = r.oneOf('STAGELINE_LOG_DESTINATION') as 'stdout' | 'stderr';
  if (brokers.length === 0 || brokers.some((b) => !/^[^:\s]+:\d+$/.test(b))) throw new StagelineError('CONFIG_INVALID', `STAGELINE_KAFKA_BROKERS must be host:port[,host:port...]`);
  const kafka: KafkaConfig = { brokers, clientId: `stageline-${namespace}` };
  if (r.bool('STAGELINE_KAFKA_SSL')) {
    const ca = readPem(r.str('STAGELINE_KAFKA_SSL_CA'));
    const cert = readPem(r.str('STAGELINE_KAFKA_SSL_CERT'));
    const key = readPem(r.str('STAGELINE_KAFKA_SSL_KEY'));
    kafka.ssl = ca || cert || key ? { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}), rejectUnauthorized: true } : true;
  }
  const mech = r.oneOf('STAGELINE_KAFKA_SASL_MECHANISM');
  if (mech !== '') {
    kafka.sasl = { mechanism: mech as NonNullable<KafkaConfig['sasl']>['mechanism'], username: r.str('STAGELINE_KAFKA_SASL_USERNAME') ?? '', password: r.str('STAGELINE_KAFKA_SASL_PASSWORD') ?? '' };
  }

  const dbName = sanitizeNamespace(namespace);
  const mysql: MysqlConfig = parseMysqlUrl(r.str('STAGELINE_MYSQL_URL')!, dbName);
  const mysqlCa = readPem(r.str('STAGELINE_MYSQL_SSL_CA'));
  if (mysqlCa) mysql.ssl = { ca: mysqlCa, rejectUnauthorized: true };

  const javaHome = r.str('STAGELINE_JAVA_HOME');
  const cacheDir = r.str('STAGELINE_CACHE_DIR');
  const stack: StackConfig = {
    dir,
    cacheDir: cacheDir ? resolve(cacheDir) : resolve(dir, 'cache'),
    kafkaPort,
    kafkaControllerPort: kafkaPort + 1,
    kafkaHeapMb: r.int('STAGELINE_KAFKA_HEAP_MB'),
    hbaseZkPort: zkPort,
    hbaseMasterPort: r.int('STAGELINE_HBASE_MASTER_PORT'),
    hbaseRegionServerPort: r.int('STAGELINE_HBASE_REGIONSERVER_PORT'),
    hbaseHeapMb: r.int('STAGELINE_HBASE_HEAP_MB'),
    ...(javaHome ? { javaHome } : {}),
    startTimeoutMs: 1000 * r.int('STAGELINE_STACK_TIMEOUT_SEC'),
    kafkaBrokerCount,
    hbaseRegionServers: r.int('STAGELINE_HBASE_REGION_SERVERS'),
    advertisedHost,
  };

  const pipeline: PipelineConfig = {
    chunkRows: r.int('STAGELINE_CHUNK_ROWS'),
    batchVisitors: r.int('STAGELINE_BATCH_VISITORS'),
    stuckAfterSec: r.int('STAGELINE_STUCK_AFTER_SEC'),
    maxRepublish: r.int('STAGELINE_MAX_REPUBLISH'),
    masterRestarts: r.int('STAGELINE_MASTER_RESTARTS'),
    leaseSec: r.int('STAGELINE_LEASE_SEC'),
    lateLookbackDays: r.int('STAGELINE_LATE_LOOKBACK_DAYS'),
    dayGraceMin: r.int('STAGELINE_DAY_GRACE_MIN'),
    minDayFraction: fraction('STAGELINE_MIN_DAY_FRACTION', r.str('STAGELINE_MIN_DAY_FRACTION')!),
    quarantineRetentionDays: r.int('STAGELINE_QUARANTINE_RETENTION_DAYS'),
    sessionsTtlDays: r.int('STAGELINE_SESSIONS_TTL_DAYS'),
    concurrency: r.int('STAGELINE_CONCURRENCY'),
    concurrencyMin: r.int('STAGELINE_CONCURRENCY_MIN'),
    concurrencyMax: r.int('STAGELINE_CONCURRENCY_MAX'),
    maxInFlightMessages: r.int('STAGELINE_MAX_INFLIGHT_MESSAGES'),
    maxInFlightBytes: r.int('STAGELINE_MAX_INFLIGHT_BYTES'),
  };
  if (pipeline.concurrencyMin > pipeline.concurrencyMax) throw new StagelineError('CONFIG_INVALID', `STAGELINE_CONCURRENCY_MIN (${pipeline.concurrencyMin}) must not exceed STAGELINE_CONCURRENCY_MAX (${pipeline.concurrencyMax})`);

  const format = r.oneOf('STAGELINE_LOG_FORMAT');
  const level = r.oneOf('STAGELINE_LOG_LEVEL');

  const cfg: Config = {
    namespace,
    kafka,
    mysql,
    hbase: { zkQuorum: r.str('STAGELINE_HBASE_ZK') ?? `${advertisedHost}:${zkPort}`, namespace: dbName },
    stack,
    pipeline,
    log: { level, pretty: format === 'pretty' || (format === 'auto' && process[logDestination].isTTY === true), destination: logDestination },
    metricsPort: r.int('STAGELINE_METRICS_PORT'),
    metricsHost: host('STAGELINE_METRICS_HOST', r.str('STAGELINE_METRICS_HOST')!),
    web: { host: host('STAGELINE_WEB_HOST', r.str('STAGELINE_WEB_HOST')!), port: r.int('STAGELINE_WEB_PORT'), token: r.str('STAGELINE_WEB_TOKEN') ?? '' },
    topologyFile: resolve(r.str('STAGELINE_TOPOLOGY') ?? projectPath('topology', 'topology.json')),
  };
  const pause = r.str('STAGELINE_FAULT_PAUSE');
  if (pause) {
    const m = /^([a-z-]+):(\d+)$/.exec(pause);
    if (!m) throw new StagelineError('CONFIG_INVALID', 'STAGELINE_FAULT_PAUSE must be <checkpoint>:<ms>, e.g. planned:5000');
    cfg.faultPause = { checkpoint: m[1]!, ms: Number(m[2]) };
  }
  const poison = r.str('STAGELINE_FAULT_POISON');
  if (poison) {
    const m = /^([a-z]+):(.+)$/.exec(poison);
    if (!m) throw new StagelineError('CONFIG_INVALID', 'STAGELINE_FAULT_POISON must be <stage>:<chunk id text>, e.g. transform:c0002');
    cfg.faultPoison = { stage: m[1]!, chunk: m[2]! };
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
    web: { ...cfg.web, token: cfg.web.token ? '[redacted]' : '' },
  };
}
