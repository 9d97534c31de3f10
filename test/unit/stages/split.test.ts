import { describe, expect, it } from 'vitest';
import { VisitorBatcher, sealDigest, type BatchOut, type BatchShape, type RawRow } from '../../../stages/split/logic.js';
import { transformBatch } from '../../../stages/transform/logic.js';
import { occurrenceQualifier, qualifierBatch, rawRowKey } from '../../../src/domain/rowkey.js';
import { aggregateVisitors, finalizeSummary, mergeAll, utcFrame } from '../../../src/domain/aggregate.js';
import { encode, toAvroPartial, toBatchEvent } from '../../../schemas/index.js';
import { checkIngest, validateStored } from '../../../src/domain/event.js';
import { encodeStoredEvent } from '../../../src/domain/stored.js';

const DAY = '2026-11-27';
const base = Date.UTC(2026, 10, 27, 10);
const WIDE: BatchShape = { maxVisitors: 200, maxBatchBytes: 800_000, maxPartialBytes: 800_000 };
const shape = (o: Partial<BatchShape>): BatchShape => ({ ...WIDE, ...o });

function row(visitor: string, eventId: string, occurrences: Array<Record<string, unknown>>, batch = 0): RawRow {
  return {
    key: rawRowKey({ merchant_id: 'm1', day: DAY, visitor_id: visitor, event_id: eventId }, 1),
    cells: occurrences.map((o) => {
      const line = JSON.stringify({ merchant_id: 'm1', visitor_id: visitor, event_id: eventId, ...o });
      return { qualifier: occurrenceQualifier(o.ts as number, line, batch), value: Buffer.from(line) };
    }),
  };
}

function run(b: VisitorBatcher, rows: RawRow[]): BatchOut[] {
  const out: BatchOut[] = [];
  for (const r of rows) out.push(...b.push(r));
  out.push(...b.finish());
  return out;
}

const batchValue = (b: BatchOut) => encode('VisitorBatch', {
  day: DAY, epoch: 1, run_id: 'r', chunk_id: `${DAY}.e1.c00000`, batch_id: `${DAY}.e1.c00000/${'m'.repeat(64)}/${b.key}`, merchant_id: 'm'.repeat(64), seq: 0,
  visitors: b.visitors.map((v) => ({ visitor_id: v.visitor_id, events: v.events.map(toBatchEvent), fragment: v.fragment, fragments: v.fragments, first_open: v.first_open, last_open: v.last_open })),
  day_start: Date.parse(`${DAY}T00:00:00Z`), hours: 25,
});

function transformed(b: BatchOut) {
  return transformBatch({ merchant_id: 'm1', day: DAY, frame: utcFrame(DAY), visitors: b.visitors });
}

