/**
 * The native single-node Kafka of the local stack: one JVM in KRaft mode acting as broker and
 * controller, its jars resolved from Maven Central into the stack's cache, its data under the
 * stack dir. Readiness means a real metadata request answers, not a log line.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { kafkaReady } from '../adapters/kafka.js';
import { StagelineError } from '../errors.js';
import { projectPath } from '../paths.js';
import {
  classpathOf, ensureMavenJars, javaBin, readPid, serviceDirs, spawnDaemon, stopPid, waitReady,
  type ServiceDirs, type ServiceStatus,
} from './common.js';

export interface KafkaStackOptions {
  stackDir: string;
  cacheDir: string;
  /** Address both listeners bind to and the broker advertises. @defaultValue 127.0.0.1 */
  host: string;
  port: number;
  controllerPort: number;
  heapMb: number;
  javaHome?: string;
  startTimeoutMs: number;
}

const NAME = 'kafka';
/** On the broker's command line so a recycled pid is never mistaken for our broker. */
const MARKER = '-Dstageline.service=kafka';

export function kafkaEndpoint(o: Pick<KafkaStackOptions, 'host' | 'port'>): string {
  return `${o.host}:${o.port}`;
}

/** The broker's server.properties: pure, so the settings are testable without a JVM. */
export function serverProperties(o: Pick<KafkaStackOptions, 'host' | 'port' | 'controllerPort'>, logDir: string): string {
  const props: Array<[string, string | number | boolean]> = [
    ['process.roles', 'broker,controller'],
    ['node.id', 1],
    // A static voter set: StorageTool then formats without --standalone (it rejects that flag here).
    ['controller.quorum.voters', `1@${o.host}:${o.controllerPort}`],
    ['listeners', `PLAINTEXT://${o.host}:${o.port},CONTROLLER://${o.host}:${o.controllerPort}`],
    ['advertised.listeners', `PLAINTEXT://${o.host}:${o.port}`],
    ['controller.listener.names', 'CONTROLLER'],
    ['inter.broker.listener.name', 'PLAINTEXT'],
    ['listener.security.protocol.map', 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT'],
    ['log.dirs', logDir],
    // One broker: every internal topic must fit on it or group coordination never starts.
    ['offsets.topic.replication.factor', 1],
    ['offsets.topic.num.partitions', 6],
    ['transaction.state.log.replication.factor', 1],
    ['transaction.state.log.min.isr', 1],
    ['share.coordinator.state.topic.replication.factor', 1],
    ['share.coordinator.state.topic.min.isr', 1],
    ['default.replication.factor', 1],
    ['min.insync.replicas', 1],
    // Rebalances start at once: the default 3 s delay only helps large groups joining together.
    ['group.initial.rebalance.delay.ms', 0],
    // Topics come from the topology (ensureTopics), never from a typo in a producer.
    ['auto.create.topics.enable', false],
    ['num.partitions', 6],
    ['delete.topic.enable', true],
    // A nightly pipeline on a developer's disk: keep a day or 1 GiB per partition, whichever is first.
    ['log.retention.hours', 24],
    ['log.retention.bytes', 1024 * 1024 * 1024],
    ['log.segment.bytes', 128 * 1024 * 1024],
    ['log.retention.check.interval.ms', 300_000],
    ['num.network.threads', 2],
    ['num.io.threads', 4],
    ['num.recovery.threads.per.data.dir', 1],
  ];
  return `# Written by stageline (src/stack/kafka.ts) on every start: edit that file, not this one.\n${props.map(([k, v]) => `${k}=${String(v)}`).join('\n')}\n`;
}

/** JVM flags for the broker; the heap is fixed (Xms = Xmx) so its footprint is known up front. */
export function brokerJvmArgs(heapMb: number, log4jConfig: string): string[] {
  return [
    MARKER,
    `-Xms${heapMb}m`,
    `-Xmx${heapMb}m`,
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-XX:InitiatingHeapOccupancyPercent=35',
    '-XX:+ExplicitGCInvokesConcurrent',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${log4jConfig}`,
  ];
}

/** Kafka's cluster ids are 16 random bytes in URL-safe base64 without padding. */
export function newClusterId(): string {
  return randomBytes(16).toString('base64url');
}

/** Whether anything accepts TCP connections on host:port. */
export function portInUse(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host, port });
    const done = (v: boolean): void => { sock.destroy(); resolve(v); };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** Our broker's pid: alive, and (where /proc exists) started by us, not a recycled pid. */
function ourPid(dirs: ServiceDirs): number | undefined {
  const pid = readPid(dirs.pidFile);
  if (pid === undefined) return undefined;
  const cmdline = `/proc/${pid}/cmdline`;
  if (existsSync(cmdline) && !readFileSync(cmdline, 'utf8').split('\0').includes(MARKER)) return undefined;
  return pid;
}

export async function kafkaStatus(o: KafkaStackOptions): Promise<ServiceStatus> {
  const dirs = serviceDirs(o.stackDir, NAME);
  const endpoint = kafkaEndpoint(o);
  const pid = ourPid(dirs);
  if (pid !== undefined) {
    const ok = await kafkaReady([endpoint]);
    return ok
      ? { name: NAME, state: 'running', endpoint, pid, logFile: dirs.logFile }
      : { name: NAME, state: 'unhealthy', endpoint, pid, logFile: dirs.logFile, detail: 'process alive but no metadata answer (starting, or stuck: see the log)' };
  }
  if (await portInUse(o.host, o.port)) {
    const isKafka = await kafkaReady([endpoint]);
    return {
      name: NAME,
      state: 'external',
      endpoint,
      detail: isKafka
        ? `a Kafka broker not started by stageline answers on ${endpoint}`
        : `port ${o.port} on ${o.host} is taken by a process that is not stageline's and does not answer Kafka metadata requests`,
    };
  }
  return { name: NAME, state: 'stopped', endpoint, logFile: dirs.logFile };
}

