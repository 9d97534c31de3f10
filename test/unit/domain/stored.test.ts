import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkIngest, validateStored } from '../../../src/domain/event.js';
import { decodeStoredEvent, encodeStoredEvent, MAX_STORED_BYTES, STORED_FORMAT } from '../../../src/domain/stored.js';
import { occurrenceOf, occurrenceQualifier, qualifierBatch, qualifierTs, QUALIFIER_STORED_AT } from '../../../src/domain/rowkey.js';
import { generateLines } from '../../../src/seed/generate.js';
import { readStoredEvent } from '../../../stages/split/logic.js';
import type { ValidEvent } from '../../../src/domain/types.js';

const dir = fileURLToPath(new URL('../../fixtures/contract/', import.meta.url));

/** Lines that pass ingest, with what the night makes of them by parsing. */
function ingested(lines: Iterable<string>): Array<{ line: string; id: { event_id: string; visitor_id: string; ts: number }; parsed: Record<string, unknown> }> {
  const out = [];
  for (const line of lines) {
    const r = checkIngest(line);
    if (r.kind === 'ok') out.push({ line, id: { event_id: r.identity.event_id, visitor_id: r.identity.visitor_id, ts: r.identity.ts }, parsed: r.raw });
  }
  return out;
}

const sample = (): string[] => readFileSync(`${dir}sample-events.ndjson`, 'utf8').split('\n').filter((l) => l !== '');
const generated = (): string[] => [...generateLines({ day: '2026-05-20', events: 20_000, merchants: 7, seed: 11 })];

/** Small edits of valid lines: each may turn a valid event invalid or change a field's value. */
function fuzzed(lines: string[]): string[] {
  const edits: Array<(o: Record<string, unknown>) => void> = [
    (o) => { o['price_cents'] = -0; },
    (o) => { o['price_cents'] = 3.5; },
    (o) => { o['quantity'] = 10_000; },
    (o) => { o['quantity'] = null; },
    (o) => { o['type'] = 'purchase'; o['order_id'] = 'o-\u{1F642}'; o['order_total_cents'] = 10_000_000_000; },
    (o) => { o['type'] = 'purchase'; o['order_id'] = 'o1'; o['order_total_cents'] = -0; o['items'] = [{ product_id: 'p\u00e9', quantity: 1, price_cents: -0 }]; },
    (o) => { o['items'] = []; },
    (o) => { o['items'] = [{ product_id: 'p', quantity: 0, price_cents: 1 }]; },
    (o) => { o['product_id'] = 'x'.repeat(128); },
    (o) => { o['product_id'] = 'x'.repeat(129); },
    (o) => { o['type'] = 'add_to_cart'; delete o['product_id']; },
    (o) => { o['type'] = 'page_view'; o['quantity'] = 2; o['product_id'] = 'ignored-on-page-view'; },
    (o) => { o['extra'] = { nested: [1, 2] }; },
  ];
  const out: string[] = [];
  lines.slice(0, 400).forEach((l, i) => {
    const o = JSON.parse(l) as Record<string, unknown>;
    edits[i % edits.length]!(o);
    out.push(JSON.stringify(o));
  });
  return out;
}

