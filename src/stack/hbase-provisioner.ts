/**
 * The HBase admin path for provisioning: the Java admin tool with HBase's jars (from the same
 * Maven cache the native stack uses) and a client hbase-site.xml pointing at the configured
 * ZooKeeper quorum, so `provision` works against any HBase, not only the local one.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { createHBaseAdmin, type HBaseAdminPort } from '../adapters/hbase-admin.js';
import { hbaseClasspath } from './hbase.js';

export function clientConfDir(cfg: Readonly<Config>): string {
  const dir = join(cfg.stack.dir, 'hbase-client-conf');
  mkdirSync(dir, { recursive: true });
  const hosts = cfg.hbase.zkQuorum.split(',').map((h) => h.trim());
  const port = hosts[0]?.split(':')[1] ?? '2181';
  const quorum = hosts.map((h) => h.split(':')[0]).join(',');
  writeFileSync(join(dir, 'hbase-site.xml'), `<?xml version="1.0"?>
<configuration>
  <property><name>hbase.zookeeper.quorum</name><value>${quorum}</value></property>
  <property><name>hbase.zookeeper.property.clientPort</name><value>${port}</value></property>
</configuration>
`);
  return dir;
}

export function hbaseProvisioner(cfg: Readonly<Config>, log: Logger): HBaseAdminPort {
  const classpath = hbaseClasspath({ cacheDir: cfg.stack.cacheDir }, (m) => log.info(m));
  return createHBaseAdmin({ classpath, confDir: clientConfDir(cfg), ...(cfg.stack.javaHome ? { javaHome: cfg.stack.javaHome } : {}) }, log.child({ component: 'hbase-admin' }));
}
