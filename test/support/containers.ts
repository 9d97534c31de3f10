/**
 * The card's testcontainers path, for machines with a Docker engine (none exists on our CI
 * machines, so this is untested here and kept thin): start the three servers as containers and
 * point the STAGELINE_* variables at them, so the same tests run unchanged.
 */
import { GenericContainer, Wait } from 'testcontainers';

export async function startContainers(): Promise<void> {
  const mysql = await new GenericContainer('mysql:8.4')
    .withEnvironment({ MYSQL_ALLOW_EMPTY_PASSWORD: 'yes' })
    .withExposedPorts(3306)
    .withWaitStrategy(Wait.forLogMessage(/ready for connections.*port: 3306/))
    .start();
  const kafka = await new GenericContainer('apache/kafka:4.1.1')
    .withExposedPorts({ container: 9092, host: 19092 })
    .withEnvironment({
      KAFKA_NODE_ID: '1', KAFKA_PROCESS_ROLES: 'broker,controller',
      KAFKA_LISTENERS: 'PLAINTEXT://:9092,CONTROLLER://:9093', KAFKA_ADVERTISED_LISTENERS: 'PLAINTEXT://127.0.0.1:19092',
      KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER', KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1', KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
    })
    .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
    .start();
  // HBase registers its servers by hostname; a fixed hostname and host networking keep the Node client's view consistent.
  const hbase = await new GenericContainer('harisekhon/hbase:2.1')
    .withNetworkMode('host')
    .withWaitStrategy(Wait.forLogMessage(/Master has completed initialization/))
    .start();
  void hbase;
  process.env.STAGELINE_MYSQL_URL = `mysql://root@127.0.0.1:${mysql.getMappedPort(3306)}`;
  process.env.STAGELINE_KAFKA_BROKERS = `127.0.0.1:19092`;
  process.env.STAGELINE_HBASE_ZK = '127.0.0.1:2181';
  void kafka;
}
