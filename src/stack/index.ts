/**
 * `stageline stack up|down|status`: the three servers on this machine, natively. Kafka and HBase
 * start side by side (their JVM start-ups overlap well even on 2 cores); MySQL is usually external.
 */
import type { Config } from '../config.js';
import type { ServiceStatus } from './common.js';
import { startKafka, stopKafka, kafkaStatus, type KafkaStackOptions } from './kafka.js';
import { startHBase, stopHBase, hbaseStatus, type HBaseStackOptions } from './hbase.js';
import { startMysql, stopMysql, mysqlStatus, type MysqlStackOptions } from './mysql.js';

export interface StackOptions {
  kafka: KafkaStackOptions;
  hbase: HBaseStackOptions;
  mysql: MysqlStackOptions;
}

export function stackOptions(cfg: Readonly<Config>): StackOptions {
  const s = cfg.stack;
  const java = s.javaHome ? { javaHome: s.javaHome } : {};
  return {
    kafka: { stackDir: s.dir, cacheDir: s.cacheDir, host: s.advertisedHost, port: s.kafkaPort, controllerPort: s.kafkaControllerPort, heapMb: s.kafkaHeapMb, startTimeoutMs: s.startTimeoutMs, brokers: s.kafkaBrokerCount, ...java },
    hbase: { stackDir: s.dir, cacheDir: s.cacheDir, zkPort: s.hbaseZkPort, masterPort: s.hbaseMasterPort, regionServerPort: s.hbaseRegionServerPort, heapMb: s.hbaseHeapMb, startTimeoutMs: s.startTimeoutMs, regionServers: s.hbaseRegionServers, host: s.advertisedHost, ...java },
    mysql: { stackDir: s.dir, mysql: cfg.mysql, startTimeoutMs: s.startTimeoutMs, bindAddress: s.advertisedHost },
  };
}

export type StartedService = ServiceStatus & { startedNow: boolean; ms: number };

export async function stackUp(o: StackOptions, log: (m: string) => void): Promise<StartedService[]> {
  const mysql = await startMysql(o.mysql, log);
  const [kafka, hbase] = await Promise.all([startKafka(o.kafka, log), startHBase(o.hbase, log)]);
  return [...kafka, hbase, mysql];
}

export async function stackDown(o: StackOptions): Promise<Array<{ name: string; stopped: boolean }>> {
  const [kafka, hbase, mysql] = await Promise.all([stopKafka(o.kafka), stopHBase(o.hbase), stopMysql(o.mysql)]);
  return [{ name: 'kafka', stopped: kafka }, { name: 'hbase', stopped: hbase }, { name: 'mysql', stopped: mysql }];
}

export async function stackStatus(o: StackOptions): Promise<ServiceStatus[]> {
  const [kafka, hbase, mysql] = await Promise.all([kafkaStatus(o.kafka), hbaseStatus(o.hbase), mysqlStatus(o.mysql)]);
  return [...kafka, hbase, mysql];
}
