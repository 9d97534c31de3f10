/** Field-by-field comparison of report lines: exact, except floats within 1e-9 (the contract's rule). */
export const FLOAT_FIELDS = new Set(['conversion_rate', 'avg_order_value_cents']);

/** JSON with object keys sorted, so key order never makes two equal values differ. */
export function canon(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([p], [q]) => (p < q ? -1 : p > q ? 1 : 0))) : x));
}

export function diffSummaries(actual: Array<Record<string, unknown>>, expected: Array<Record<string, unknown>>): string[] {
  const diffs: string[] = [];
  const a = new Map(actual.map((r) => [`${String(r.merchant_id)}|${String(r.day)}`, r]));
  const e = new Map(expected.map((r) => [`${String(r.merchant_id)}|${String(r.day)}`, r]));
  for (const k of e.keys()) if (!a.has(k)) diffs.push(`missing merchant-day ${k}`);
  for (const k of a.keys()) if (!e.has(k)) diffs.push(`unexpected merchant-day ${k}`);
  for (const [k, exp] of e) {
    const act = a.get(k);
    if (!act) continue;
    for (const [field, ev] of Object.entries(exp)) {
      const av = act[field];
      if (FLOAT_FIELDS.has(field)) {
        if (typeof av !== 'number' || Math.abs(av - (ev as number)) > 1e-9) diffs.push(`${k} ${field}: ${String(av)} != ${String(ev)}`);
      } else if (canon(av) !== canon(ev)) {
        diffs.push(`${k} ${field}: ${canon(av)?.slice(0, 300)} != ${canon(ev)?.slice(0, 300)}`);
      }
    }
  }
  return diffs;
}

export const parseLines = (text: string): Array<Record<string, unknown>> => text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);