describe('pre-validated stored form', () => {
  it('decodes to exactly the event validateStored gives, key order included, on the sample, the generator and fuzzed lines', () => {
    const lines = [...sample(), ...generated()];
    const all = ingested([...lines, ...fuzzed(lines.filter((l) => checkIngest(l).kind === 'ok'))]);
    let valid = 0;
    let tooBig = 0;
    for (const { id, parsed } of all) {
      const v = validateStored(parsed);
      if (!v.ok) continue;
      valid++;
      const form = encodeStoredEvent(v.event);
      if (form === undefined) {
        // Only an event past the bound goes without (the sample has a 1000-item order).
        expect(JSON.stringify(v.event).length, v.event.event_id).toBeGreaterThan(MAX_STORED_BYTES);
        tooBig++;
        continue;
      }
      const back = decodeStoredEvent(form, 0, id);
      expect(back).toStrictEqual(v.event);
      expect(JSON.stringify(back)).toBe(JSON.stringify(v.event));
    }
    expect(valid).toBeGreaterThan(15_000);
    expect(tooBig).toBeLessThan(5);
  });

  it('readStoredEvent gives the same verdict with and without the form, for valid and invalid lines, one or several occurrences', () => {
    const lines = [...sample(), ...generated().slice(0, 3000)];
    const all = ingested([...lines, ...fuzzed(lines.filter((l) => checkIngest(l).kind === 'ok'))]);
    let invalid = 0;
    for (const { line, id, parsed } of all) {
      const v = validateStored(parsed);
      const form = v.ok ? encodeStoredEvent(v.event) : undefined;
      // A second, later occurrence with other bytes: the earliest must win on both paths.
      const later = line.replace(/}$/, ',"z":1}');
      const cellsWith = [
        { qualifier: occurrenceQualifier(id.ts, line, 7, form), value: Buffer.from(line) },
        { qualifier: occurrenceQualifier(id.ts + 1, later, 7), value: Buffer.from(later) },
      ];
      const cellsWithout = cellsWith.map((c) => ({ qualifier: c.qualifier.subarray(0, QUALIFIER_STORED_AT), value: c.value }));
      for (const cells of [cellsWith.slice(0, 1), cellsWith]) {
        const fast = readStoredEvent(cells, id);
        const slow = readStoredEvent(cellsWithout.slice(0, cells.length), id);
        expect(fast.res).toStrictEqual(slow.res);
        expect(fast.kept.raw).toBe(line);
        expect(fast.kept.ts).toBe(slow.kept.ts);
      }
      if (!v.ok) invalid++;
    }
    expect(invalid).toBeGreaterThan(20);
  });

  it('the form does not change what names the occurrence: ts, line hash and batch read as before', () => {
    const line = '{"merchant_id":"m","visitor_id":"v","event_id":"e","ts":"2026-05-20T10:00:00Z","type":"page_view"}';
    const form = encodeStoredEvent({ event_id: 'e', visitor_id: 'v', ts: 1, type: 'page_view' })!;
    const q = occurrenceQualifier(1779271200000, line, 42, form);
    const plain = occurrenceQualifier(1779271200000, line, 42);
    expect(q.length).toBe(QUALIFIER_STORED_AT + form.length);
    expect(occurrenceOf(q)).toBe(occurrenceOf(plain));
    expect(qualifierBatch(q)).toBe(42);
    expect(qualifierTs(q)).toBe(1779271200000);
    expect(form.length).toBeLessThanOrEqual(4);
  });

  it('is ignored (the line is parsed) when it is of another format, truncated, padded or corrupt', () => {
    const e: ValidEvent = { event_id: 'e', visitor_id: 'v', ts: 5, type: 'purchase', price_cents: 10, order_id: 'o', order_total_cents: 99, items: [{ product_id: 'p', quantity: 2, price_cents: 5 }] };
    const form = encodeStoredEvent(e)!;
    const id = { event_id: 'e', visitor_id: 'v', ts: 5 };
    expect(decodeStoredEvent(form, 0, id)).toStrictEqual(e);
    const other = Buffer.from(form);
    other[0] = STORED_FORMAT + 1;
    expect(decodeStoredEvent(other, 0, id)).toBeUndefined();
    for (let n = 1; n < form.length; n++) expect(decodeStoredEvent(form.subarray(0, n), 0, id)).toBeUndefined();
    expect(decodeStoredEvent(Buffer.concat([form, Buffer.from([0])]), 0, id)).toBeUndefined();
    const badType = Buffer.from(form);
    badType[1] = 9;
    expect(decodeStoredEvent(badType, 0, id)).toBeUndefined();
    const badFlags = Buffer.from(form);
    badFlags[2] = 0x80;
    expect(decodeStoredEvent(badFlags, 0, id)).toBeUndefined();
    expect(decodeStoredEvent(Buffer.alloc(0), 0, id)).toBeUndefined();

    // Through readStoredEvent: a foreign form never replaces the line's own verdict.
    const line = JSON.stringify({ merchant_id: 'm', visitor_id: 'v', event_id: 'e', ts: '2026-05-20T10:00:00Z', type: 'page_view' });
    const lying = encodeStoredEvent({ event_id: 'e', visitor_id: 'v', ts: 0, type: 'purchase', order_id: 'x', order_total_cents: 1 })!;
    // With this code's format the night takes the form as the verdict (what saves the parse)...
    const used = readStoredEvent([{ qualifier: occurrenceQualifier(Date.parse('2026-05-20T10:00:00Z'), line, 1, lying), value: Buffer.from(line) }], id);
    expect(used.res.ok && used.res.event.type).toBe('purchase');
    // ...and with another one it parses the line.
    lying[0] = STORED_FORMAT + 1;
    const r = readStoredEvent([{ qualifier: occurrenceQualifier(Date.parse('2026-05-20T10:00:00Z'), line, 1, lying), value: Buffer.from(line) }], id);
    expect(r.res).toStrictEqual({ ok: true, event: { event_id: 'e', visitor_id: 'v', ts: Date.parse('2026-05-20T10:00:00Z'), type: 'page_view' } });
  });

  it('an event too big for the bound gets no form and still reads right from its line', () => {
    const items = Array.from({ length: 1000 }, (_, i) => ({ product_id: `product-${i}-${'x'.repeat(40)}`, quantity: 1, price_cents: i }));
    const line = JSON.stringify({ merchant_id: 'm', visitor_id: 'v', event_id: 'e', ts: '2026-05-20T10:00:00Z', type: 'purchase', order_id: 'o', order_total_cents: 5, items });
    const r = checkIngest(line);
    if (r.kind !== 'ok') throw new Error('expected ok');
    const v = validateStored(r.raw);
    if (!v.ok) throw new Error('expected valid');
    expect(encodeStoredEvent(v.event)).toBeUndefined();
    const small = encodeStoredEvent({ ...v.event, items: v.event.items!.slice(0, 10) })!;
    expect(small.length).toBeLessThan(MAX_STORED_BYTES);
    const read = readStoredEvent([{ qualifier: occurrenceQualifier(r.identity.ts, line, 3), value: Buffer.from(line) }], r.identity);
    expect(read.res).toStrictEqual(v);
  });
});
