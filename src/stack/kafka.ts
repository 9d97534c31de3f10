/**
 * The native Kafka of the local stack, its jars resolved from Maven Central into the stack's
 * cache, its data under the stack dir. Readiness means a real metadata request answers, not a log
 * line.
 *
 * One node by default (`kafka/`: one JVM in KRaft mode acting as broker and controller). With
 * `brokers` > 1 (`stack up --brokers 3`), a cluster of that many nodes from the same jars, each
 * again broker + controller ("combined mode"), in `kafka-1/`, `kafka-2/`, …: node i listens on
 * port + 2i, its controller on port + 2i + 1, and the controllers form one static voter set.
 * Combined rather than a separate controller quorum: three JVMs instead of six on a 2-core
 * machine, and killing a node then takes out a broker and a controller at once, which is the
 * harder case for clients (leader election and controller failover together).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { kafkaReady, replicationFor } from '../adapters/kafka.js';
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
  /** Heap of each node. */
  heapMb: number;
  javaHome?: string;
  startTimeoutMs: number;
  /** Nodes (each broker + controller). @defaultValue 1 */
  brokers?: number;
}

/** One node of the stack: where it keeps its files and where it listens. */
export interface KafkaNode {
  /** 0-based */
  index: number;
  /** KRaft node.id (index + 1) */
  nodeId: number;
  /** service name and directory: `kafka` alone, `kafka-1`, `kafka-2`, … in a cluster */
  name: string;
  port: number;
  controllerPort: number;
}

const NAME = 'kafka';
/** Nodes `down` looks for, whatever the current configuration says (a cluster can be stopped without --brokers). */
const MAX_NODES = 9;
/** On the broker's command line so a recycled pid is never mistaken for our broker. */
const markerOf = (name: string): string => `-Dstageline.service=${name}`;

export function kafkaEndpoint(o: Pick<KafkaStackOptions, 'host' | 'port'>): string {
  return `${o.host}:${o.port}`;
}

const nodeCount = (o: Pick<KafkaStackOptions, 'brokers'>): number => Math.max(1, o.brokers ?? 1);

/** The nodes `up` runs: one `kafka` node on port/controllerPort, or N `kafka-i` nodes on port + 2i. */
export function kafkaNodes(o: Pick<KafkaStackOptions, 'port' | 'controllerPort' | 'brokers'>): KafkaNode[] {
  const n = nodeCount(o);
  if (n === 1) return [{ index: 0, nodeId: 1, name: NAME, port: o.port, controllerPort: o.controllerPort }];
  return Array.from({ length: n }, (_, i) => ({ index: i, nodeId: i + 1, name: `${NAME}-${i + 1}`, port: o.port + 2 * i, controllerPort: o.port + 2 * i + 1 }));
}

/** Bootstrap list of all nodes: clients keep working while any one of them is down. */
export function kafkaBootstrap(o: Pick<KafkaStackOptions, 'host' | 'port' | 'controllerPort' | 'brokers'>): string[] {
  return kafkaNodes(o).map((n) => `${o.host}:${n.port}`);
}

