/** The table store conformance suite on HBase, through the project's adapter (patched hbase-rpc-client). */
import { afterAll } from 'vitest';
import { createTestNamespace, type TestNamespace } from '../support/harness.js';
import { tableStoreConformance } from '../support/table-store-conformance.js';

let t: TestNamespace | undefined;
afterAll(async () => { await t?.cleanup(); });

tableStoreConformance('HBase', async () => {
  t = await createTestNamespace('tstore');
  return { store: t.app.hbase(), table: t.app.tables.sessions };
});