describe('split VisitorBatcher', () => {
  it('keeps the earliest occurrence, quarantines invalid events with a reason, and closes batches at visitor boundaries', () => {
    const b = new VisitorBatcher('m1', DAY, shape({ maxVisitors: 2 }));
    const batches = run(b, [
      row('a', 'e1', [{ ts: base + 5, type: 'page_view' }, { ts: base, type: 'product_view', product_id: 'p' }]),
      row('a', 'e2', [{ ts: base + 10, type: 'page_view' }]),
      row('b', 'e3', [{ ts: base, type: 'add_to_cart' }]), // missing product_id
      row('c', 'e4', [{ ts: base, type: 'page_view' }]),
      row('d', 'e5', [{ ts: base, type: 'page_view' }]),
    ]);
    // b has no valid event, so it is not a visitor of any batch.
    expect(batches.map((x) => x.visitors.map((v) => v.visitor_id))).toEqual([['a', 'c'], ['d']]);
    expect(batches[0]!.visitors[0]!.events[0]).toMatchObject({ event_id: 'e1', type: 'product_view', ts: base, session: 0, kept: false });
    expect(b.counts).toEqual({ rows_read: 5, valid: 4, invalid: 1, batches: 2 });
    expect(b.invalid).toEqual([expect.objectContaining({ visitor_id: 'b', event_id: 'e3', reason: 'missing_product_id' })]);
  });

  it('emits no batch for a range without valid events, and counts it', () => {
    const b = new VisitorBatcher('m1', DAY, WIDE);
    expect(run(b, [row('x', 'e', [{ ts: base, type: 'nope' }])])).toEqual([]);
    expect(b.counts).toEqual({ rows_read: 1, valid: 0, invalid: 1, batches: 0 });
  });

  it('refuses a row of another merchant-day (a scan range bug must not pass silently)', () => {
    const b = new VisitorBatcher('m2', DAY, WIDE);
    expect(() => b.push(row('x', 'e', [{ ts: base, type: 'page_view' }]))).toThrow(/m1/);
  });

  it('reads only the cells of the snapshot: a row with none is not read at all, a row with some keeps the earliest of those', () => {
    const inSnapshot = (q: Buffer) => qualifierBatch(q) <= 5;
    const b = new VisitorBatcher('m1', DAY, WIDE, inSnapshot);
    const late = row('a', 'e-late', [{ ts: base, type: 'page_view' }], 9);
    const mixed: RawRow = { key: row('a', 'e-mixed', []).key, cells: [...row('a', 'e-mixed', [{ ts: base + 1, type: 'purchase' }], 9).cells, ...row('a', 'e-mixed', [{ ts: base + 2, type: 'page_view' }], 3).cells] };
    const out = run(b, [late, mixed]);
    expect(b.counts).toEqual({ rows_read: 1, valid: 1, invalid: 0, batches: 1 });
    expect(out[0]!.visitors[0]!.events.map((e) => [e.event_id, e.type])).toEqual([['e-mixed', 'page_view']]);
  });

  it('names a batch by its content: the same rows give the same key whatever came before, other content another key', () => {
    const rows = (extra: boolean) => [
      row('a', 'e1', [{ ts: base, type: 'page_view' }]),
      ...(extra ? [row('a', 'e2', [{ ts: base + 1, type: 'page_view' }])] : []),
      row('b', 'e3', [{ ts: base, type: 'page_view' }]),
    ];
    const one = run(new VisitorBatcher('m1', DAY, shape({ maxVisitors: 1 })), rows(false));
    const again = run(new VisitorBatcher('m1', DAY, shape({ maxVisitors: 1 })), rows(false));
    const more = run(new VisitorBatcher('m1', DAY, shape({ maxVisitors: 1 })), rows(true));
    expect(again.map((x) => x.key)).toEqual(one.map((x) => x.key));
    expect(more[0]!.key).not.toBe(one[0]!.key); // a's batch holds another event: another name
    expect(more[1]!.key).toBe(one[1]!.key); // b's batch is the same batch
    expect(new Set(one.map((x) => x.key)).size).toBe(2);
  });

  it('keeps its batch keys across releases and stored forms: pinned values, equal from cells with and without the pre-validated form', () => {
    // A retry may run on a replica with older or newer code, over cells ingested by either: the
    // seal holds these keys, so they must not change (these are the keys of d43637a's code too).
    const events: Array<[string, string, Record<string, unknown>]> = [
      ['a', 'e1', { ts: base, type: 'product_view', product_id: 'p\u00e9' }],
      ['a', 'e2', { ts: base + 60_000, type: 'add_to_cart', product_id: 'p1', quantity: 2, price_cents: 150 }],
      ['a', 'e3', { ts: base + 3 * 3_600_000, type: 'purchase', order_id: 'o1', order_total_cents: 300, items: [{ product_id: 'p1', quantity: 2, price_cents: 150 }] }],
      ['b\u{1F642}', 'e4', { ts: base, type: 'page_view' }],
      ['c', 'e5', { ts: base + 5, type: 'remove_from_cart', product_id: 'p1', quantity: 1 }],
    ];
    const rows = (withForm: boolean): RawRow[] => events.map(([v, e, o]) => {
      const line = JSON.stringify({ merchant_id: 'm1', visitor_id: v, event_id: e, ...o });
      const checked = checkIngest(line);
      if (checked.kind !== 'ok') throw new Error(line);
      const verdict = validateStored(checked.raw);
      const form = withForm && verdict.ok ? encodeStoredEvent(verdict.event) : undefined;
      if (withForm) expect(form).toBeDefined();
      return { key: rawRowKey({ merchant_id: 'm1', day: DAY, visitor_id: v, event_id: e }, 1), cells: [{ qualifier: occurrenceQualifier(o['ts'] as number, line, 1, form), value: Buffer.from(line) }] };
    }).sort((x, y) => Buffer.compare(x.key, y.key));
    const pinned = ['YjitEkZV_LUtQPckimhbY1', 'RX0ekOGw1rM8atK_DvB6eq'];
    for (const withForm of [false, true]) {
      expect(run(new VisitorBatcher('m1', DAY, shape({ maxVisitors: 2 })), rows(withForm)).map((x) => x.key), `with form: ${withForm}`).toEqual(pinned);
    }
  });

  it('digests the seal over its counts and batch ids, in any order', () => {
    const c = { rows_read: 3, valid: 3, invalid: 0, batches: 2 };
    const a = sealDigest(c, [{ id: 'x', events: 1 }, { id: 'y', events: 2 }]);
    expect(sealDigest(c, [{ id: 'y', events: 2 }, { id: 'x', events: 1 }])).toEqual(a);
    expect(sealDigest(c, [{ id: 'x', events: 1 }, { id: 'z', events: 2 }])).not.toEqual(a);
    expect(sealDigest({ ...c, valid: 2 }, [{ id: 'x', events: 1 }, { id: 'y', events: 2 }])).not.toEqual(a);
  });
});

