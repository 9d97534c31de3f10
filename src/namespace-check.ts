/**
 * The one start-up check of commands that need a provisioned namespace: without it a new user's
 * `STAGELINE_NAMESPACE=new stageline ingest FILE` failed deep inside with MySQL's
 * "Unknown database 'new' (ER_BAD_DB_ERROR)", and `nightly` re-spawned its master six times (issue 16).
 * Only MySQL is asked (database + schema_migrations): one round trip. HBase tables and Kafka topics
 * are made by the same `provision`, so a namespace whose database was migrated has them too.
 */
import type { MysqlConfig } from './config.js';
import { databaseProvisioned } from './adapters/mysql.js';
import { StagelineError } from './errors.js';

export async function assertProvisioned(cfg: { namespace: string; mysql: MysqlConfig }): Promise<void> {
  const state = await databaseProvisioned(cfg.mysql);
  if (state.database && state.migrated) return;
  const why = state.database ? `MySQL database ${cfg.mysql.database} has no schema_migrations` : `no MySQL database ${cfg.mysql.database}`;
  throw new StagelineError('NOT_PROVISIONED', `namespace ${cfg.namespace} is not provisioned: run \`stageline provision\` (${why})`);
}
