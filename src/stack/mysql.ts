/**
 * MySQL for the native stack: use the configured server when it answers; otherwise start a private
 * mariadbd under the stack dir when MariaDB is installed; otherwise say exactly what to install.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { MysqlConfig } from '../config.js';
import { StagelineError } from '../errors.js';
import { mysqlPing } from '../adapters/mysql.js';
import { readPid, serviceDirs, spawnDaemon, stopPid, waitReady, type ServiceStatus } from './common.js';

export interface MysqlStackOptions {
  stackDir: string;
  mysql: MysqlConfig;
  startTimeoutMs: number;
  /** Address a private mariadbd listens on. @defaultValue 127.0.0.1 */
  bindAddress?: string;
}

const which = (bin: string): string | undefined => {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin']) {
    const p = join(dir, bin);
    if (existsSync(p)) return p;
  }
  const r = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
};

const endpoint = (o: MysqlStackOptions) => `mysql://${o.mysql.user}@${o.mysql.host}:${o.mysql.port}`;

export async function mysqlStatus(o: MysqlStackOptions): Promise<ServiceStatus> {
  const dirs = serviceDirs(o.stackDir, 'mysql');
  const pid = readPid(dirs.pidFile);
  const up = await mysqlPing(o.mysql);
  if (pid !== undefined) return { name: 'mysql', state: up ? 'running' : 'unhealthy', endpoint: endpoint(o), pid, logFile: dirs.logFile };
  return { name: 'mysql', state: up ? 'external' : 'stopped', endpoint: endpoint(o), ...(up ? { detail: 'not started by stageline; left alone by stack down' } : {}) };
}

export async function startMysql(o: MysqlStackOptions, log: (m: string) => void): Promise<ServiceStatus & { startedNow: boolean; ms: number }> {
  const t0 = Date.now();
  const current = await mysqlStatus(o);
  if (current.state === 'running' || current.state === 'external') return { ...current, startedNow: false, ms: Date.now() - t0 };
  // "On this machine": loopback, or the address this machine's servers are told to bind to.
  const local = ['127.0.0.1', 'localhost', '::1', ...(o.bindAddress ? [o.bindAddress] : [])].includes(o.mysql.host);
  const mariadbd = which('mariadbd') ?? which('mysqld');
  const installDb = which('mariadb-install-db') ?? which('mysql_install_db');
  if (!local) throw new StagelineError('STACK_START_FAILED', `MySQL at ${endpoint(o)} does not answer, and it is not on this machine so stageline cannot start it`);
  if (!mariadbd || !installDb) {
    throw new StagelineError('STACK_MISSING_DEPENDENCY', `No MySQL answers at ${endpoint(o)} and no MariaDB server is installed to start one. Install it (Debian: apt-get install mariadb-server) or set STAGELINE_MYSQL_URL to a reachable server.`);
  }
  const dirs = serviceDirs(o.stackDir, 'mysql');
  mkdirSync(dirs.data, { recursive: true });
  if (!existsSync(join(dirs.data, 'mysql'))) {
    log(`initialising a private MariaDB data dir in ${dirs.data}`);
    // --no-defaults (it must come first): the system my.cnf (user=mysql, its datadir and socket) must not leak into a private server.
    const r = spawnSync(installDb, ['--no-defaults', '--auth-root-authentication-method=normal', '--user=root', `--datadir=${dirs.data}`, '--skip-test-db'], { encoding: 'utf8' });
    if (r.status !== 0) throw new StagelineError('STACK_START_FAILED', `mariadb-install-db failed:\n${r.stdout}${r.stderr}`);
  }
  const bind = o.bindAddress ?? '127.0.0.1';
  // Bound to an address other hosts reach (STAGELINE_ADVERTISED_HOST): clients connect from their
  // own addresses, which root@localhost does not match, and a name lookup of each client address
  // can hang where no DNS answers. This is the stack's private server, like the Docker image
  // with an empty root password: not something to expose on a network you do not control.
  const remote = !['127.0.0.1', 'localhost', '::1'].includes(bind);
  const socket = join(dirs.root, 'mysqld.sock');
  const pid = spawnDaemon(mariadbd, ['--no-defaults', '--user=root', `--datadir=${dirs.data}`, `--socket=${socket}`, `--port=${o.mysql.port}`, `--bind-address=${bind}`, ...(remote ? ['--skip-name-resolve'] : []), `--pid-file=${join(dirs.root, 'mariadbd.pid')}`], dirs);
  if (remote) {
    const client = which('mariadb') ?? which('mysql');
    if (!client) throw new StagelineError('STACK_MISSING_DEPENDENCY', 'the mariadb client is needed to let root in from other hosts: apt-get install mariadb-client');
    const grant = "CREATE USER IF NOT EXISTS 'root'@'%'; GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;";
    await waitReady('mysql (socket)', async () => spawnSync(client, ['--no-defaults', `--socket=${socket}`, '-uroot', '-e', grant], { stdio: 'ignore' }).status === 0, { timeoutMs: o.startTimeoutMs, pid, logFile: dirs.logFile });
  }
  await waitReady('mysql', () => mysqlPing(o.mysql), { timeoutMs: o.startTimeoutMs, pid, logFile: dirs.logFile });
  return { name: 'mysql', state: 'running', endpoint: endpoint(o), pid, logFile: dirs.logFile, startedNow: true, ms: Date.now() - t0 };
}

/** Stops only a mariadbd that `up` started; an external server is left alone. */
export async function stopMysql(o: MysqlStackOptions): Promise<boolean> {
  return stopPid(serviceDirs(o.stackDir, 'mysql').pidFile);
}
