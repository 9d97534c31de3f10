import { addDays } from '../../../src/domain/zones.js';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkIngest, pickOccurrence, validateStored } from '../../../src/domain/event.js';
import { aggregateVisitors, finalizeSummary } from '../../../src/domain/aggregate.js';
import type { DailySummary, EventIdentity, ValidEvent } from '../../../src/domain/types.js';

const dir = fileURLToPath(new URL('../../fixtures/contract/', import.meta.url));
const DAY = '2026-11-27';

interface Stored {
  identity: EventIdentity;
  raw: Record<string, unknown>;
  line: string;
}

function runSample(): { refused: number; blank: number; summaries: DailySummary[] } {
  const text = readFileSync(`${dir}sample-events.ndjson`, 'utf8');
  const lines = text.split('\n');
  // A final newline leaves one empty string behind that is not a line.
  if (lines[lines.length - 1] === '') lines.pop();
  let refused = 0;
  let blank = 0;
  const byIdentity = new Map<string, Array<{ ts: number; raw: string; stored: Stored }>>();
  for (const line of lines) {
    const r = checkIngest(line);
    if (r.kind === 'blank') blank++;
    else if (r.kind === 'refused') refused++;
    else {
      const { merchant_id, day, visitor_id, event_id } = r.identity;
      const key = JSON.stringify([merchant_id, day, visitor_id, event_id]);
      const list = byIdentity.get(key) ?? [];
      list.push({ ts: r.identity.ts, raw: line, stored: { identity: r.identity, raw: r.raw, line } });
      byIdentity.set(key, list);
    }
  }

  const merchants = new Map<string, { invalid: number; visitors: Map<string, ValidEvent[]> }>();
  for (const occurrences of byIdentity.values()) {
    const { stored } = pickOccurrence(occurrences);
    if (stored.identity.day !== DAY) continue;
    const m = merchants.get(stored.identity.merchant_id) ?? { invalid: 0, visitors: new Map<string, ValidEvent[]>() };
    merchants.set(stored.identity.merchant_id, m);
    const v = validateStored(stored.raw);
    if (!v.ok) {
      m.invalid++;
      continue;
    }
    const list = m.visitors.get(v.event.visitor_id) ?? [];
    list.push(v.event);
    m.visitors.set(v.event.visitor_id, list);
  }

  const summaries: DailySummary[] = [];
  for (const [merchant_id, m] of merchants) {
    const visitors = [...m.visitors].map(([visitor_id, events]) => ({ visitor_id, events }));
    const { partial } = aggregateVisitors(merchant_id, DAY, visitors);
    summaries.push(finalizeSummary(merchant_id, DAY, partial, m.invalid));
  }
  return { refused, blank, summaries };
}

const expected = readFileSync(`${dir}expected-${DAY}.ndjson`, 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as DailySummary);
const refusedCount = Number(/\d+/.exec(readFileSync(`${dir}refused.txt`, 'utf8'))?.[0]);
const result = runSample();

describe('contract sample', () => {
  it('refuses exactly the number of lines in refused.txt', () => {
    expect(refusedCount).toBe(21);
    expect(result.refused).toBe(refusedCount);
    expect(result.blank).toBe(2);
  });

  it('produces one summary per expected merchant-day and no other', () => {
    expect(result.summaries.map((s) => s.merchant_id).sort()).toEqual(expected.map((s) => s.merchant_id).sort());
  });

  for (const want of expected) {
    it(`matches the expected summary of ${want.merchant_id}`, () => {
      const got = result.summaries.find((s) => s.merchant_id === want.merchant_id);
      expect(got).toBeDefined();
      if (got === undefined) return;
      const floats = new Set(['conversion_rate', 'avg_order_value_cents']);
      // The zone fields (issue 13) are added to the contract's; a merchant not in the registry is UTC.
      expect(Object.keys(got).sort()).toEqual([...Object.keys(want), 'time_zone', 'day_start', 'day_end'].sort());
      expect({ time_zone: got.time_zone, day_start: got.day_start, day_end: got.day_end }).toEqual({ time_zone: 'UTC', day_start: `${want.day}T00:00:00+00:00`, day_end: `${addDays(want.day, 1)}T00:00:00+00:00` });
      for (const key of Object.keys(want) as Array<keyof DailySummary>) {
        if (floats.has(key)) expect(Math.abs((got[key] as number) - (want[key] as number)), key).toBeLessThanOrEqual(1e-9);
        else expect(got[key], key).toEqual(want[key]);
      }
    });
  }
});
