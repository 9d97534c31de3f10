/**
 * Summarize, pure part: when is a merchant-day complete, and what is its summary.
 * Completeness comes from the ledger, never from timing: every chunk holding part of the
 * merchant-day must be sealed by split, and the partials received must equal the batches split
 * said it emitted.
 */
import { finalizeSummary, mergeAll } from '../../src/domain/aggregate.js';
import type { DailySummary, PartialAggregate } from '../../src/domain/types.js';

export interface LedgerState {
  /** chunks of the plan that hold part of this merchant-day */
  chunks: number;
  /** of those, sealed by split */
  sealed: number;
  /** batches split emitted for this merchant-day (sum over sealed chunks) */
  expectedBatches: number;
  /** distinct partials stored for batches of those chunks */
  receivedBatches: number;
  invalid: number;
}

export function isComplete(s: LedgerState): boolean {
  return s.chunks > 0 && s.sealed === s.chunks && s.receivedBatches === s.expectedBatches;
}

/** Merging is addition, so the order of the partials does not matter; sorted input keeps it obvious. */
export function summarize(merchantId: string, day: string, partials: readonly PartialAggregate[], invalid: number): DailySummary {
  return finalizeSummary(merchantId, day, mergeAll(partials), invalid);
}

/** Canonical JSON of a summary: keys sorted, so equal summaries are equal bytes (report, replay checks). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}
