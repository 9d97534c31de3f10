import { createMemoryLedger } from '../../../src/ledger/memory.js';
import { ledgerConformance } from '../../support/ledger-conformance.js';
import { createFakeClock } from '../../support/fake-clock.js';

ledgerConformance('memory', async () => {
  const clock = createFakeClock();
  return {
    ledger: createMemoryLedger(clock.now),
    async until(what, cond) {
      for (let i = 0; i < 10_000; i++) {
        if (await cond()) return;
        clock.advance(100);
      }
      throw new Error(`never happened: ${what}`);
    },
  };
});
