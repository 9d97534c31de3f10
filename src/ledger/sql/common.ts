/** Small helpers shared by the ledger's SQL files. */
import type { SqlParam } from '../../adapters/mysql.js';

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