/** Formats the log dir once; later starts find meta.properties and skip a JVM start. */
function formatStorage(java: string, classpath: string, propsFile: string, dirs: ServiceDirs, log: (msg: string) => void): void {
  if (existsSync(join(dirs.data, 'meta.properties'))) return;
  const idFile = join(dirs.root, 'cluster.id');
  const clusterId = existsSync(idFile) ? readFileSync(idFile, 'utf8').trim() : newClusterId();
  writeFileSync(idFile, clusterId);
  log(`formatting Kafka storage in ${dirs.data} (cluster id ${clusterId})`);
  const res = spawnSync(java, ['-Xmx256m', `-Dlog4j2.configurationFile=${projectPath('jvm', 'kafka', 'log4j2.properties')}`, '-cp', classpath,
    'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', propsFile, '--ignore-formatted'], { encoding: 'utf8' });
  if (res.status !== 0) {
    const out = `${res.stdout ?? ''}${res.stderr ?? ''}${res.error ? String(res.error) : ''}`;
    throw new StagelineError('STACK_START_FAILED', `Kafka storage format failed:\n${out.split('\n').slice(-30).join('\n')}`);
  }
}

export { kafkaReady };

export async function startKafka(o: KafkaStackOptions, log: (msg: string) => void): Promise<ServiceStatus & { startedNow: boolean; ms: number }> {
  const t0 = Date.now();
  const dirs = serviceDirs(o.stackDir, NAME);
  const endpoint = kafkaEndpoint(o);
  const pid = ourPid(dirs);
  if (pid !== undefined) {
    // Ours and alive: either ready, or still starting from an earlier `up`, so wait rather than spawn twice.
    await waitReady(NAME, () => kafkaReady([endpoint]), { timeoutMs: o.startTimeoutMs, pid, logFile: dirs.logFile });
    return { name: NAME, state: 'running', endpoint, pid, logFile: dirs.logFile, startedNow: false, ms: Date.now() - t0 };
  }
  for (const port of [o.port, o.controllerPort]) {
    if (await portInUse(o.host, port)) {
      if (port === o.port && (await kafkaReady([endpoint]))) {
        log(`a Kafka broker not started by stageline already answers on ${endpoint}: using it`);
        return { name: NAME, state: 'external', endpoint, detail: 'not started by stageline', startedNow: false, ms: Date.now() - t0 };
      }
      throw new StagelineError('STACK_START_FAILED', `cannot start Kafka: port ${port} on ${o.host} is taken by another process (not stageline's broker); free it or configure other ports`);
    }
  }

  const libDir = ensureMavenJars(NAME, projectPath('jvm', 'kafka', 'pom.xml'), o.cacheDir, log);
  const classpath = classpathOf(libDir);
  const java = javaBin(o.javaHome);
  mkdirSync(dirs.conf, { recursive: true });
  mkdirSync(dirs.data, { recursive: true });
  const propsFile = join(dirs.conf, 'server.properties');
  writeFileSync(propsFile, serverProperties(o, dirs.data));
  formatStorage(java, classpath, propsFile, dirs, log);

  log(`starting Kafka on ${endpoint} (heap ${o.heapMb} MiB, log ${dirs.logFile})`);
  writeFileSync(dirs.logFile, `--- stageline start ${new Date().toISOString()} ---\n`, { flag: 'a' });
  const args = [...brokerJvmArgs(o.heapMb, projectPath('jvm', 'kafka', 'log4j2.properties')), '-cp', classpath, 'kafka.Kafka', propsFile];
  const newPid = spawnDaemon(java, args, dirs);
  await waitReady(NAME, () => kafkaReady([endpoint]), { timeoutMs: o.startTimeoutMs, pid: newPid, logFile: dirs.logFile });
  return { name: NAME, state: 'running', endpoint, pid: newPid, logFile: dirs.logFile, startedNow: true, ms: Date.now() - t0 };
}

/** Stops our broker (never an external one); false when it was not running. */
export async function stopKafka(o: KafkaStackOptions): Promise<boolean> {
  const dirs = serviceDirs(o.stackDir, NAME);
  if (ourPid(dirs) === undefined) return false;
  // A clean shutdown writes the clean-shutdown marker, sparing log recovery on the next start.
  return stopPid(dirs.pidFile, 30_000);
}

