import { describe, expect, it } from 'vitest';
import { VisitorBatcher, type RawRow } from '../../../stages/split/logic.js';
import { occurrenceQualifier, rawRowKey } from '../../../src/domain/rowkey.js';

const DAY = '2026-11-27';
const base = Date.UTC(2026, 10, 27, 10);

function row(visitor: string, eventId: string, occurrences: Array<Record<string, unknown>>): RawRow {
  return {
    key: rawRowKey({ merchant_id: 'm1', day: DAY, visitor_id: visitor, event_id: eventId }, 1),
    cells: occurrences.map((o) => {
      const line = JSON.stringify({ merchant_id: 'm1', visitor_id: visitor, event_id: eventId, ...o });
      return { qualifier: occurrenceQualifier(o.ts as number, line), value: Buffer.from(line) };
    }),
  };
}

describe('split VisitorBatcher', () => {
  it('keeps the earliest occurrence, quarantines invalid events with a reason, and closes batches at visitor boundaries', () => {
    const b = new VisitorBatcher('m1', DAY, 2);
    const rows = [
      row('a', 'e1', [{ ts: base + 5, type: 'page_view' }, { ts: base, type: 'product_view', product_id: 'p' }]),
      row('a', 'e2', [{ ts: base + 10, type: 'page_view' }]),
      row('b', 'e3', [{ ts: base, type: 'add_to_cart' }]), // missing product_id
      row('c', 'e4', [{ ts: base, type: 'page_view' }]),
      row('d', 'e5', [{ ts: base, type: 'page_view' }]),
    ];
    const out = rows.map((r) => b.push(r)).filter((x) => x !== undefined);
    const batches = [...out, ...b.finish()];
    // b has no valid event, so it is not a visitor of any batch.
    expect(batches.map((x) => x.visitors.map((v) => v.visitor_id))).toEqual([['a', 'c'], ['d']]);
    expect(batches[0]!.visitors[0]!.events[0]).toMatchObject({ event_id: 'e1', type: 'product_view', ts: base });
    expect(b.counts).toEqual({ rows_read: 5, valid: 4, invalid: 1, batches: 2 });
    expect(b.invalid).toEqual([expect.objectContaining({ visitor_id: 'b', event_id: 'e3', reason: 'missing_product_id' })]);
  });

  it('emits no batch for a range without valid events, and counts it', () => {
    const b = new VisitorBatcher('m1', DAY, 10);
    expect(b.push(row('x', 'e', [{ ts: base, type: 'nope' }]))).toBeUndefined();
    expect(b.finish()).toEqual([]);
    expect(b.counts).toEqual({ rows_read: 1, valid: 0, invalid: 1, batches: 0 });
  });

  it('refuses a row of another merchant-day (a scan range bug must not pass silently)', () => {
    const b = new VisitorBatcher('m2', DAY, 10);
    expect(() => b.push(row('x', 'e', [{ ts: base, type: 'page_view' }]))).toThrow(/m1/);
  });
});

describe('split VisitorBatcher, any batch size', () => {
  it('emits every valid event exactly once and counts the batches it emitted', () => {
    for (const maxVisitors of [1, 2, 3, 5, 7, 100]) {
      for (const maxEvents of [1, 4, 50]) {
        const b = new VisitorBatcher('m1', DAY, maxVisitors, maxEvents);
        const emitted = [];
        let expected = 0;
        for (let v = 0; v < 23; v++) {
          for (let e = 0; e < (v % 4) + 1; e++) {
            const valid = (v + e) % 5 !== 0;
            if (valid) expected++;
            const out = b.push(row(`v${String(v).padStart(2, '0')}`, `e${e}`, [{ ts: base + e, type: valid ? 'page_view' : 'bogus' }]));
            if (out) emitted.push(out);
          }
        }
        emitted.push(...b.finish());
        const events = emitted.flatMap((x) => x.visitors.flatMap((v) => v.events.map((ev) => `${v.visitor_id}/${ev.event_id}`)));
        expect(new Set(events).size).toBe(events.length);
        expect(events.length).toBe(expected);
        expect(b.counts.batches).toBe(emitted.length);
        expect(emitted.map((x) => x.seq)).toEqual(emitted.map((_, i) => i));
        const visitors = emitted.flatMap((x) => x.visitors.map((v) => v.visitor_id));
        expect(new Set(visitors).size).toBe(visitors.length);
      }
    }
  });
});
