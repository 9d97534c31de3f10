/** Messages a stage could not decode or handle (also on the stage's dead-letter topic), with their payload. */
import type { Db } from '../../adapters/mysql.js';
import type { DeadLettersPort } from '../types.js';
import type { DeadLetterRow } from '../types.js';
import { inList, msOrNull, num, statementBudget, tsCol } from './common.js';

const COLUMNS = `id, stage, source_topic, kafka_partition, kafka_offset, day, epoch, error_code, error, ${tsCol('failed_at')}, payload_bytes, ${tsCol('redriven_at')}, redrive_count`;

function toRow(r: Record<string, unknown>): DeadLetterRow {
  return {
    id: num(r.id), stage: String(r.stage), topic: String(r.source_topic), partition: num(r.kafka_partition), offset: String(r.kafka_offset),
    day: r.day === null || r.day === undefined ? null : String(r.day), epoch: r.epoch === null || r.epoch === undefined ? null : num(r.epoch),
    code: String(r.error_code), error: String(r.error), failed_at: msOrNull(r.failed_at) ?? 0,
    payload_bytes: r.payload_bytes === null || r.payload_bytes === undefined ? null : num(r.payload_bytes), redriven_at: msOrNull(r.redriven_at), redrive_count: num(r.redrive_count),
  };
}

export function mysqlDeadLetters(db: Db): DeadLettersPort {
  return {
    async add(d) {
      // Bounded below the packet: a dead letter that cannot be stored would stop its partition for good.
      const budget = await statementBudget(db);
      const payload = d.payload && d.payload.length > budget - 16_384 ? d.payload.subarray(0, Math.max(0, budget - 16_384)) : d.payload ?? null;
      await db.execute('INSERT IGNORE INTO dead_letters (stage, source_topic, kafka_partition, kafka_offset, day, epoch, error_code, error, payload, payload_bytes, msg_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [d.stage, d.topic, d.partition, d.offset, d.day ?? null, d.epoch ?? null, d.code, d.error.slice(0, 4000), payload, d.payload_bytes ?? d.payload?.length ?? null, d.key?.subarray(0, 1024) ?? null]);
    },
    async count() {
      const [r] = await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM dead_letters');
      return num(r?.n);
    },
    async list(f, limit = 1000) {
      const where: string[] = [];
      const params: Array<string | number> = [];
      if (f.day !== undefined) { where.push('day = ?'); params.push(f.day); }
      if (f.stage !== undefined) { where.push('stage = ?'); params.push(f.stage); }
      if (f.pending) where.push('redriven_at IS NULL');
      const rows = await db.query<Record<string, unknown>>(`SELECT ${COLUMNS} FROM dead_letters${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ${Number(limit)}`, params);
      return rows.map(toRow);
    },
    async get(id) {
      const [r] = await db.query<Record<string, unknown>>(`SELECT ${COLUMNS}, payload, msg_key FROM dead_letters WHERE id = ?`, [id]);
      return r ? { ...toRow(r), payload: (r.payload as Buffer | null) ?? null, key: (r.msg_key as Buffer | null) ?? null } : undefined;
    },
    async markRedriven(ids) {
      for (let i = 0; i < ids.length; i += 1000) {
        const part = ids.slice(i, i + 1000);
        await db.execute(`UPDATE dead_letters SET redriven_at = NOW(3), redrive_count = redrive_count + 1 WHERE id IN (${inList(part)})`, [...part]);
      }
    },
    async last() {
      const [r] = await db.query<{ stage: string; error: string }>('SELECT stage, error FROM dead_letters ORDER BY failed_at DESC, id DESC LIMIT 1');
      return r ? { stage: r.stage, error: r.error } : undefined;
    },
  };
}
