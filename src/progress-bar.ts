/**
 * The one progress bar (nightly's progress line and `status` both draw it). A total of zero draws
 * an empty bar: early in a run the totals are not known yet (split has planned nothing visible,
 * transform's batches are a projection), and a full bar there would claim work that is not done.
 */
export function bar(done: number, total: number, width = 24): string {
  const f = total <= 0 ? 0 : Math.min(1, Math.max(0, done / total));
  const n = Math.round(f * width);
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}]`;
}
