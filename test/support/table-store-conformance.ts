/** One suite for the table store port: the in-memory twin (unit) and HBase through the adapter (integration). */
import { describe, expect, it } from 'vitest';
import type { Row, TableStore } from '../../src/adapters/ports.js';

export interface TableStoreHarness {
  store: TableStore;
  /** a table with column family 's' (and any other), empty or with rows of other cases */
  table: string;
}

const b = (s: string) => Buffer.from(s, 'utf8');
const row = (key: string, cells: Record<string, string>): Row => ({ key: b(key), cells: Object.entries(cells).map(([q, v]) => ({ family: 's', qualifier: b(q), value: b(v) })) });
const flat = (r: Row | undefined) => (r ? Object.fromEntries(r.cells.map((c) => [`${c.family}:${c.qualifier.toString()}`, c.value.toString()])) : undefined);

let caseNo = 0;

export function tableStoreConformance(name: string, make: () => Promise<TableStoreHarness>): void {
  describe(`table store conformance: ${name}`, () => {
    let h: TableStoreHarness;
    /** A key prefix of its own per case: cases never see each other's rows. */
    const prefix = async () => {
      h ??= await make();
      return `tsc${String(caseNo++).padStart(3, '0')}|`;
    };

    it('puts and gets rows; a put overwrites its cells and keeps the row\'s others', async () => {
      const p = await prefix();
      await h.store.put(h.table, row(`${p}a`, { x: '1', y: '2' }));
      await h.store.put(h.table, row(`${p}a`, { y: '3' }));
      expect(flat(await h.store.get(h.table, b(`${p}a`)))).toEqual({ 's:x': '1', 's:y': '3' });
      expect(await h.store.get(h.table, b(`${p}missing`))).toBeUndefined();
    });

    it('getMany aligns results with the keys asked, missing ones undefined', async () => {
      const p = await prefix();
      await h.store.putMany(h.table, [row(`${p}1`, { v: 'one' }), row(`${p}3`, { v: 'three' })]);
      const got = await h.store.getMany(h.table, [b(`${p}3`), b(`${p}2`), b(`${p}1`)]);
      expect(got.map((r) => r?.cells[0]?.value.toString())).toEqual(['three', undefined, 'one']);
    });

    it('scans [startRow, stopRow) in byte order of the keys, binary keys included', async () => {
      const p = await prefix();
      const keys = [Buffer.concat([b(p), Buffer.from([0x00])]), Buffer.concat([b(p), Buffer.from([0x61])]), Buffer.concat([b(p), Buffer.from([0x61, 0x00])]), Buffer.concat([b(p), Buffer.from([0xff, 0x01])])];
      await h.store.putMany(h.table, [...keys].reverse().map((key, i) => ({ key, cells: [{ family: 's', qualifier: b('i'), value: b(String(i)) }] })));
      const all: string[] = [];
      for await (const r of h.store.scan(h.table, { startRow: b(p), stopRow: Buffer.concat([b(p), Buffer.from([0xff, 0xff])]), caching: 2 })) all.push(r.key.toString('hex'));
      expect(all).toEqual(keys.map((k) => k.toString('hex')));
      const part: string[] = [];
      for await (const r of h.store.scan(h.table, { startRow: keys[1]!, stopRow: keys[3]! })) part.push(r.key.toString('hex'));
      expect(part).toEqual([keys[1]!, keys[2]!].map((k) => k.toString('hex')));
    });

    it('scanBatches hands over the rows of scan, in order, in non-empty batches of at most caching rows', async () => {
      const p = await prefix();
      const keys = Array.from({ length: 23 }, (_, i) => Buffer.concat([b(p), Buffer.from([i * 11])]));
      await h.store.putMany(h.table, keys.map((key, i) => ({ key, cells: [{ family: 's', qualifier: b('i'), value: b(String(i)) }] })));
      const range = { startRow: keys[2]!, stopRow: keys[21]!, caching: 4 };
      const one: string[] = [];
      for await (const r of h.store.scan(h.table, range)) one.push(`${r.key.toString('hex')}=${r.cells[0]!.value.toString()}`);
      const sizes: number[] = [];
      const batched: string[] = [];
      for await (const rows of h.store.scanBatches(h.table, range)) {
        sizes.push(rows.length);
        for (const r of rows) batched.push(`${r.key.toString('hex')}=${r.cells[0]!.value.toString()}`);
      }
      expect(one).toHaveLength(19);
      expect(batched).toEqual(one);
      expect(sizes.every((n) => n >= 1 && n <= 4)).toBe(true);
      expect(sizes.length).toBeGreaterThanOrEqual(5);
    });

    it('deletes a row', async () => {
      const p = await prefix();
      await h.store.put(h.table, row(`${p}gone`, { v: 'x' }));
      await h.store.deleteRow(h.table, b(`${p}gone`));
      expect(await h.store.get(h.table, b(`${p}gone`))).toBeUndefined();
    });

    it('deletes many rows at once, missing ones included, and leaves the others', async () => {
      const p = await prefix();
      const keys = Array.from({ length: 1500 }, (_, i) => b(`${p}d${String(i).padStart(4, '0')}`));
      await h.store.putMany(h.table, keys.map((k, i) => ({ key: k, cells: [{ family: 's', qualifier: b('v'), value: b(String(i)) }] })));
      await h.store.put(h.table, row(`${p}keep`, { v: 'x' }));
      await h.store.deleteMany(h.table, [...keys, b(`${p}never-there`)]);
      const left = [];
      for await (const r of h.store.scan(h.table, { startRow: b(p), stopRow: Buffer.concat([b(p), Buffer.from([0xff, 0xff])]) })) left.push(r.key.toString());
      expect(left).toEqual([`${p}keep`]);
    });
  });
}