describe('split VisitorBatcher, any batch size', () => {
  it('emits every valid event exactly once and counts the batches it emitted', () => {
    for (const maxVisitors of [1, 2, 3, 5, 7, 100]) {
      for (const maxBatchBytes of [1500, 2500, 800_000]) {
        const b = new VisitorBatcher('m1', DAY, shape({ maxVisitors, maxBatchBytes }));
        const rows: RawRow[] = [];
        let expected = 0;
        for (let v = 0; v < 23; v++) {
          for (let e = 0; e < (v % 4) + 1; e++) {
            const valid = (v + e) % 5 !== 0;
            if (valid) expected++;
            rows.push(row(`v${String(v).padStart(2, '0')}`, `e${e}`, [{ ts: base + e, type: valid ? 'page_view' : 'bogus' }]));
          }
        }
        const emitted = run(b, rows);
        const events = emitted.flatMap((x) => x.visitors.flatMap((v) => v.events.map((ev) => `${v.visitor_id}/${ev.event_id}`)));
        expect(new Set(events).size).toBe(events.length);
        expect(events.length).toBe(expected);
        expect(b.counts.batches).toBe(emitted.length);
        const visitors = emitted.flatMap((x) => x.visitors.filter((v) => v.fragment === 0).map((v) => v.visitor_id));
        expect(new Set(visitors).size).toBe(visitors.length);
      }
    }
  });
});

describe('split VisitorBatcher, visitors bigger than one message', () => {
  /** A bot: one page a second for `n` seconds, a purchase of many items now and then, repeated orders. */
  function bot(n: number, itemsPer = 40): RawRow[] {
    const rows: RawRow[] = [];
    let ts = base - 9 * 3_600_000;
    for (let i = 0; i < n; i++) {
      ts += i % 997 === 0 ? 2_000_000 : 1000; // a few gaps over 30 minutes: several sessions
      const id = `e${String(i).padStart(6, '0')}`;
      if (i % 250 === 0) {
        const items = Array.from({ length: itemsPer }, (_, k) => ({ product_id: `p${(i + k) % 300}`, quantity: 1 + (k % 3), price_cents: 100 + k }));
        rows.push(row('bot', id, [{ ts, type: 'purchase', order_id: `o${i % 1000 === 0 ? 0 : i}`, order_total_cents: 999, items }]));
      } else {
        rows.push(row('bot', id, [{ ts, type: i % 3 === 0 ? 'product_view' : 'page_view', product_id: `p${i % 700}` }]));
      }
    }
    // Key order (what a scan gives) is by event id; events are then in ts order only by accident.
    return rows.sort((a, b) => Buffer.compare(a.key, b.key));
  }

  it('cuts it into fragments that each fit both bounds (real Avro sizes), and their partials add up to the whole visitor exactly', () => {
    const rows = bot(12_000);
    const bounds = shape({ maxBatchBytes: 60_000, maxPartialBytes: 20_000 });
    const b = new VisitorBatcher('m1', DAY, bounds);
    const out = run(b, [...rows, row('zz-after', 'x', [{ ts: base, type: 'page_view' }])]);
    const fragments = out.filter((x) => x.visitors.some((v) => v.visitor_id === 'bot'));
    expect(fragments.length).toBeGreaterThan(5);
    expect(fragments.every((x) => x.visitors.length === 1)).toBe(true);
    expect(fragments.map((x) => x.visitors[0]!.fragment)).toEqual(fragments.map((_, i) => i));
    expect(fragments.every((x) => x.visitors[0]!.fragments === fragments.length)).toBe(true);
    expect(new Set(out.map((x) => x.key)).size).toBe(out.length);
    for (const f of out) {
      expect(batchValue(f).length).toBeLessThanOrEqual(bounds.maxBatchBytes);
      expect(encode('PartialRecord', { day: DAY, epoch: 1, run_id: 'r', chunk_id: 'c'.repeat(20), batch_id: 'b'.repeat(150), merchant_id: 'm'.repeat(64), partial: toAvroPartial(transformed(f).partial) }).length).toBeLessThanOrEqual(bounds.maxPartialBytes);
    }
    // Exactness: the fragments' partials merged and finalized equal the visitor aggregated whole.
    const whole = aggregateVisitors('m1', DAY, [{ visitor_id: 'bot', events: fragments.flatMap((x) => x.visitors[0]!.events) }, { visitor_id: 'zz-after', events: out.at(-1)!.visitors.flatMap((v) => (v.visitor_id === 'zz-after' ? v.events : [])) }]);
    const merged = mergeAll(out.map((x) => transformed(x).partial));
    expect(merged.session_pieces.length).toBeGreaterThan(0);
    expect(finalizeSummary('m1', DAY, merged, 0)).toEqual(finalizeSummary('m1', DAY, whole.partial, 0));
  });

  it('cuts the same way every time', () => {
    const rows = bot(3000);
    const bounds = shape({ maxBatchBytes: 30_000, maxPartialBytes: 10_000 });
    const keys = (r: RawRow[]) => run(new VisitorBatcher('m1', DAY, bounds), r).map((x) => x.key);
    expect(keys(rows)).toEqual(keys(rows));
  });
});
