/**
 * The ledger in memory: the same ports as the MariaDB implementation, over Maps, with "now" from an
 * injected clock. It exists for unit tests of the stage handlers and the master's loop; the
 * conformance suite (test/support/ledger-conformance.ts) keeps it honest against MariaDB.
 *
 * Every operation runs to completion before the next starts (no await inside a table update), so
 * each is atomic here the way a transaction or a single statement is on the server. The one
 * exception is the ingest commit's recheck callback, which runs while the commit "holds the lock":
 * commits are chained, so none interleaves with another.
 *
 * One file per aggregate under ./memory/, mirroring ./sql/; they share one state object
 * (./memory/state.ts).
 */
import { memoryRuns } from './memory/runs.js';
import { memoryRetention } from './memory/retention.js';
import { memoryLate } from './memory/late.js';
import { memoryPlan } from './memory/plan.js';
import { memoryChunks } from './memory/chunks.js';
import { memoryMerchantDays } from './memory/merchant-days.js';
import { memoryProgress } from './memory/progress.js';
import { memoryOffsets } from './memory/offsets.js';
import { memoryWork } from './memory/work.js';
import { memoryQuarantine } from './memory/quarantine.js';
import { memoryDeadLetters } from './memory/dead-letters.js';
import { memoryRegistry } from './memory/registry.js';
import { memoryIngest } from './memory/ingest.js';
import { createMemoryState } from './memory/state.js';
import type { Ledger } from './types.js';

export interface MemoryLedger extends Ledger {
  /** Row counts per table, for tests that check nothing was written twice. */
  sizes(): Record<string, number>;
}

export function createMemoryLedger(now: () => number = Date.now): MemoryLedger {
  const s = createMemoryState(now);
  return {
    runs: memoryRuns(s),
    retention: memoryRetention(s),
    late: memoryLate(s),
    plan: memoryPlan(s),
    chunks: memoryChunks(s),
    merchantDays: memoryMerchantDays(s),
    progress: memoryProgress(s),
    offsets: memoryOffsets(s),
    work: memoryWork(s),
    quarantine: memoryQuarantine(s),
    deadLetters: memoryDeadLetters(s),
    registry: memoryRegistry(s),
    ingest: memoryIngest(s),
    sizes: () => ({
      runs: s.runs.size, run_epochs: s.epochsMeta.size, run_chunks: s.chunks.size, chunk_ledger: s.ledgerRows.size, merchant_days: s.merchantDays.size, merchant_day_epochs: s.mdEpochs.size,
      partials: s.partials.size, sealed_batches: s.sealedBatches.size, run_offsets: s.offsets.size, chunk_work: s.work.size, quarantine: s.quarantine.size, dead_letters: s.deadLetters.size,
      raw_buckets: s.buckets.size, ingest_batches: s.batches.size, late_data: s.lateData.size, ingest_rejects: s.rejects.size, merchant_zones: [...s.zones.values()].reduce((a, h) => a + h.length, 0),
    }),
  };
}
