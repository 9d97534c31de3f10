/**
 * Hand decoding of the ScanResponse protobuf (HBase 2 Client.proto), the mirror of the
 * hand-encoded requests in hbase.ts. protobufjs 2 decoded every Result and Cell through reflection
 * and a ByteBuffer per bytes field: about half of a scan's client CPU, and split scans every stored
 * row every night. Cells come back as Buffers that share the response's memory (no copy per cell).
 *
 * Only what the scan loop reads is kept; every other field is skipped by its wire type, so a newer
 * server's extra fields cannot break it. A malformed message throws (never a silently short row).
 *
 *   ScanResponse { repeated uint32 cell_result_count = 1; optional uint64 scanner_id = 2;
 *                  optional bool more_results = 3; optional uint32 ttl = 4; repeated Result results = 5;
 *                  optional bool stale = 6; repeated bool partial_flag_per_result = 7;
 *                  optional bool more_results_in_region = 8; optional bool heartbeat_message = 9; ... }
 *   Result { repeated Cell cell = 1; optional int32 associated_cell_count = 2; optional bool exists = 3; ... }
 *   Cell   { optional bytes row = 1; optional bytes family = 2; optional bytes qualifier = 3;
 *            optional uint64 timestamp = 4; optional CellType cell_type = 5; optional bytes value = 6; ... }
 */
/** hbase.ts's Row, restated here so that the two files do not import each other. */
interface Row { key: Buffer; cells: Array<{ family: string; qualifier: Buffer; value: Buffer }> }

export interface DecodedScanResponse {
  /** the scanner id's varint bytes as sent (uint64): copied as they are into the next request */
  scannerId: Buffer | undefined;
  moreResults: boolean | undefined;
  moreResultsInRegion: boolean | undefined;
  /** one per Result that has cells, in order */
  rows: Row[];
  /** Results in the message, empty ones included (the scan loop's "empty batch" test) */
  results: number;
  /** cell_result_count entries: nonzero means cells in a cell block, which this client never asks for */
  cellBlockCells: number;
}

class ProtoReader {
  pos: number;
  constructor(readonly buf: Buffer, start = 0, readonly end = buf.length) {
    this.pos = start;
  }
  get more(): boolean {
    return this.pos < this.end;
  }
  /** a varint up to 2^53 as a number (lengths, tags, booleans, small ints) */
  varint(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      if (this.pos >= this.end) throw new RangeError('protobuf: truncated varint');
      const b = this.buf[this.pos++]!;
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 0x80;
      // A uint64 past 2^53 loses precision here: only lengths and flags are read as numbers
      // (the scanner id is kept as bytes), so only a malformed message can get here.
      if (mul > 2 ** 70) throw new RangeError('protobuf: varint longer than 10 bytes');
    }
  }
  /** the [start, end) of a length-delimited field */
  span(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    if (start + len > this.end) throw new RangeError('protobuf: field runs past its message');
    this.pos = start + len;
    return [start, start + len];
  }
  bytes(): Buffer {
    const [a, z] = this.span();
    return this.buf.subarray(a, z);
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.span();
    else if (wire === 5) this.pos += 4;
    else throw new RangeError(`protobuf: unsupported wire type ${wire}`);
    if (this.pos > this.end) throw new RangeError('protobuf: field runs past its message');
  }
}

function decodeCell(r: ProtoReader, end: number): { row: Buffer | undefined; family: string; qualifier: Buffer; value: Buffer } {
  const c = new ProtoReader(r.buf, r.pos, end);
  let row: Buffer | undefined;
  let family = '';
  let qualifier: Buffer = EMPTY;
  let value: Buffer = EMPTY;
  while (c.more) {
    const tag = c.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 2 && field === 1) row = c.bytes();
    else if (wire === 2 && field === 2) family = c.bytes().toString('utf8');
    else if (wire === 2 && field === 3) qualifier = c.bytes();
    else if (wire === 2 && field === 6) value = c.bytes();
    else c.skip(wire);
  }
  return { row, family, qualifier, value };
}

const EMPTY: Buffer = Buffer.alloc(0);

function decodeResult(r: ProtoReader, start: number, end: number): Row | undefined {
  const res = new ProtoReader(r.buf, start, end);
  let key: Buffer | undefined;
  const cells: Row['cells'] = [];
  while (res.more) {
    const tag = res.varint();
    const wire = tag & 7;
    if (wire === 2 && tag >>> 3 === 1) {
      const [a, z] = res.span();
      res.pos = a;
      const c = decodeCell(res, z);
      res.pos = z;
      key ??= c.row;
      cells.push({ family: c.family, qualifier: c.qualifier, value: c.value });
    } else res.skip(wire);
  }
  if (cells.length === 0 || key === undefined) return undefined;
  return { key, cells };
}

export function decodeScanResponse(buf: Buffer): DecodedScanResponse {
  const r = new ProtoReader(buf);
  const out: DecodedScanResponse = { scannerId: undefined, moreResults: undefined, moreResultsInRegion: undefined, rows: [], results: 0, cellBlockCells: 0 };
  while (r.more) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === 0) out.cellBlockCells += r.varint();
    else if (field === 1 && wire === 2) {
      // packed repeated uint32
      const [a, z] = r.span();
      const p = new ProtoReader(buf, a, z);
      while (p.more) out.cellBlockCells += p.varint();
    } else if (field === 2 && wire === 0) {
      const start = r.pos;
      r.varint();
      out.scannerId = buf.subarray(start, r.pos);
    }
    else if (field === 3 && wire === 0) out.moreResults = r.varint() !== 0;
    else if (field === 5 && wire === 2) {
      const [a, z] = r.span();
      out.results++;
      const row = decodeResult(r, a, z);
      if (row !== undefined) out.rows.push(row);
    } else if (field === 8 && wire === 0) out.moreResultsInRegion = r.varint() !== 0;
    else r.skip(wire);
  }
  return out;
}
