/**
 * The merchant registry (issue 13): `merchant_zones`, one row per entry of a merchant's zone
 * history. `apply` is given real changes only; it bumps `registry_clock.version` and stamps each
 * changed merchant with it in `merchant_zone_changes`. Ingest reads the histories with the version
 * (`read`), and a batch touching a merchant changed at a later version refuses to commit (see
 * ./ingest.ts): no rows count under days of a history that changed while they were being keyed.
 */
import type { Db } from '../../adapters/mysql.js';
import type { ZoneEntry, ZoneHistory } from '../../domain/zones.js';
import type { RegistryPort } from '../types.js';
import { inList, num } from './common.js';

function group(rows: ReadonlyArray<{ merchant_id: string; from_day: string; time_zone: string }>): Map<string, ZoneHistory> {
  const out = new Map<string, ZoneEntry[]>();
  for (const r of rows) {
    const list = out.get(r.merchant_id) ?? [];
    list.push({ zone: r.time_zone, fromDay: String(r.from_day) });
    out.set(r.merchant_id, list);
  }
  return out;
}

export function mysqlRegistry(db: Db): RegistryPort {
  return {
    async histories(ids) {
      const out = new Map<string, ZoneEntry[]>();
      const parts: Array<readonly string[] | undefined> = [];
      if (ids === undefined) parts.push(undefined);
      else for (let i = 0; i < ids.length; i += 1000) parts.push(ids.slice(i, i + 1000));
      for (const part of parts) {
        if (part !== undefined && part.length === 0) continue;
        const rows = await db.query<{ merchant_id: string; from_day: string; time_zone: string }>(
          `SELECT merchant_id, from_day, time_zone FROM merchant_zones${part ? ` WHERE merchant_id IN (${inList(part)})` : ''} ORDER BY merchant_id, from_day`, part ? [...part] : []);
        for (const [m, h] of group(rows)) out.set(m, [...h]);
      }
      return out as Map<string, ZoneHistory>;
    },
    async read() {
      // One snapshot: the version and the histories agree (InnoDB's consistent read in a transaction).
      return db.tx(async (q) => {
        const [v] = await q.query<{ version: number }>('SELECT version FROM registry_clock WHERE id = 1');
        const rows = await q.query<{ merchant_id: string; from_day: string; time_zone: string }>('SELECT merchant_id, from_day, time_zone FROM merchant_zones ORDER BY merchant_id, from_day');
        return { histories: group(rows), version: num(v?.version) };
      });
    },
    async storedDays(ids) {
      const out = new Map<string, string>();
      for (let i = 0; i < ids.length; i += 1000) {
        const part = ids.slice(i, i + 1000);
        const rows = await db.query<{ merchant_id: string; day: string }>(
          `SELECT merchant_id, MAX(day) AS day FROM raw_buckets WHERE rows_stored > 0 AND merchant_id IN (${inList(part)}) GROUP BY merchant_id`, [...part]);
        for (const r of rows) out.set(r.merchant_id, String(r.day));
      }
      return out;
    },
    async apply(changes) {
      if (changes.length === 0) return;
      await db.tx(async (q) => {
        await q.execute('UPDATE registry_clock SET version = version + 1 WHERE id = 1', []);
        const [v] = await q.query<{ version: number }>('SELECT version FROM registry_clock WHERE id = 1');
        for (const c of changes) {
          await q.execute('DELETE FROM merchant_zones WHERE merchant_id = ?', [c.merchant_id]);
          for (const e of c.history) {
            await q.execute('INSERT INTO merchant_zones (merchant_id, from_day, time_zone, set_at) VALUES (?, ?, ?, NOW(3))', [c.merchant_id, e.fromDay, e.zone]);
          }
          await q.execute('INSERT INTO merchant_zone_changes (merchant_id, version, changed_at) VALUES (?, ?, NOW(3)) ON DUPLICATE KEY UPDATE version = VALUES(version), changed_at = NOW(3)', [c.merchant_id, num(v?.version)]);
        }
      });
    },
  };
}
