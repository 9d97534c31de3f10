/**
 * MySQL/MariaDB adapter (mysql2): a pool, retried idempotent statements, transactions, and
 * versioned SQL migrations. Every statement the project issues is written to be safe to repeat
 * (INSERT IGNORE, upserts, guarded UPDATEs), which is what makes retrying after a lost connection
 * correct here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { MysqlConfig } from '../config.js';
import { StagelineError, isRetryable } from '../errors.js';
import type { Logger } from '../log.js';
import { retry } from '../retry.js';
import { projectPath } from '../paths.js';

export type SqlParam = string | number | bigint | boolean | null | Buffer | Date;
export type Row = Record<string, unknown>;

export interface Queryable {
  query<T = Row>(sql: string, params?: SqlParam[]): Promise<T[]>;
  execute(sql: string, params?: SqlParam[]): Promise<{ affectedRows: number; insertId: number }>;
}

export interface Db extends Queryable {
  readonly database: string;
  /** The server's max_allowed_packet in bytes (read once): multi-row statements are cut below it. */
  maxPacketBytes(): Promise<number>;
  /** Runs fn in one transaction; the whole transaction is retried on deadlocks and lost connections. */
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  /** Runs fn on one connection without a transaction: for session state such as GET_LOCK. */
  session<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface DbOptions {
  /** attempts for one statement or transaction on retryable errors @defaultValue 12 (about 40 s) */
  attempts?: number;
  connectionLimit?: number;
}

function wrapError(err: unknown): unknown {
  if (err instanceof StagelineError) return err;
  const code = (err as { code?: string }).code ?? '';
  if (isRetryable(err)) return new StagelineError('MYSQL_UNAVAILABLE', `MySQL: ${(err as Error).message} (${code})`, { retryable: true, cause: err });
  return new StagelineError('MYSQL_ERROR', `MySQL: ${(err as Error).message} (${code})`, { retryable: false, cause: err });
}

function queryable(run: () => PoolConnection | Pool): Queryable {
  return {
    async query<T>(sql: string, params: SqlParam[] = []): Promise<T[]> {
      const [rows] = await run().query<RowDataPacket[]>(sql, params);
      return rows as unknown as T[];
    },
    async execute(sql: string, params: SqlParam[] = []) {
      const [res] = await run().query<ResultSetHeader>(sql, params);
      return { affectedRows: res.affectedRows, insertId: res.insertId };
    },
  };
}

function baseOptions(cfg: MysqlConfig) {
  return {
    host: cfg.host,
    port: cfg.port,
    user: cfg.user,
    password: cfg.password,
    charset: 'utf8mb4_bin',
    // DATE columns stay 'YYYY-MM-DD' strings: the day is a calendar date, never a local-time instant.
    dateStrings: true as const,
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: false,
    ...(cfg.ssl ? { ssl: { ...(cfg.ssl.ca ? { ca: cfg.ssl.ca } : {}), rejectUnauthorized: cfg.ssl.rejectUnauthorized } } : {}),
  };
}

/** SELECT 1 against the server, no database needed: the stack's readiness probe. */
export async function mysqlPing(cfg: MysqlConfig, timeoutMs = 2000): Promise<boolean> {
  let conn: mysql.Connection | undefined;
  try {
    conn = await mysql.createConnection({ ...baseOptions(cfg), connectTimeout: timeoutMs });
    await conn.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await conn?.end().catch(() => undefined);
  }
}

/**
 * Whether the namespace's database exists and was migrated at least once (schema_migrations),
 * asked of information_schema on a connection without a database: one round trip, nothing created.
 */
export async function databaseProvisioned(cfg: MysqlConfig, timeoutMs = 5000): Promise<{ database: boolean; migrated: boolean }> {
  const conn = await mysql.createConnection({ ...baseOptions(cfg), connectTimeout: timeoutMs }).catch((e: unknown) => { throw wrapError(e); });
  try {
    const [rows] = await conn.query<RowDataPacket[]>(
      "SELECT (SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?) AS db, (SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = 'schema_migrations') AS mig",
      [cfg.database, cfg.database],
    );
    return { database: Number(rows[0]?.db ?? 0) > 0, migrated: Number(rows[0]?.mig ?? 0) > 0 };
  } catch (e) {
    throw wrapError(e);
  } finally {
    await conn.end().catch(() => undefined);
  }
}

