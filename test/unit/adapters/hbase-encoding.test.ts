/**
 * The hand-written Multi encoders (src/adapters/hbase.ts) against the library's own protobuf
 * classes: what the server would decode must be exactly the request protobufjs would have built.
 */
import { describe, expect, it } from 'vitest';
import rpcConnection from 'hbase-rpc-client/lib/connection.js';
import { encodeDeleteMultiRequest, encodeGetMultiRequest, encodeScanRequest } from '../../../src/adapters/hbase.js';
import { decodeScanResponse } from '../../../src/adapters/hbase-decode.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- protobufjs 2 messages are untyped */
const proto = (rpcConnection as unknown as { proto: Record<string, { decode(b: Buffer): any }> }).proto;
const bytes = (b: any): Buffer => Buffer.from(b.toBuffer());

describe('encodeGetMultiRequest', () => {
  it('decodes as one Get (max_versions 1) per key, indexed within its region, for binary keys of any length', () => {
    const long = Buffer.alloc(300, 0xff);
    const parts = [
      { regionName: Buffer.from('t,,1.abc.'), keys: [Buffer.from([0, 1, 2]), long, Buffer.from('m\u0000x', 'utf8')] },
      { regionName: Buffer.alloc(200, 7), keys: Array.from({ length: 200 }, (_, i) => Buffer.from(`k${i}`)) },
    ];
    const req = proto.MultiRequest!.decode(encodeGetMultiRequest(parts));
    expect(req.regionAction).toHaveLength(2);
    req.regionAction.forEach((ra: any, pi: number) => {
      const part = parts[pi]!;
      expect(ra.region.type).toBe(1); // REGION_NAME
      expect(bytes(ra.region.value).equals(part.regionName)).toBe(true);
      expect(ra.action).toHaveLength(part.keys.length);
      ra.action.forEach((a: any, i: number) => {
        expect(a.index).toBe(i);
        expect(a.mutation).toBeNull();
        expect(bytes(a.gxt.row).equals(part.keys[i]!)).toBe(true);
        expect(a.gxt.max_versions).toBe(1);
      });
    });
  });
});

describe('encodeDeleteMultiRequest', () => {
  it('decodes as one whole-row DELETE (no columns) per key, indexed within its region', () => {
    const parts = [
      { regionName: Buffer.from('t,,1.abc.'), keys: [Buffer.from([0, 1, 2]), Buffer.alloc(300, 0xff)] },
      { regionName: Buffer.alloc(200, 7), keys: Array.from({ length: 200 }, (_, i) => Buffer.from(`k${i}`)) },
    ];
    const req = proto.MultiRequest!.decode(encodeDeleteMultiRequest(parts));
    expect(req.regionAction).toHaveLength(2);
    req.regionAction.forEach((ra: any, pi: number) => {
      const part = parts[pi]!;
      expect(bytes(ra.region.value).equals(part.regionName)).toBe(true);
      expect(ra.action).toHaveLength(part.keys.length);
      ra.action.forEach((a: any, i: number) => {
        expect(a.index).toBe(i);
        expect(a.gxt).toBeNull();
        expect(bytes(a.mutation.row).equals(part.keys[i]!)).toBe(true);
        expect(a.mutation.mutate_type).toBe(3); // DELETE
        expect(a.mutation.column_value).toEqual([]);
      });
    });
  });
});

