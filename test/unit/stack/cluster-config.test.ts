/**
 * The pure parts of running like production (issue 14): the Kafka nodes' layout and
 * server.properties, replication from the cluster's size, the HBase site for several region
 * servers or another host, and the new configuration variables.
 */
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../../src/config.js';
import { replicationFor } from '../../../src/adapters/kafka.js';
import { kafkaBootstrap, kafkaNodes, newClusterId, serverProperties } from '../../../src/stack/kafka.js';
import { controlPort, regionServerPorts, siteXml, usesLocalCluster } from '../../../src/stack/hbase.js';
import { stackOptions } from '../../../src/stack/index.js';

const props = (text: string): Record<string, string> =>
  Object.fromEntries(text.split('\n').filter((l) => l.includes('=') && !l.startsWith('#')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
const site = (xml: string): Record<string, string> =>
  Object.fromEntries([...xml.matchAll(/<name>([^<]+)<\/name><value>([^<]*)<\/value>/g)].map((m) => [m[1]!, m[2]!]));

describe('Kafka nodes', () => {
  const base = { host: '127.0.0.1', port: 9092, controllerPort: 9093 };

  it('one node: the single `kafka` node on port and port + 1, replication 1 (as before the cluster mode)', () => {
    expect(kafkaNodes(base)).toEqual([{ index: 0, nodeId: 1, name: 'kafka', port: 9092, controllerPort: 9093 }]);
    const p = props(serverProperties(base, '/d'));
    expect(p).toMatchObject({
      'node.id': '1', 'controller.quorum.voters': '1@127.0.0.1:9093', 'listeners': 'PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093',
      'offsets.topic.replication.factor': '1', 'transaction.state.log.replication.factor': '1', 'transaction.state.log.min.isr': '1',
      'default.replication.factor': '1', 'min.insync.replicas': '1',
    });
  });

  it('three nodes: kafka-1..3 on port + 2i, one voter set, internal topics replicated 3 with 2 in sync', () => {
    const o = { ...base, port: 29092, controllerPort: 29093, brokers: 3 };
    const nodes = kafkaNodes(o);
    expect(nodes.map((n) => [n.name, n.nodeId, n.port, n.controllerPort])).toEqual([['kafka-1', 1, 29092, 29093], ['kafka-2', 2, 29094, 29095], ['kafka-3', 3, 29096, 29097]]);
    expect(kafkaBootstrap(o)).toEqual(['127.0.0.1:29092', '127.0.0.1:29094', '127.0.0.1:29096']);
    const p = props(serverProperties(o, '/d', nodes[1]));
    expect(p).toMatchObject({
      'node.id': '2', 'process.roles': 'broker,controller',
      'controller.quorum.voters': '1@127.0.0.1:29093,2@127.0.0.1:29095,3@127.0.0.1:29097',
      'listeners': 'PLAINTEXT://127.0.0.1:29094,CONTROLLER://127.0.0.1:29095', 'advertised.listeners': 'PLAINTEXT://127.0.0.1:29094',
      'offsets.topic.replication.factor': '3', 'transaction.state.log.replication.factor': '3', 'transaction.state.log.min.isr': '2',
      'share.coordinator.state.topic.replication.factor': '3', 'default.replication.factor': '3', 'min.insync.replicas': '2',
    });
  });

  it('the advertised host is where the listeners bind and what clients are told', () => {
    const p = props(serverProperties({ host: '10.77.0.1', port: 9092, controllerPort: 9093 }, '/d'));
    expect(p['advertised.listeners']).toBe('PLAINTEXT://10.77.0.1:9092');
    expect(p['controller.quorum.voters']).toBe('1@10.77.0.1:9093');
  });

  it.each([[1, 1, 1], [2, 2, 1], [3, 3, 2], [5, 3, 2]])('replication for %i brokers: factor %i, min.insync.replicas %i', (brokers, rf, isr) => {
    expect(replicationFor(brokers)).toEqual({ replicationFactor: rf, minInsyncReplicas: isr });
  });
});

describe('HBase site', () => {
  const o = { stackDir: '/s', cacheDir: '/c', zkPort: 22181, masterPort: 26000, regionServerPort: 26020, heapMb: 1024, startTimeoutMs: 1000 };

  it('one region server on loopback: stock HMaster, the fractions as before', () => {
    expect(usesLocalCluster({ ...o, regionServers: 1 })).toBe(false);
    expect(regionServerPorts(o)).toEqual([26020]);
    expect(site(siteXml(o, '/d'))).toMatchObject({ 'hbase.regionserver.global.memstore.size': '0.3', 'hfile.block.cache.size': '0.2', 'hbase.master.hostname': '127.0.0.1', 'hbase.master.wait.on.regionservers.mintostart': '1' });
  });

  it('two region servers: LocalCluster, ports 10 apart, control on master + 90, heap fractions shared', () => {
    const two = { ...o, regionServers: 2 };
    expect(usesLocalCluster(two)).toBe(true);
    expect(regionServerPorts(two)).toEqual([26020, 26030]);
    expect(controlPort(two)).toBe(26090);
    expect(site(siteXml(two, '/d'))).toMatchObject({ 'hbase.regionserver.global.memstore.size': '0.15', 'hfile.block.cache.size': '0.1', 'hbase.master.wait.on.regionservers.mintostart': '2' });
  });

  it('another host: every server binds to and registers under it, ZooKeeper included', () => {
    const s = site(siteXml({ ...o, host: '10.77.0.1' }, '/d'));
    expect(usesLocalCluster({ host: '10.77.0.1' })).toBe(true);
    for (const k of ['hbase.zookeeper.quorum', 'hbase.zookeeper.property.clientPortAddress', 'hbase.master.hostname', 'hbase.unsafe.regionserver.hostname', 'hbase.master.ipc.address', 'hbase.regionserver.ipc.address']) expect(s[k]).toBe('10.77.0.1');
  });

  it('caller properties win over the defaults', () => {
    const s = siteXml({ ...o, site: { 'hbase.client.scanner.timeout.period': '10000', 'hbase.regionserver.handler.count': '8' } }, '/d');
    expect(site(s)).toMatchObject({ 'hbase.client.scanner.timeout.period': '10000', 'hbase.regionserver.handler.count': '8' });
    expect(s.match(/hbase\.regionserver\.handler\.count/g)).toHaveLength(1);
  });
});

describe('configuration (issue 14 block)', () => {
  it('defaults keep one machine on loopback', () => {
    const cfg = buildConfig({});
    expect([cfg.stack.kafkaBrokerCount, cfg.stack.hbaseRegionServers, cfg.stack.advertisedHost, cfg.metricsHost, cfg.log.destination]).toEqual([1, 1, '127.0.0.1', '127.0.0.1', 'stderr']);
    expect(cfg.kafka.brokers).toEqual(['127.0.0.1:9092']);
    expect(cfg.hbase.zkQuorum).toBe('127.0.0.1:2181');
  });

  it('a 3-broker stack: the default bootstrap lists every node; --brokers wins over the variable', () => {
    expect(buildConfig({ STAGELINE_KAFKA_BROKER_COUNT: '3', STAGELINE_KAFKA_PORT: '29092' }).kafka.brokers).toEqual(['127.0.0.1:29092', '127.0.0.1:29094', '127.0.0.1:29096']);
    expect(buildConfig({ STAGELINE_KAFKA_BROKER_COUNT: '3' }, { brokers: '1' }).stack.kafkaBrokerCount).toBe(1);
    // `stack up --kafka-brokers 3` (the spelling): a bare number is the count, not a bootstrap list.
    expect(buildConfig({}, { 'kafka-brokers': '3' }).kafka.brokers).toEqual(['127.0.0.1:9092', '127.0.0.1:9094', '127.0.0.1:9096']);
    expect(buildConfig({}, { 'kafka-brokers': '3' }).stack.kafkaBrokerCount).toBe(3);
    expect(buildConfig({}, { 'kafka-brokers': 'b1:9092' }).kafka.brokers).toEqual(['b1:9092']);
    const o = stackOptions(buildConfig({ STAGELINE_KAFKA_BROKER_COUNT: '3', STAGELINE_HBASE_REGION_SERVERS: '2' }));
    expect([o.kafka.brokers, o.hbase.regionServers]).toEqual([3, 2]);
  });

  it('the advertised host is the default address of the servers and what the stack binds to', () => {
    const cfg = buildConfig({ STAGELINE_ADVERTISED_HOST: '10.77.0.1' });
    expect(cfg.kafka.brokers).toEqual(['10.77.0.1:9092']);
    expect(cfg.hbase.zkQuorum).toBe('10.77.0.1:2181');
    const o = stackOptions(cfg);
    expect([o.kafka.host, o.hbase.host, o.mysql.bindAddress]).toEqual(['10.77.0.1', '10.77.0.1', '10.77.0.1']);
  });

  it.each([
    [{ STAGELINE_KAFKA_BROKER_COUNT: '0' }, /STAGELINE_KAFKA_BROKER_COUNT must be an integer in 1\.\.9/],
    [{ STAGELINE_ADVERTISED_HOST: 'a b' }, /STAGELINE_ADVERTISED_HOST must be a host name or IP address/],
    [{ STAGELINE_METRICS_HOST: 'http://x' }, /STAGELINE_METRICS_HOST must be/],
    [{ STAGELINE_LOG_DESTINATION: 'file' }, /STAGELINE_LOG_DESTINATION must be one of stderr, stdout/],
  ])('refuses %o', (env, msg) => {
    expect(() => buildConfig(env)).toThrow(msg);
  });

  it('metrics host and log destination reach the config', () => {
    const cfg = buildConfig({ STAGELINE_METRICS_HOST: '0.0.0.0', STAGELINE_LOG_DESTINATION: 'stdout' });
    expect([cfg.metricsHost, cfg.log.destination]).toEqual(['0.0.0.0', 'stdout']);
  });
});

describe('newClusterId', () => {
  it('never starts with "-" (the storage tool would read it as an option), redrawing when it would', () => {
    const draws = [Buffer.alloc(16, 0xf8), Buffer.alloc(16, 0xfb), Buffer.alloc(16, 1)];
    const id = newClusterId(() => draws.shift()!);
    expect(Buffer.alloc(16, 0xf8).toString('base64url').startsWith('-')).toBe(true);
    expect(id).toBe(Buffer.alloc(16, 1).toString('base64url'));
    expect(draws).toEqual([]);
    for (let i = 0; i < 2000; i++) expect(newClusterId()).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
  });
});
