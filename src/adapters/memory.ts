/**
 * In-memory twins of the table store and the message producer, for unit tests of the stage
 * handlers and the master. The table store keeps rows sorted by key in byte order and scans
 * [startRow, stopRow) like HBase; the producer records every message it was given, per topic.
 */
import type { MessageProducer, OutMessage, Row, ScanOptions, TableStore } from './ports.js';
import { rowsOf } from './rows.js';

export interface MemoryTableStore extends TableStore {
  /** rows of a table in key order (copies) */
  rows(table: string): Row[];
  /** writes of any kind so far, per table (a rewrite of the same row counts again) */
  writes: Map<string, number>;
}

const copyRow = (r: Row): Row => ({ key: Buffer.from(r.key), cells: r.cells.map((c) => ({ family: c.family, qualifier: Buffer.from(c.qualifier), value: Buffer.from(c.value) })) });

export function createMemoryTableStore(): MemoryTableStore {
  const tables = new Map<string, Map<string, Row>>();
  const writes = new Map<string, number>();
  const tableOf = (t: string): Map<string, Row> => {
    let m = tables.get(t);
    if (!m) tables.set(t, (m = new Map()));
    return m;
  };
  const sorted = (t: string): Row[] => [...tableOf(t).values()].sort((a, b) => Buffer.compare(a.key, b.key));
  const put = (t: string, row: Row): void => {
    writes.set(t, (writes.get(t) ?? 0) + 1);
    const m = tableOf(t);
    const key = row.key.toString('latin1');
    const cur = m.get(key);
    // Cells are keyed by family and qualifier: a put overwrites those cells and keeps the others.
    const cells = new Map((cur?.cells ?? []).map((c) => [`${c.family}\u0000${c.qualifier.toString('latin1')}`, c]));
    for (const c of row.cells) cells.set(`${c.family}\u0000${c.qualifier.toString('latin1')}`, { family: c.family, qualifier: Buffer.from(c.qualifier), value: Buffer.from(c.value) });
    const list = [...cells.values()].sort((a, b) => (a.family < b.family ? -1 : a.family > b.family ? 1 : Buffer.compare(a.qualifier, b.qualifier)));
    m.set(key, { key: Buffer.from(row.key), cells: list });
  };
  return {
    writes,
    rows: (t) => sorted(t).map(copyRow),
    async get(t, key) {
      const r = tableOf(t).get(key.toString('latin1'));
      return r ? copyRow(r) : undefined;
    },
    async getMany(t, keys) {
      return keys.map((key) => {
        const r = tableOf(t).get(key.toString('latin1'));
        return r ? copyRow(r) : undefined;
      });
    },
    async put(t, row) { put(t, row); },
    async putMany(t, rows) { for (const r of rows) put(t, r); },
    async deleteRow(t, key) {
      writes.set(t, (writes.get(t) ?? 0) + 1);
      tableOf(t).delete(key.toString('latin1'));
    },
    async deleteMany(t, keys) {
      for (const key of keys) {
        writes.set(t, (writes.get(t) ?? 0) + 1);
        tableOf(t).delete(key.toString('latin1'));
      }
    },
    scan: (t, o) => rowsOf(scanBatches(t, o)),
    scanBatches,
    async close() {},
  };

  async function* scanBatches(t: string, o: ScanOptions): AsyncGenerator<Row[]> {
    const size = Math.max(1, o.caching ?? 500);
    let batch: Row[] = [];
    for (const r of sorted(t)) {
      if (o.startRow && Buffer.compare(r.key, o.startRow) < 0) continue;
      if (o.stopRow && o.stopRow.length > 0 && Buffer.compare(r.key, o.stopRow) >= 0) break;
      const cells = o.families ? r.cells.filter((c) => o.families!.includes(c.family)) : r.cells;
      if (cells.length > 0) batch.push(copyRow({ key: r.key, cells }));
      if (batch.length >= size) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  }
}

export interface MemoryProducer extends MessageProducer {
  /** every message produced, per topic, in order */
  sent: Map<string, OutMessage[]>;
  /** make the next n produce calls fail with this error (then succeed again) */
  failNext(n: number, err: Error): void;
}

export function createMemoryProducer(): MemoryProducer {
  const sent = new Map<string, OutMessage[]>();
  let failures = 0;
  let failure: Error | undefined;
  const push = (topic: string, m: OutMessage): void => {
    const list = sent.get(topic) ?? [];
    list.push({ ...m, value: Buffer.from(m.value) });
    sent.set(topic, list);
  };
  const gate = (): void => {
    if (failures > 0) {
      failures--;
      throw failure ?? new Error('produce failed');
    }
  };
  return {
    sent,
    failNext(n, err) { failures = n; failure = err; },
    async send(topic, messages) {
      gate();
      for (const m of messages) push(topic, m);
    },
    async enqueue(topic, m) {
      gate();
      push(topic, m);
    },
    async flush() {},
    async close() {},
  };
}
