/**
 * What the native stack scripts share: pid files, liveness, log tails, readiness polling, and the
 * Maven jar cache. Each service file (kafka.ts, hbase.ts, mysql.ts) uses these and nothing else.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, readdirSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { StagelineError } from '../errors.js';
import { sleep } from '../retry.js';

export type ServiceState = 'running' | 'stopped' | 'external' | 'unhealthy';

export interface ServiceStatus {
  name: string;
  state: ServiceState;
  endpoint: string;
  pid?: number;
  logFile?: string;
  detail?: string;
}

/** Where one service keeps its pid file, log and data under the stack dir. */
export interface ServiceDirs {
  root: string;
  data: string;
  logFile: string;
  pidFile: string;
  conf: string;
}

export function serviceDirs(stackDir: string, name: string): ServiceDirs {
  const root = join(stackDir, name);
  return { root, data: join(root, 'data'), logFile: join(root, `${name}.log`), pidFile: join(root, `${name}.pid`), conf: join(root, 'conf') };
}

/**
 * Whether a process is alive. A killed process whose parent died too stays a zombie until init
 * reaps it (in a container init may never do), and signal 0 still reaches a zombie: so a 'Z' in
 * /proc/PID/stat counts as gone.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const end = stat.lastIndexOf(')');
    return stat.slice(end + 2, end + 3) !== 'Z';
  } catch {
    return true; // no /proc (not Linux): signal 0 is all we know
  }
}

/** The pid recorded by `up`, when that process still lives; stale pid files are removed. */
export function readPid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) return pid;
  rmSync(pidFile, { force: true });
  return undefined;
}

export function tail(file: string, lines = 40): string {
  if (!existsSync(file)) return `(no log at ${file})`;
  const all = readFileSync(file, 'utf8').split('\n');
  return all.slice(-lines).join('\n');
}

/** Starts a detached daemon whose stdout/stderr go to its log file, and records its pid. */
export function spawnDaemon(cmd: string, args: string[], dirs: ServiceDirs, env?: NodeJS.ProcessEnv): number {
  mkdirSync(dirs.root, { recursive: true });
  const fd = openSync(dirs.logFile, 'a');
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], cwd: dirs.root, ...(env ? { env } : {}) });
  closeSync(fd);
  if (child.pid === undefined) throw new StagelineError('STACK_START_FAILED', `could not spawn ${cmd}`);
  child.unref();
  writeFileSync(dirs.pidFile, String(child.pid));
  return child.pid;
}

/**
 * Polls `ready` until it returns true; fails with the tail of the service's log when the bound is
 * reached or the process died, so the person sees why instead of a bare timeout.
 */
export async function waitReady(name: string, ready: () => Promise<boolean>, opts: { timeoutMs: number; pid?: number; logFile?: string; intervalMs?: number }): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    let ok = false;
    try {
      ok = await ready();
    } catch {
      ok = false;
    }
    if (ok) return;
    const died = opts.pid !== undefined && !isAlive(opts.pid);
    if (died || Date.now() > deadline) {
      const why = died ? 'exited during start-up' : `was not ready within ${Math.round(opts.timeoutMs / 1000)} s`;
      const logTail = opts.logFile ? `\n--- last lines of ${opts.logFile} ---\n${tail(opts.logFile)}` : '';
      throw new StagelineError('STACK_START_FAILED', `${name} ${why}${logTail}`);
    }
    await sleep(opts.intervalMs ?? 500);
  }
}

/**
 * SIGTERM, wait up to `graceMs`, then SIGKILL; removes the pid file. With `signal` SIGKILL the
 * process gets no chance to shut down cleanly (the fault tests' kill -9); it is still waited for.
 */
export async function stopPid(pidFile: string, graceMs = 20_000, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<boolean> {
  const pid = readPid(pidFile);
  if (pid === undefined) return false;
  try { process.kill(-pid, signal); } catch { try { process.kill(pid, signal); } catch { /* gone */ } }
  const deadline = Date.now() + (signal === 'SIGKILL' ? 10_000 : graceMs);
  while (isAlive(pid) && Date.now() < deadline) await sleep(200);
  if (isAlive(pid)) {
    try { process.kill(-pid, 'SIGKILL'); } catch { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  }
  rmSync(pidFile, { force: true });
  return true;
}

/**
 * Resolves a runtime classpath through Maven into `<cacheDir>/<name>/lib`: the first call downloads,
 * later calls find the marker file and return at once. `pomDir` holds the project's pom.xml for it.
 */
export function ensureMavenJars(name: string, pomFile: string, cacheDir: string, log: (msg: string) => void): string {
  const libDir = join(cacheDir, name, 'lib');
  const marker = join(cacheDir, name, '.complete');
  const pomText = readFileSync(pomFile, 'utf8');
  if (existsSync(marker) && readFileSync(marker, 'utf8') === pomText) return libDir;
  if (spawnSync('mvn', ['-v'], { stdio: 'ignore' }).status !== 0) {
    throw new StagelineError('STACK_MISSING_DEPENDENCY', 'Maven (mvn) is needed to fetch the Kafka/HBase jars: apt-get install maven');
  }
  log(`fetching ${name} jars through Maven into ${libDir} (first run only)`);
  rmSync(libDir, { recursive: true, force: true });
  mkdirSync(libDir, { recursive: true });
  const res = spawnSync('mvn', ['-q', '-B', '-f', pomFile, 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${libDir}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (res.status !== 0) {
    throw new StagelineError('STACK_START_FAILED', `mvn could not fetch the ${name} jars:\n${(res.stdout + res.stderr).split('\n').slice(-30).join('\n')}`);
  }
  writeFileSync(marker, pomText);
  return libDir;
}

export function classpathOf(libDir: string, extra: string[] = []): string {
  const jars = readdirSync(libDir).filter((f) => f.endsWith('.jar')).sort().map((f) => join(libDir, f));
  return [...extra, ...jars].join(':');
}

/** Java 17 for the servers: JAVA_HOME when set, else the machine's default java. */
export function javaBin(javaHome: string | undefined): string {
  return javaHome ? join(javaHome, 'bin', 'java') : 'java';
}