/** A node's server.properties: pure, so the settings are testable without a JVM. */
export function serverProperties(o: Pick<KafkaStackOptions, 'host' | 'port' | 'controllerPort' | 'brokers'>, logDir: string, node: KafkaNode = kafkaNodes(o)[0]!): string {
  const nodes = kafkaNodes(o);
  const { replicationFactor: rf, minInsyncReplicas: isr } = replicationFor(nodes.length);
  const props: Array<[string, string | number | boolean]> = [
    ['process.roles', 'broker,controller'],
    ['node.id', node.nodeId],
    // A static voter set: StorageTool then formats without --standalone (it rejects that flag here).
    ['controller.quorum.voters', nodes.map((n) => `${n.nodeId}@${o.host}:${n.controllerPort}`).join(',')],
    ['listeners', `PLAINTEXT://${o.host}:${node.port},CONTROLLER://${o.host}:${node.controllerPort}`],
    ['advertised.listeners', `PLAINTEXT://${o.host}:${node.port}`],
    ['controller.listener.names', 'CONTROLLER'],
    ['inter.broker.listener.name', 'PLAINTEXT'],
    ['listener.security.protocol.map', 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT'],
    ['log.dirs', logDir],
    // Internal topics (group offsets, transaction and share state) replicated like the data:
    // on one broker every internal topic must fit on it or group coordination never starts; on
    // three, losing the broker that leads __consumer_offsets must not lose the groups' offsets.
    ['offsets.topic.replication.factor', rf],
    ['offsets.topic.num.partitions', 6],
    ['transaction.state.log.replication.factor', rf],
    ['transaction.state.log.min.isr', isr],
    ['share.coordinator.state.topic.replication.factor', rf],
    ['share.coordinator.state.topic.min.isr', isr],
    // What a topic created without explicit settings gets (provisioning sets both explicitly).
    ['default.replication.factor', rf],
    ['min.insync.replicas', isr],
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
/** JVM flags for a node; the heap is fixed (Xms = Xmx) so its footprint is known up front. */
export function brokerJvmArgs(heapMb: number, log4jConfig: string, name = NAME): string[] {
  return [
    markerOf(name),
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
/**
 * A KRaft cluster id: 16 random bytes, base64url, never starting with '-' (the storage tool's
 * argument parser reads "-x..." as an option: "--cluster-id/-t: expected one argument", 1 start in
 * 64; Kafka's own Uuid.randomUuid() redraws for the same reason).
 */
export function newClusterId(random: (n: number) => Buffer = randomBytes): string {
  for (;;) {
    const id = random(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
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

/** A node's pid: alive, and (where /proc exists) started by us as that node, not a recycled pid. */
function ourPid(dirs: ServiceDirs, name: string): number | undefined {
  const pid = readPid(dirs.pidFile);
  if (pid === undefined) return undefined;
  const cmdline = `/proc/${pid}/cmdline`;
  if (existsSync(cmdline) && !readFileSync(cmdline, 'utf8').split('\0').includes(markerOf(name))) return undefined;
  return pid;
}

/** The running pid of node `index` of this stack, if any (tests kill it). */
export function kafkaNodePid(o: KafkaStackOptions, index: number): number | undefined {
  const node = kafkaNodes(o)[index];
  if (node === undefined) throw new StagelineError('INPUT_INVALID', `no Kafka node ${index} (stack has ${nodeCount(o)})`);
  return ourPid(serviceDirs(o.stackDir, node.name), node.name);
}

async function nodeStatus(o: KafkaStackOptions, node: KafkaNode): Promise<ServiceStatus> {
  const dirs = serviceDirs(o.stackDir, node.name);
  const endpoint = kafkaEndpoint({ host: o.host, port: node.port });
  const pid = ourPid(dirs, node.name);
  if (pid !== undefined) {
    const ok = await kafkaReady([endpoint]);
    return ok
      ? { name: node.name, state: 'running', endpoint, pid, logFile: dirs.logFile }
      : { name: node.name, state: 'unhealthy', endpoint, pid, logFile: dirs.logFile, detail: 'process alive but no metadata answer (starting, or stuck: see the log)' };
  }
  if (await portInUse(o.host, node.port)) {
    const isKafka = await kafkaReady([endpoint]);
    return {
      name: node.name,
      state: 'external',
      endpoint,
      detail: isKafka
        ? `a Kafka broker not started by stageline answers on ${endpoint}`
        : `port ${node.port} on ${o.host} is taken by a process that is not stageline's and does not answer Kafka metadata requests`,
    };
  }
  return { name: node.name, state: 'stopped', endpoint, logFile: dirs.logFile };
}

/** One status per node of the configured layout. */
export async function kafkaStatus(o: KafkaStackOptions): Promise<ServiceStatus[]> {
  return Promise.all(kafkaNodes(o).map((n) => nodeStatus(o, n)));
}

/**
 * Formats a node's log dir once; later starts find meta.properties and skip a JVM start. All nodes
 * of a cluster share one cluster id (kept in `<stackDir>/<idFile>`).
 */
function formatStorage(java: string, classpath: string, propsFile: string, dirs: ServiceDirs, idFile: string, log: (msg: string) => void): void {
  if (existsSync(join(dirs.data, 'meta.properties'))) return;
  // A stored id starting with '-' never formatted anything (see newClusterId): draw a new one.
  const stored = existsSync(idFile) ? readFileSync(idFile, 'utf8').trim() : '';
  const clusterId = stored !== '' && !stored.startsWith('-') ? stored : newClusterId();
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

type Started = ServiceStatus & { startedNow: boolean; ms: number };

/** Idempotent start of one node: a running node of ours is waited for, not spawned twice. */
export async function startKafkaNode(o: KafkaStackOptions, index: number, log: (msg: string) => void): Promise<Started> {
  const t0 = Date.now();
  const node = kafkaNodes(o)[index];
  if (node === undefined) throw new StagelineError('INPUT_INVALID', `no Kafka node ${index} (stack has ${nodeCount(o)})`);
  const dirs = serviceDirs(o.stackDir, node.name);
  const endpoint = kafkaEndpoint({ host: o.host, port: node.port });
  const pid = ourPid(dirs, node.name);
  if (pid !== undefined) {
    // Ours and alive: either ready, or still starting from an earlier `up`, so wait rather than spawn twice.
    await waitReady(node.name, () => kafkaReady([endpoint]), { timeoutMs: o.startTimeoutMs, pid, logFile: dirs.logFile });
    return { name: node.name, state: 'running', endpoint, pid, logFile: dirs.logFile, startedNow: false, ms: Date.now() - t0 };
  }
  for (const port of [node.port, node.controllerPort]) {
    if (await portInUse(o.host, port)) {
      if (port === node.port && nodeCount(o) === 1 && (await kafkaReady([endpoint]))) {
        log(`a Kafka broker not started by stageline already answers on ${endpoint}: using it`);
        return { name: node.name, state: 'external', endpoint, detail: 'not started by stageline', startedNow: false, ms: Date.now() - t0 };
      }
      throw new StagelineError('STACK_START_FAILED', `cannot start Kafka node ${node.name}: port ${port} on ${o.host} is taken by another process (a broker of another layout? \`stack down\` stops every node of ours); free it or configure other ports`);
    }
  }

  const libDir = ensureMavenJars(NAME, projectPath('jvm', 'kafka', 'pom.xml'), o.cacheDir, log);
  const classpath = classpathOf(libDir);
  const java = javaBin(o.javaHome);
  mkdirSync(dirs.conf, { recursive: true });
  mkdirSync(dirs.data, { recursive: true });
  const propsFile = join(dirs.conf, 'server.properties');
  writeFileSync(propsFile, serverProperties(o, dirs.data, node));
  // The single node keeps its id file where it always was; a cluster's nodes share one.
  const idFile = nodeCount(o) === 1 ? join(dirs.root, 'cluster.id') : join(o.stackDir, 'kafka-cluster.id');
  formatStorage(java, classpath, propsFile, dirs, idFile, log);

  log(`starting Kafka ${node.name} on ${endpoint} (heap ${o.heapMb} MiB, log ${dirs.logFile})`);
  writeFileSync(dirs.logFile, `--- stageline start ${new Date().toISOString()} ---\n`, { flag: 'a' });
  const args = [...brokerJvmArgs(o.heapMb, projectPath('jvm', 'kafka', 'log4j2.properties'), node.name), '-cp', classpath, 'kafka.Kafka', propsFile];
  const newPid = spawnDaemon(java, args, dirs);
  // A cluster node answers metadata only once a quorum of controllers is up: the nodes of one
  // `up` start side by side, so this waits for the others too.
  await waitReady(node.name, () => kafkaReady([endpoint]), { timeoutMs: o.startTimeoutMs, pid: newPid, logFile: dirs.logFile });
  return { name: node.name, state: 'running', endpoint, pid: newPid, logFile: dirs.logFile, startedNow: true, ms: Date.now() - t0 };
}

/** Every node of the configured layout, side by side; a cluster is ready when all its brokers are registered. */
export async function startKafka(o: KafkaStackOptions, log: (msg: string) => void): Promise<Started[]> {
  const nodes = kafkaNodes(o);
  // Node 1 of a cluster and the single node share ports: say which one is in the way.
  const other = nodes.length === 1 ? runningClusterNodes(o) : runningSingle(o) ? [NAME] : [];
  if (other.length > 0) {
    throw new StagelineError('STACK_START_FAILED', `cannot start ${nodes.length === 1 ? 'a single Kafka broker' : `a ${nodes.length}-node Kafka cluster`}: ${other.join(', ')} from an earlier \`stack up\` ${other.length === 1 ? 'is' : 'are'} running in ${o.stackDir}; \`stageline stack down\` first`);
  }
  const started = await Promise.all(nodes.map((n) => startKafkaNode(o, n.index, log)));
  if (nodes.length > 1) {
    const t0 = Date.now();
    await waitReady('Kafka cluster', () => kafkaReady(kafkaBootstrap(o), nodes.length), { timeoutMs: o.startTimeoutMs });
    log(`kafka: ${nodes.length} brokers registered (${Date.now() - t0} ms after the last node answered)`);
  }
  return started;
}

function runningSingle(o: KafkaStackOptions): boolean {
  return ourPid(serviceDirs(o.stackDir, NAME), NAME) !== undefined;
}

function runningClusterNodes(o: KafkaStackOptions): string[] {
  const names = Array.from({ length: MAX_NODES }, (_, i) => `${NAME}-${i + 1}`);
  return names.filter((n) => ourPid(serviceDirs(o.stackDir, n), n) !== undefined);
}

/**
 * Stops node `index` (never an external broker); false when it was not running. SIGKILL skips
 * the clean shutdown on purpose (the broker-fault tests); SIGTERM writes the clean-shutdown
 * marker, sparing log recovery on the next start.
 */
export async function stopKafkaNode(o: KafkaStackOptions, index: number, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<boolean> {
  const node = kafkaNodes(o)[index];
  if (node === undefined) return false;
  const dirs = serviceDirs(o.stackDir, node.name);
  if (ourPid(dirs, node.name) === undefined) return false;
  return stopPid(dirs.pidFile, 30_000, signal);
}

/** Stops every node of ours in the stack dir, whichever layout started it; false when none ran. */
export async function stopKafka(o: KafkaStackOptions): Promise<boolean> {
  const names = [...(runningSingle(o) ? [NAME] : []), ...runningClusterNodes(o)];
  const stopped = await Promise.all(names.map((n) => stopPid(serviceDirs(o.stackDir, n).pidFile, 30_000)));
  return stopped.some(Boolean);
}

/**
 * The active KRaft controller as the live nodes last recorded it (each node persists the quorum
 * leader it follows in __cluster_metadata-0/quorum-state on every election): the newest epoch
 * wins. Clients cannot ask for it: in KRaft, metadata answers name a random broker as
 * "controller". Undefined when no node recorded a leader.
 */
export function kafkaQuorumLeader(o: KafkaStackOptions): { nodeId: number; index: number; epoch: number } | undefined {
  let best: { nodeId: number; index: number; epoch: number } | undefined;
  for (const n of kafkaNodes(o)) {
    const dirs = serviceDirs(o.stackDir, n.name);
    if (ourPid(dirs, n.name) === undefined) continue;
    const file = join(dirs.data, '__cluster_metadata-0', 'quorum-state');
    if (!existsSync(file)) continue;
    try {
      const q = JSON.parse(readFileSync(file, 'utf8')) as { leaderId?: number; leaderEpoch?: number };
      if (typeof q.leaderId !== 'number' || q.leaderId < 0 || typeof q.leaderEpoch !== 'number') continue;
      const leader = kafkaNodes(o).find((x) => x.nodeId === q.leaderId);
      if (leader && (best === undefined || q.leaderEpoch > best.epoch)) best = { nodeId: q.leaderId, index: leader.index, epoch: q.leaderEpoch };
    } catch { /* being rewritten: another node will say */ }
  }
  return best;
}
