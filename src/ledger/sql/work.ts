/** Per-chunk work reports (`chunk_work`): each replica's running totals per chunk and stage. */
import type { Db } from '../../adapters/mysql.js';
import type { WorkPort } from '../types.js';
import { placeholders } from './common.js';

export function mysqlWork(db: Db): WorkPort {
  return {
    async write(stage, replica, totals) {
      for (let i = 0; i < totals.length; i += 200) {
        const rows = totals.slice(i, i + 200);
        await db.execute(
          `INSERT INTO chunk_work (day, epoch, chunk_id, stage, replica, messages, dropped, events, queued_ms, handle_ms, write_ms, first_at, last_at)
           VALUES ${placeholders(rows.length, '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, FROM_UNIXTIME(? / 1000), FROM_UNIXTIME(? / 1000))')}
           ON DUPLICATE KEY UPDATE messages = VALUES(messages), dropped = VALUES(dropped), events = VALUES(events), queued_ms = VALUES(queued_ms), handle_ms = VALUES(handle_ms), write_ms = VALUES(write_ms), last_at = VALUES(last_at)`,
          rows.flatMap((t) => [t.day, t.epoch, t.chunkId, stage, replica, t.messages, t.dropped, t.events, t.queuedMs, t.handleMs, t.writeMs, t.firstAt, t.lastAt]),
        );
      }
    },
  };
}
