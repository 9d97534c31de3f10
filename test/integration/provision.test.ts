/**
 * Provisioning refuses a MySQL ledger that belongs to another HBase (src/provision.ts
 * assertLedgerMatchesRaw), against the real MariaDB and HBase: a ledger that counts stored rows
 * beside an empty raw table is named and refused at once; the same ledger with
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

  it('is refused naming the database, its stored rows and the empty table; once the rows are there it is accepted', async () => {
    // What a demo in another clone leaves in a shared MariaDB: the counts of rows it stored in an
    // HBase this namespace does not talk to.
    await ns.app.db().execute("INSERT INTO raw_buckets (day, merchant_id, bucket, rows_stored) VALUES (?, 'shop-1', 7, 1234)", [DAY]);

    const t0 = Date.now();
    const refused = await ns.cli(['provision']);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toContain(`MySQL database ${ns.cfg.mysql.database} counts 1,234 stored rows (days ${DAY} to ${DAY})`);
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
