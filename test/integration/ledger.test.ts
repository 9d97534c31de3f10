/** The ledger conformance suite on MariaDB: a private database, migrated by the product's own migrations. */
import { randomBytes } from 'node:crypto';
import { afterAll } from 'vitest';
import { buildConfig } from '../../src/config.js';
import { createDb, dropDatabase, ensureDatabase, migrate, type Db } from '../../src/adapters/mysql.js';
import { createMysqlLedger } from '../../src/ledger/mysql.js';
import { silentLogger } from '../../src/log.js';
import { sleep } from '../../src/retry.js';
import { ledgerConformance } from '../support/ledger-conformance.js';

const cfg = buildConfig({ ...process.env, STAGELINE_NAMESPACE: `ledger_${randomBytes(4).toString('hex')}` });
let db: Db | undefined;

afterAll(async () => {
  await db?.close();
  await dropDatabase(cfg.mysql).catch(() => undefined);
});

ledgerConformance('MariaDB', async () => {
  await ensureDatabase(cfg.mysql);
  db = createDb(cfg.mysql, silentLogger);
  await migrate(db, silentLogger);
  return {
    ledger: createMysqlLedger(db),
    async until(what, cond) {
      const deadline = Date.now() + 30_000;
      while (!(await cond())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(100);
      }
    },
  };
});
