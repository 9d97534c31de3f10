/**
 * Summarize, pure part: when is a merchant-day complete. Completeness comes from the ledger, never
 * from timing: every chunk holding part of the merchant-day must be sealed by split, and every batch
 * id the seals hold must have its partial stored.
 */
export interface LedgerState {
  /** chunks of the plan that hold part of this merchant-day */
  chunks: number;
  /** of those, sealed by split */
  sealed: number;
  /** batches the seals hold */
  expectedBatches: number;
  /** of those, with their partial stored */
  receivedBatches: number;
}

export function isComplete(s: LedgerState): boolean {
  return s.chunks > 0 && s.sealed === s.chunks && s.receivedBatches === s.expectedBatches;
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
