import { describe, expect, it } from 'vitest';
import { generateLines, type SeedOptions } from '../../../src/seed/generate.js';
import { referenceRun } from '../../support/reference.js';

const DAY = '2026-11-27';
const collect = (o: SeedOptions): string[] => [...generateLines(o)];

const opts: SeedOptions = { day: DAY, events: 20_000, merchants: 12, seed: 7 };
const lines = collect(opts);

function parsed(): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const l of lines) {
    try {
      const v: unknown = JSON.parse(l);
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) out.push(v as Record<string, unknown>);
    } catch {
      // refused lines are checked separately
    }
  }
  return out;
}
const objects = parsed();
const strings = (key: string): string[] => objects.map((o) => o[key]).filter((v): v is string => typeof v === 'string');

describe('generateLines', () => {
  it('is deterministic for a seed and differs between seeds', () => {
    expect(collect(opts)).toEqual(lines);
    const other = collect({ ...opts, seed: 8 });
    expect(other).not.toEqual(lines);
    expect(other.length).toBeGreaterThan(opts.events * 0.99);
  });

  it('yields close to the asked number of lines, each a single line', () => {
    expect(Math.abs(lines.length - opts.events)).toBeLessThanOrEqual(opts.events * 0.01);
    for (const [events, merchants] of [
      [1000, 3],
      [100, 1],
      [7, 10],
      [50_000, 200],
    ] as const) {
      const n = collect({ day: DAY, events, merchants, seed: 1 }).length;
      expect(Math.abs(n - events), `${events}/${merchants}`).toBeLessThanOrEqual(Math.max(2, events * 0.01));
    }
    expect(collect({ ...opts, events: 0 })).toEqual([]);
    expect(lines.some((l) => l.includes('\n'))).toBe(false);
  });

  it('streams lazily instead of building the day up front', () => {
    const started = performance.now();
    const it = generateLines({ day: DAY, events: 1_000_000_000, merchants: 1000, seed: 3 });
    for (let i = 0; i < 1000; i++) expect(it.next().done).toBe(false);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('rejects a day that is not a calendar date', () => {
    expect(() => collect({ ...opts, day: '2026-02-30' })).toThrow();
    expect(() => collect({ ...opts, day: '27/11/2026' })).toThrow();
  });

  it('contains ids with separators and non-ASCII characters', () => {
    const ids = [...strings('event_id'), ...strings('visitor_id'), ...strings('product_id')];
    for (const probe of ['|', '#', '/', ' ']) expect(ids.some((s) => s.includes(probe)), probe).toBe(true);
    expect(ids.some((s) => /\p{Script=Han}/u.test(s))).toBe(true);
    expect(ids.some((s) => /\p{Extended_Pictographic}/u.test(s))).toBe(true);
    expect(lines.some((l) => /\\u[0-9a-f]{4}/.test(l))).toBe(true);
    const merchants = new Set(strings('merchant_id').filter((m) => /^[A-Za-z0-9_-]{1,64}$/.test(m)));
    expect([...merchants].some((m) => m.length === 64)).toBe(true);
    expect([...merchants].some((m) => m.includes('_'))).toBe(true);
    expect([...merchants].some((m) => m.includes('-'))).toBe(true);
  });

  it('encodes ts in every allowed way', () => {
    expect(lines.some((l) => /"ts": ?\d+[,}]/.test(l))).toBe(true);
    expect(lines.some((l) => /"ts": ?\d+\.0+[,}]/.test(l))).toBe(true);
    const iso = strings('ts');
    expect(iso.some((t) => /T\d\d:\d\d:\d\d(\.\d+)?Z$/.test(t))).toBe(true);
    expect(iso.some((t) => /\+\d\d:\d\d$/.test(t) && !t.endsWith('+00:00'))).toBe(true);
    expect(iso.some((t) => /-\d\d:\d\d$/.test(t) && !t.endsWith('-00:00'))).toBe(true);
    for (let digits = 0; digits <= 9; digits++) {
      const re = digits === 0 ? /:\d\d(Z|[+-]\d\d:\d\d)$/ : new RegExp(`:\\d\\d\\.\\d{${digits}}(Z|[+-]\\d\\d:\\d\\d)$`);
      expect(iso.some((t) => re.test(t)), `${digits} fraction digits`).toBe(true);
    }
  });

  it('contains the lines ingest must refuse, and blank lines', () => {
    expect(lines.some((l) => l.trim() === '')).toBe(true);
    expect(lines.some((l) => l.startsWith('{') && (() => { try { JSON.parse(l); return false; } catch { return true; } })())).toBe(true);
    expect(lines.some((l) => l.startsWith('['))).toBe(true);
    const mids = strings('merchant_id');
    expect(mids.some((m) => !/^[A-Za-z0-9_-]{1,64}$/.test(m))).toBe(true);
    expect(objects.some((o) => o.ts === -1 || o.ts === 253402300800000)).toBe(true);
    expect(strings('ts').some((t) => t.includes('-02-30T'))).toBe(true);
    expect(objects.some((o) => o.visitor_id === '')).toBe(true);
  });

  it('contains stored-but-invalid events of each kind', () => {
    expect(objects.some((o) => o.type === 'click')).toBe(true);
    expect(objects.some((o) => o.type === 'product_view' && o.product_id === undefined)).toBe(true);
    expect(objects.some((o) => o.quantity === 0)).toBe(true);
    expect(objects.some((o) => o.quantity === 10001)).toBe(true);
    expect(objects.some((o) => typeof o.price_cents === 'string')).toBe(true);
    expect(objects.some((o) => o.type === 'purchase' && o.items !== undefined && !Array.isArray(o.items))).toBe(true);
    expect(objects.some((o) => typeof o.order_total_cents === 'number' && o.order_total_cents > 1e10)).toBe(true);
  });

  it('has realistic proportions by the reference implementation', () => {
    const r = referenceRun(lines);
    const stored = lines.filter((l) => l.trim() !== '').length - r.refused;
    expect(r.refused).toBeGreaterThanOrEqual(30);
    expect(r.refused).toBeLessThan(lines.length * 0.005);

    const days = [...r.summaries.keys()];
    expect(days).toContain('2026-11-26');
    expect(days).toContain('2026-11-28');
    const all = [...r.summaries.values()].flat();
    const kept = all.reduce((a, s) => a + s.events + s.invalid_events, 0);
    const duplicates = stored - kept;
    expect(duplicates / stored).toBeGreaterThan(0.004);
    expect(duplicates / stored).toBeLessThan(0.02);
    expect(lines.length - new Set(lines).size).toBeGreaterThan(0); // some retries are byte-identical

    const today = r.summaries.get(DAY) ?? [];
    expect(today).toHaveLength(opts.merchants);
    const onD = today.reduce((a, s) => a + s.events + s.invalid_events, 0);
    expect(onD / kept).toBeGreaterThan(0.95);
    const invalid = today.reduce((a, s) => a + s.invalid_events, 0);
    expect(invalid / onD).toBeGreaterThan(0.002);
    expect(invalid / onD).toBeLessThan(0.015);
    expect(today.some((s) => s.events === 0 && s.invalid_events > 0)).toBe(true);

    const sessions = today.reduce((a, s) => a + s.sessions, 0);
    const converting = today.reduce((a, s) => a + s.converting_sessions, 0);
    expect(converting / sessions).toBeGreaterThan(0.01);
    expect(converting / sessions).toBeLessThan(0.05);
    expect(today.reduce((a, s) => a + s.remove_from_carts, 0)).toBeGreaterThan(0);
    expect(today.reduce((a, s) => a + s.cart_abandoned_sessions, 0)).toBeGreaterThan(converting);
    // every visitor has 1–3 sessions, so sessions sit between visitors and 3 × visitors
    const visitors = today.reduce((a, s) => a + s.visitors, 0);
    expect(sessions).toBeGreaterThan(visitors);
    expect(sessions).toBeLessThan(3 * visitors);

    const sizes = today.filter((s) => s.events > 0).map((s) => s.events).sort((a, b) => b - a);
    expect((sizes[0] ?? 0) / (sizes[sizes.length - 1] ?? 1)).toBeGreaterThan(10);
  });

  it('makes the scale bench\'s big day on request: merchant 0 at topShare, one all-day bot visitor', () => {
    const big = collect({ ...opts, topShare: 0.3, botEvents: 3000 });
    const objs = big.flatMap((l) => {
      try {
        const v: unknown = JSON.parse(l);
        return typeof v === 'object' && v !== null && !Array.isArray(v) ? [v as Record<string, unknown>] : [];
      } catch {
        return [];
      }
    });
    const top = objs.filter((o) => o.merchant_id === objs.find((x) => String(x.visitor_id).startsWith('bot-'))?.merchant_id).length;
    expect(top / big.length).toBeGreaterThan(0.28);
    expect(top / big.length).toBeLessThan(0.33);
    const bot = objs.filter((o) => typeof o.visitor_id === 'string' && o.visitor_id.startsWith('bot-'));
    expect(new Set(bot.map((o) => o.visitor_id)).size).toBe(1);
    // retries add a few lines; every event id once at least
    expect(new Set(bot.map((o) => o.event_id)).size).toBeGreaterThanOrEqual(2990);
    const ts = bot.map((o) => o.ts).filter((t): t is number => typeof t === 'number').sort((a, b) => a - b);
    expect(ts.length).toBeGreaterThan(1000);
    for (let i = 1; i < ts.length; i++) expect(ts[i]! - ts[i - 1]!).toBeLessThanOrEqual(30 * 60_000);
  });
});
