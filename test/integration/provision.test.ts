/**
 * Provisioning refuses a MySQL ledger that belongs to another HBase (src/provision.ts
 * assertLedgerMatchesRaw), against the real MariaDB and HBase: a ledger with committed batches
 * that wrote rows, beside an empty raw table, is named and refused at once; the same ledger with
 * its rows in HBase is accepted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLines } from '../../src/seed/generate.js';
import { createTestNamespace, type TestNamespace } from '../support/harness.js';

const DAY = '2026-11-20';

describe('provision: a ledger whose rows are not in this HBase', () => {
  let ns: TestNamespace;
  beforeAll(async () => {
    ns = await createTestNamespace('prov');
  });
  afterAll(async () => {
    await ns.cleanup();
  });

  it('is refused naming the database, the batches and the empty table; once the rows are there it is accepted', async () => {
    // What a demo in another clone leaves in a shared MariaDB: a committed batch that wrote rows to
    // an HBase this namespace does not talk to.
    const db = ns.app.db();
    await db.execute("INSERT INTO ingest_batches (state, open_seq, commit_seq, committed_at) VALUES ('committed', 0, 999999, NOW(3))");
    const [b] = await db.query<{ id: number }>('SELECT MAX(id) AS id FROM ingest_batches');
    await db.execute("INSERT INTO ingest_batch_days (batch_id, day, merchant_id, commit_seq) VALUES (?, ?, 'shop-1', 999999)", [Number(b?.id), DAY]);

    const t0 = Date.now();
    const refused = await ns.cli(['provision']);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toContain(`MySQL database ${ns.cfg.mysql.database} records 1 committed ingest batches with rows (days ${DAY} to ${DAY})`);
    expect(refused.stderr).toContain(`HBase table ${ns.app.tables.raw} at ${ns.cfg.hbase.zkQuorum} is empty`);
    expect(Date.now() - t0, 'refused at once, not after a night of failed seals').toBeLessThan(30_000);

    const lines = [...generateLines({ day: DAY, events: 200, merchants: 2, seed: 3 })].join('\n');
    const ing = await ns.cli(['ingest', '-', '--json', '--rejects', '/dev/null'], { input: lines });
    expect(ing.code, ing.stderr).toBe(0);
    const accepted = await ns.cli(['provision']);
    expect(accepted.code, accepted.stderr).toBe(0);
  });

  it('a ledger whose batches stored nothing (only refused lines) is not refused', async () => {
    const other = await createTestNamespace('prov');
    try {
      const ing = await other.cli(['ingest', '-', '--json', '--rejects', '/dev/null'], { input: 'not json\n{"also": "bad"}\n' });
      expect(ing.code, ing.stderr).toBe(0);
      const r = await other.cli(['provision']);
      expect(r.code, r.stderr).toBe(0);
    } finally {
      await other.cleanup();
    }
  });
});