export async function ensureDatabase(cfg: MysqlConfig): Promise<void> {
  const conn = await mysql.createConnection({ ...baseOptions(cfg), connectTimeout: 5000 }).catch((e: unknown) => { throw wrapError(e); });
  try {
    await conn.query(`CREATE DATABASE IF NOT EXISTS \`${cfg.database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  } finally {
    await conn.end();
  }
}

export async function dropDatabase(cfg: MysqlConfig): Promise<void> {
  const conn = await mysql.createConnection({ ...baseOptions(cfg), connectTimeout: 5000 });
  try {
    await conn.query(`DROP DATABASE IF EXISTS \`${cfg.database}\``);
  } finally {
    await conn.end();
  }
}

export function createDb(cfg: MysqlConfig, log: Logger, opts: DbOptions = {}): Db {
  const pool = mysql.createPool({ ...baseOptions(cfg), database: cfg.database, connectionLimit: opts.connectionLimit ?? 8, connectTimeout: 5000, enableKeepAlive: true });
  const attempts = opts.attempts ?? 12;
  const onRetry = (err: unknown, attempt: number, delayMs: number) => log.warn({ err: (err as Error).message, attempt, delayMs }, 'mysql retry');
  const direct = queryable(() => pool);
  const retried = <T>(fn: () => Promise<T>): Promise<T> =>
    retry(async () => {
      try {
        return await fn();
      } catch (err) {
        throw wrapError(err);
      }
    }, { attempts, maxDelayMs: 5000, onRetry });
  let maxPacket: Promise<number> | undefined;
  return {
    database: cfg.database,
    maxPacketBytes: () => (maxPacket ??= retried(() => direct.query<{ p: number | string }>('SELECT @@max_allowed_packet AS p')).then((r) => Number(r[0]?.p ?? 4 * 1024 * 1024)).catch((err: unknown) => { maxPacket = undefined; throw err; })),
    query: (sql, params) => retried(() => direct.query(sql, params)),
    execute: (sql, params) => retried(() => direct.execute(sql, params)),
    tx: (fn) =>
      retried(async () => {
        const conn = await pool.getConnection();
        try {
          await conn.beginTransaction();
          const out = await fn(queryable(() => conn));
          await conn.commit();
          return out;
        } catch (err) {
          await conn.rollback().catch(() => undefined);
          throw err;
        } finally {
          conn.release();
        }
      }),
    session: async (fn) => {
      const conn = await pool.getConnection().catch((e: unknown) => { throw wrapError(e); });
      try {
        return await fn(queryable(() => conn));
      } finally {
        conn.release();
      }
    },
    close: () => pool.end(),
  };
}

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function loadMigrations(dir = projectPath('src', 'db', 'migrations')): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d+_.+\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number(f.split('_')[0]), name: f, sql: readFileSync(join(dir, f), 'utf8') }));
}

/** Splits a migration file into statements on `;` at line ends (our migrations have no procedures). */
export function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*$/m)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter(Boolean);
}

/**
 * Applies the migrations not yet recorded, in order. MySQL commits DDL implicitly, so a named lock
 * (not a transaction) keeps two processes starting at once from applying the same file twice.
 */
export async function migrate(db: Db, log: Logger, migrations = loadMigrations()): Promise<number[]> {
  const lockName = `stageline_migrate_${db.database}`;
  return db.session(async (q) => {
    const [lock] = await q.query<{ got: number }>('SELECT GET_LOCK(?, 60) AS got', [lockName]);
    if (lock?.got !== 1) throw new StagelineError('MYSQL_ERROR', `could not take the migration lock ${lockName}`, { retryable: true });
    try {
      await q.execute('CREATE TABLE IF NOT EXISTS schema_migrations (version INT PRIMARY KEY, name VARCHAR(255) NOT NULL, applied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3))');
      const done = new Set((await q.query<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => r.version));
      const applied: number[] = [];
      for (const m of migrations) {
        if (done.has(m.version)) continue;
        for (const stmt of splitStatements(m.sql)) await q.execute(stmt);
        await q.execute('INSERT IGNORE INTO schema_migrations (version, name) VALUES (?, ?)', [m.version, m.name]);
        log.info({ migration: m.name }, 'migration applied');
        applied.push(m.version);
      }
      return applied;
    } finally {
      await q.query('SELECT RELEASE_LOCK(?)', [lockName]).catch(() => undefined);
    }
  });
}