describe('encodeScanRequest and decodeScanResponse (scan requests and answers, by hand)', () => {
  const protoNew = (rpcConnection as unknown as { proto: Record<string, new (o: object) => { encode(): { toBuffer(): Buffer } }> }).proto;

  it('an opening request decodes as the Scan protobufjs would build: region, start, stop, families, max_versions 1, rows', () => {
    const startRow = Buffer.from([0, 1, 0xff]);
    const stopRow = Buffer.alloc(300, 0xfe);
    const req = proto.ScanRequest!.decode(encodeScanRequest({ regionName: Buffer.from('ns:t,,1.abc.'), numberOfRows: 1000, scan: { startRow, stopRow, families: ['e', 'fam2'] } }));
    expect(req.region.type).toBe(1);
    expect(bytes(req.region.value).toString()).toBe('ns:t,,1.abc.');
    expect(bytes(req.scan.start_row).equals(startRow)).toBe(true);
    expect(bytes(req.scan.stop_row).equals(stopRow)).toBe(true);
    expect(req.scan.column.map((c: any) => bytes(c.family).toString())).toEqual(['e', 'fam2']);
    expect(req.scan.max_versions).toBe(1);
    expect(req.number_of_rows).toBe(1000);
    expect(req.scanner_id).toBeNull();
    expect(req.close_scanner).toBeNull();
    // An unbounded scan has no stop row at all (an empty one would mean "stop at the start").
    const open = proto.ScanRequest!.decode(encodeScanRequest({ regionName: Buffer.from('r'), numberOfRows: 1, scan: { startRow: Buffer.alloc(0), stopRow: Buffer.alloc(0) } }));
    expect(open.scan.stop_row).toBeNull();
  });

  it('the scanner id goes back byte for byte (all 64 bits), with next and close requests', () => {
    const answer = protoNew.ScanResponse!;
    const Long = (proto.ScanResponse!.decode(new answer({ scanner_id: '1' }).encode().toBuffer()) as any).scanner_id.constructor;
    const id = Long.fromString('18446744073709551000', true);
    const res = decodeScanResponse(new answer({ scanner_id: id, more_results: true }).encode().toBuffer());
    const next = proto.ScanRequest!.decode(encodeScanRequest({ regionName: Buffer.from('r'), numberOfRows: 500, scannerId: res.scannerId! }));
    expect(next.scanner_id.toString()).toBe('18446744073709551000');
    expect(next.scan).toBeNull();
    const close = proto.ScanRequest!.decode(encodeScanRequest({ regionName: Buffer.from('r'), numberOfRows: 0, scannerId: res.scannerId!, close: true }));
    expect(close.close_scanner).toBe(true);
    expect(close.scanner_id.toString()).toBe('18446744073709551000');
  });

  it('decodes results and cells as protobufjs does, skipping fields it does not read, and refuses a truncated answer', () => {
    const cell = (row: string, q: Buffer, value: Buffer) => ({ row: Buffer.from(row), family: Buffer.from('e'), qualifier: q, timestamp: 17, cell_type: 4, value });
    const big = Buffer.alloc(70_000, 0x61);
    const msg = new protoNew.ScanResponse!({
      scanner_id: 42, more_results: true, ttl: 60000, more_results_in_region: false,
      results: [
        { cell: [cell('r1', Buffer.alloc(24, 1), Buffer.from('{"a":1}')), cell('r1', Buffer.alloc(30, 2), big)] },
        { cell: [] },
        { cell: [cell('r\u00e9', Buffer.alloc(0), Buffer.alloc(0))], associated_cell_count: 0, exists: true },
      ],
    }).encode().toBuffer();
    const d = decodeScanResponse(msg);
    expect(d.results).toBe(3);
    expect(d.moreResults).toBe(true);
    expect(d.moreResultsInRegion).toBe(false);
    expect(d.cellBlockCells).toBe(0);
    expect(d.rows).toHaveLength(2);
    expect(d.rows[0]!.key.toString()).toBe('r1');
    expect(d.rows[0]!.cells.map((c) => [c.family, c.qualifier.length, c.value.length])).toEqual([['e', 24, 7], ['e', 30, 70_000]]);
    expect(d.rows[0]!.cells[1]!.value.equals(big)).toBe(true);
    expect(d.rows[1]!.key.toString()).toBe('r\u00e9');
    expect(d.rows[1]!.cells[0]!.value.length).toBe(0);
    for (const cut of [1, 10, msg.length - 1]) expect(() => decodeScanResponse(msg.subarray(0, cut))).toThrow(/protobuf/);
    const empty = decodeScanResponse(new protoNew.ScanResponse!({ scanner_id: 7 }).encode().toBuffer());
    expect(empty).toMatchObject({ results: 0, rows: [], moreResults: undefined, moreResultsInRegion: undefined });
  });
});
