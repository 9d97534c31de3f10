/**
 * The hand-written Multi encoders (src/adapters/hbase.ts) against the library's own protobuf
 * classes: what the server would decode must be exactly the request protobufjs would have built.
 */
import { describe, expect, it } from 'vitest';
import rpcConnection from 'hbase-rpc-client/lib/connection.js';
import { encodeDeleteMultiRequest, encodeGetMultiRequest } from '../../../src/adapters/hbase.js';

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
