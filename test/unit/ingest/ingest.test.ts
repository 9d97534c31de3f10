/**
 * Ingest's exactness when batches are written concurrently (several in flight in one process, and
 * two processes at once), over the in-memory twins: the bucket counts the plan trusts must equal
 * the distinct identities whatever the interleaving, and every stored cell carries the form the
 * night reads (or none, for an invalid event).
 */
import { describe, expect, it } from 'vitest';
import { ingest, type IngestDeps } from '../../../src/ingest/ingest.js';
import { createMemoryTableStore } from '../../../src/adapters/memory.js';
import { createMemoryLedger } from '../../../src/ledger/memory.js';
import { checkIngest, validateStored } from '../../../src/domain/event.js';
import { decodeStoredEvent } from '../../../src/domain/stored.js';
import { parseRawRowKey, qualifierTs, QUALIFIER_STORED_AT } from '../../../src/domain/rowkey.js';
import { generateLines } from '../../../src/seed/generate.js';
import type { TableStore } from '../../../src/adapters/ports.js';

const DAY = '2026-05-20';
const BUCKETS = 16;

function input(lines: string[]): AsyncIterable<Buffer> {
  return (async function* () {
    // Several chunks, so the reader interleaves with the batches being written.
    for (let i = 0; i < lines.length; i += 97) yield Buffer.from(lines.slice(i, i + 97).join('\n') + '\n');
  })();
}

/** A day with exact re-sends and changed re-sends of earlier lines spread over later batches. */
function dayLines(): { lines: string[]; identities: number } {
  const base = [...generateLines({ day: DAY, events: 3000, merchants: 4, seed: 5 })];
  const ids = new Set<string>();
  for (const l of base) {
    const r = checkIngest(l);
    if (r.kind === 'ok') ids.add(`${r.identity.merchant_id}|${r.identity.day}|${r.identity.visitor_id}|${r.identity.event_id}`);
  }
  // Re-sends close behind their first line (the next batch or two, in flight beside it), exact and changed.
  const out: string[] = [];
  base.forEach((l, i) => {
    out.push(l);
    const back = base[i - 70];
    if (back !== undefined && i % 3 === 0) out.push(i % 2 === 0 ? back : back.replace(/}$/, ',"resent":true}'));
  });
  return { lines: out, identities: ids.size };
}

async function totals(ledger: ReturnType<typeof createMemoryLedger>): Promise<number> {
  let n = 0;
  for (const day of ['2026-05-19', DAY, '2026-05-21']) for (const b of await ledger.ingest.ofDay(day)) n += b.rows;
  return n;
}

async function storedRows(tables: TableStore, table: string): Promise<number> {
  let n = 0;
  for await (const _r of tables.scan(table, { startRow: Buffer.alloc(0), stopRow: Buffer.from([0xff]) })) n++;
  return n;
}

/** The store with reads and writes that take a few turns of the event loop, so batches in flight interleave. */
function slow(t: TableStore): TableStore {
  let n = 0;
  const turns = async () => {
    for (let i = n++ % 4; i >= 0; i--) await new Promise<void>((r) => setImmediate(r));
  };
  return {
    ...t,
    async getMany(table, keys) { await turns(); return t.getMany(table, keys); },
    async putMany(table, rows) { await turns(); await t.putMany(table, rows); },
  };
}

function deps(tables: TableStore, ledger: ReturnType<typeof createMemoryLedger>, o: Partial<IngestDeps>): IngestDeps {
  return { hbase: slow(tables), ledger: ledger.ingest, rawTable: 'raw', buckets: BUCKETS, now: () => 0, batchRows: 60, ...o };
}

describe('ingest with batches in flight', () => {
  it('counts every identity once, whatever the number of batches in flight', async () => {
    const { lines, identities } = dayLines();
    const seen: number[] = [];
    for (const inFlight of [1, 2, 4]) {
      const tables = createMemoryTableStore();
      const ledger = createMemoryLedger(() => 0);
      const s = await ingest(input(lines), null, deps(tables, ledger, { batchesInFlight: inFlight }));
      expect(s.new_events, `in flight ${inFlight}`).toBe(identities);
      expect(await totals(ledger)).toBe(identities);
      expect(await storedRows(tables, 'raw')).toBe(identities);
      expect(s.new_events + s.duplicates).toBe(s.stored);
      seen.push(s.duplicates);
    }
    expect(new Set(seen).size).toBe(1);
  });

  it('two ingests of overlapping files at once (foreign racers: read back from the store) count every identity once', async () => {
    const { lines, identities } = dayLines();
    const tables = createMemoryTableStore();
    const ledger = createMemoryLedger(() => 0);
    const half = Math.floor(lines.length / 2);
    const [a, b] = await Promise.all([
      ingest(input(lines.slice(0, half + 400)), null, deps(tables, ledger, { batchesInFlight: 2 })),
      ingest(input(lines.slice(half - 400)), null, deps(tables, ledger, { batchesInFlight: 3, batchRows: 45 })),
    ]);
    expect(a.new_events + b.new_events).toBe(identities);
    expect(await totals(ledger)).toBe(identities);
    expect(await storedRows(tables, 'raw')).toBe(identities);
  });

  it('stores the night\'s pre-validated form in the qualifier of every valid event, and none for an invalid one', async () => {
    const tables = createMemoryTableStore();
    const ledger = createMemoryLedger(() => 0);
    const lines = [...generateLines({ day: DAY, events: 800, merchants: 2, seed: 9 })];
    await ingest(input(lines), null, deps(tables, ledger, {}));
    let withForm = 0;
    let without = 0;
    for await (const row of tables.scan('raw', { startRow: Buffer.alloc(0), stopRow: Buffer.from([0xff]) })) {
      const key = parseRawRowKey(row.key);
      for (const c of row.cells) {
        const parsed = checkIngest(c.value.toString('utf8'));
        if (parsed.kind !== 'ok') throw new Error('a stored line must pass ingest');
        const v = validateStored(parsed.raw);
        const form = decodeStoredEvent(c.qualifier, QUALIFIER_STORED_AT, { event_id: key.event_id, visitor_id: key.visitor_id, ts: qualifierTs(c.qualifier) });
        if (v.ok) {
          expect(form).toStrictEqual(v.event);
          withForm++;
        } else {
          expect(c.qualifier.length).toBe(QUALIFIER_STORED_AT);
          without++;
        }
      }
    }
    expect(withForm).toBeGreaterThan(700);
    expect(without).toBeGreaterThan(0);
  });
});
