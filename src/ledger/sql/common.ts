/** Small helpers shared by the ledger's SQL files. */
import type { SqlParam } from '../../adapters/mysql.js';
import { utcDayFrame, type MerchantFrame } from '../../domain/zones.js';

export const num = (x: unknown): number => Number(x ?? 0);
/** Times are selected as UNIX_TIMESTAMP(x) * 1000: epoch ms whatever the session's time zone. */
export const msOrNull = (x: unknown): number | null => (x === null || x === undefined ? null : Math.round(Number(x)));
export const tsCol = (col: string, as = col): string => `UNIX_TIMESTAMP(${col}) * 1000 AS ${as}`;
export const placeholders = (n: number, tuple: string): string => new Array<string>(n).fill(tuple).join(', ');
export const inList = (ids: readonly SqlParam[]): string => (ids.length === 0 ? "''" : ids.map(() => '?').join(', '));
export const iso = (x: unknown): string | null => {
  const v = msOrNull(x);
  return v === null ? null : new Date(v).toISOString();
};

/** The frame columns of merchant_days, as selected by FRAME_COLUMNS. */
export const FRAME_COLUMNS = 'time_zone, day_start_ms, day_end_ms, hours, day_start_iso, day_end_iso';

/** A merchant-day's stored frame; merchant-days planned before frames were stored are UTC days. */
export function frameFromRow(day: string, r: Record<string, unknown>): MerchantFrame {
  if (r.time_zone === null || r.time_zone === undefined) return utcDayFrame(day);
  return { time_zone: String(r.time_zone), start_ms: num(r.day_start_ms), end_ms: num(r.day_end_ms), hours: num(r.hours), start_iso: String(r.day_start_iso), end_iso: String(r.day_end_iso) };
}

/** Rough bytes of a statement's parameters: what a multi-row statement is cut by. */
export function paramBytes(row: readonly SqlParam[]): number {
  let n = 16;
  for (const p of row) n += typeof p === 'string' ? Buffer.byteLength(p) * 2 + 8 : Buffer.isBuffer(p) ? p.length * 2 + 8 : 24;
  return n;
}

/**
 * Cuts rows into runs that each fit one statement: at most `maxRows`, and at most `maxBytes` of
 * parameters (below the server's max_allowed_packet). A row bigger than the bound goes alone.
 */
export function* byBytes<R>(rows: readonly R[], params: (r: R) => readonly SqlParam[], maxBytes: number, maxRows = 1000): Generator<R[]> {
  let part: R[] = [];
  let bytes = 0;
  for (const r of rows) {
    const b = paramBytes(params(r));
    if (part.length > 0 && (part.length >= maxRows || bytes + b > maxBytes)) {
      yield part;
      part = [];
      bytes = 0;
    }
    part.push(r);
    bytes += b;
  }
  if (part.length > 0) yield part;
}

/** INSERT (or INSERT IGNORE, or with an ON DUPLICATE tail) of many rows, cut by bytes and rows. */
export async function insertMany<R>(
  q: { execute(sql: string, params?: SqlParam[]): Promise<{ affectedRows: number }> },
  maxBytes: number,
  head: string,
  tuple: string,
  rows: readonly R[],
  params: (r: R) => readonly SqlParam[],
  tail = '',
): Promise<number> {
  let affected = 0;
  for (const part of byBytes(rows, params, maxBytes)) {
    const r = await q.execute(`${head} VALUES ${placeholders(part.length, tuple)}${tail ? ` ${tail}` : ''}`, part.flatMap((x) => [...params(x)]));
    affected += r.affectedRows;
  }
  return affected;
}

/** Half the packet: room for the statement text and the protocol's own framing. */
export const statementBudget = async (db: { maxPacketBytes(): Promise<number> }): Promise<number> => Math.floor((await db.maxPacketBytes()) / 2);
