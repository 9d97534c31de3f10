/** The ledger on MariaDB/MySQL: the per-aggregate SQL files assembled over one Db. */
import type { Db } from '../adapters/mysql.js';
import type { Ledger } from './types.js';
import { mysqlRuns } from './sql/runs.js';
import { mysqlLate } from './sql/late.js';
import { mysqlRetention } from './sql/retention.js';
import { mysqlPlan } from './sql/plan.js';
import { mysqlChunks } from './sql/chunks.js';
import { mysqlMerchantDays } from './sql/merchant-days.js';
import { mysqlProgress } from './sql/progress.js';
import { mysqlOffsets } from './sql/offsets.js';
import { mysqlWork } from './sql/work.js';
import { mysqlQuarantine } from './sql/quarantine.js';
import { mysqlDeadLetters } from './sql/dead-letters.js';
import { mysqlIngest } from './sql/ingest.js';
import { mysqlRegistry } from './sql/registry.js';

export function createMysqlLedger(db: Db): Ledger {
  return {
    runs: mysqlRuns(db),
    registry: mysqlRegistry(db),
    late: mysqlLate(db),
    retention: mysqlRetention(db),
    plan: mysqlPlan(db),
    chunks: mysqlChunks(db),
    merchantDays: mysqlMerchantDays(db),
    progress: mysqlProgress(db),
    offsets: mysqlOffsets(db),
    work: mysqlWork(db),
    quarantine: mysqlQuarantine(db),
    deadLetters: mysqlDeadLetters(db),
    ingest: mysqlIngest(db),
  };
}
