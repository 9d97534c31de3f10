/**
 * Summary comparison for the bench's correctness check: exact field by field, floats within 1e-9
 * (the contract's rule; the same rule as test/support/compare.ts, which the build does not include).
 */
const FLOAT_FIELDS = new Set(['conversion_rate', 'avg_order_value_cents']);
/** What `report --json` adds about the run, not the metrics: which epoch, when it was computed. */
const RUN_FIELDS = new Set(['epoch', 'computed_at']);

function canon(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([p], [q]) => (p < q ? -1 : p > q ? 1 : 0))) : x));
}

export function diffSummaries(actual: Array<Record<string, unknown>>, expected: Array<Record<string, unknown>>): string[] {
  const diffs: string[] = [];
  const key = (r: Record<string, unknown>) => `${String(r.merchant_id)}|${String(r.day)}`;
  const a = new Map(actual.map((r) => [key(r), r]));
  const e = new Map(expected.map((r) => [key(r), r]));
  for (const k of e.keys()) if (!a.has(k)) diffs.push(`missing merchant-day ${k}`);
  for (const k of a.keys()) if (!e.has(k)) diffs.push(`unexpected merchant-day ${k}`);
  for (const [k, exp] of e) {
    const act = a.get(k);
    if (!act) continue;
    for (const field of new Set([...Object.keys(exp), ...Object.keys(act)])) {
      if (RUN_FIELDS.has(field)) continue;
      const av = act[field];
      const ev = exp[field];
      if (FLOAT_FIELDS.has(field) && typeof av === 'number' && typeof ev === 'number') {
        if (Math.abs(av - ev) > 1e-9) diffs.push(`${k} ${field}: ${av} != ${ev}`);
      } else if (canon(av) !== canon(ev)) {
        diffs.push(`${k} ${field}: ${canon(av)?.slice(0, 200)} != ${canon(ev)?.slice(0, 200)}`);
      }
    }
  }
  return diffs;
}
