/**
 * The project's HBase interface and its implementation over hbase-rpc-client (native protobuf RPC
 * to the regionservers, region locations through ZooKeeper + hbase:meta). The rest of Stageline
 * sees only `HBaseClient`; nothing else imports hbase-rpc-client.
 *
 * hbase-rpc-client@0.1.15 was written for HBase 0.98–1.2. patches/hbase-rpc-client+0.1.15.patch
 * (applied by patch-package on `npm install`) makes the layers this adapter uses work on HBase 2.6:
 *  - Region location: `locateRegionInMeta` used a Get with `closestRowBefore`, which HBase 2.0
 *    removed (HBASE-20237: UnknownProtocolException "getClosestRowBefore removed in hbase-2.0.0
 *    replaced by reverse Scan"). It now does a reversed one-row Scan of hbase:meta from
 *    `<table>,<row>,99999999999999` and checks the row found belongs to the table (else
 *    TableNotFoundException) and covers the row (else NoServerForRegionException).
 *  - Region rows without `info:server` (not yet assigned: right after create/split) no longer throw
 *    a TypeError; such regions and offline split parents are not cached and locate as
 *    NoServerForRegionException (retryable).
 *  - The region prefetch scan of `ns:t` also covered `ns:t_x`'s meta rows (',' sorts below '_')
 *    and cached them as regions of `ns:t`: rows are now checked to belong to the table.
 *  - `utils.bufferCompare` answered 0 for e.g. ([0x61,0x00], [0x61]) and ([], [0x00]): now
 *    `Buffer.compare` (region lookups of binary keys depend on it).
 *  - A refused or timed-out connect used to leave every caller waiting forever (the client waited
 *    for a "connectError" event nothing emits): callers now get an Error with `code` (ECONNREFUSED,
 *    ETIMEDOUT…); a closing socket fails its in-flight calls at once instead of after their
 *    timeout; a stale close no longer removes a newer connection to the same server. The ZooKeeper
 *    bootstrap referenced an undefined `cb` when the meta server was unreachable.
 *  - Error classification (`_isRetryException`): any `org.apache.hadoop.hbase.*` exception counted
 *    as "region moved, drop the cache and retry"; now only region/server-state exceptions do.
 *  - `Scan.close` left its lease timer running (kept the process alive up to a minute).
 *  - proto/Client.proto: ScanResponse gains `more_results_in_region` (field 8, HBase >= 1.1), so a
 *    scanner knows when a region is exhausted instead of guessing from a short batch.
 *  - lib/connection.js exports its built protobuf classes (`Connection.proto`): putMany hands the
 *    RPC layer a MultiRequest encoded here (see encodePutMultiRequest), 5x less CPU than protobufjs 2.
 * Not patched because not used here: the library's get/put/mget/mput/Scan helpers (its Scan turns
 * binary resume keys into UTF-8 strings; mget/mput return results in server order, not input
 * order). This adapter builds the Get/Mutate/Multi/Scan requests itself, with Buffers throughout
 * so binary keys and values round-trip byte-exact.
 *
 * Regions in motion (issue 14; cases in test/unit/adapters/hbase-regions.test.ts, measured on two
 * region servers in test/cluster/regions.test.ts). Handled here, not in the patch:
 *  - A scan reopens just past the last row it returned after any retryable failure, and also after
 *    the scanner-reset exceptions HBase 2 marks doNotRetry (UnknownScannerException when the
 *    region closed for a split, move or unassign, or the lease expired). Before, those ended the
 *    scan with a non-retryable error, so split dead-lettered a good chunk.
 *  - A region is read to its end only when the server says so; a short batch is not the end
 *    (before, without moreResultsInRegion, a short batch silently skipped the rest of a region).
 *  - The prefetched next batch is held as a settled value: it can fail while the consumer still
 *    holds a row without an unhandled rejection (before, that ended the process).
 *  - Retries of region moves and server restarts are bounded by time from the last progress
 *    (retryForMs, 60 s) rather than 6 attempts (~3 s), so a region server crash is ridden out.
 *  - A call that times out drops its connection (a server gone without closing its sockets would
 *    otherwise cost the full timeout on every later call), and with it the server's cached regions.
 */
import hbaseRpc from 'hbase-rpc-client';
import rpcConnection from 'hbase-rpc-client/lib/connection.js';
import { decodeScanResponse, type DecodedScanResponse } from './hbase-decode.js';
import { rowsOf } from './rows.js';
import { StagelineError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { backoffDelay, retry, sleep as realSleep } from '../retry.js';

export interface Cell { family: string; qualifier: Buffer; value: Buffer }
export interface Row { key: Buffer; cells: Cell[] }
export interface ScanOptions {
  /** Inclusive. @defaultValue the table's first row */
  startRow?: Buffer;
  /** Exclusive. @defaultValue the table's end */
  stopRow?: Buffer;
  /** Rows per RPC. @defaultValue 500 */
  caching?: number;
  /** Only these column families. @defaultValue all */
  families?: string[];
}
export interface HBaseClient {
  get(table: string, key: Buffer): Promise<Row | undefined>;
  /** Batched by region server: one Multi RPC per server per chunk. Results align with `keys`. */
  getMany(table: string, keys: Buffer[]): Promise<Array<Row | undefined>>;
  put(table: string, row: Row): Promise<void>;
  /** Batched multi-put grouped by region; chunks are pipelined, not one awaited RPC per row. */
  putMany(table: string, rows: Row[]): Promise<void>;
  deleteRow(table: string, key: Buffer): Promise<void>;
  deleteMany(table: string, keys: Buffer[]): Promise<void>;
  /** Streaming (at most two batches in memory), continues across regions, stopRow exclusive. */
  scan(table: string, opts: ScanOptions): AsyncIterable<Row>;
  /**
   * The same rows as scan, in the same order, handed over a batch at a time (each non-empty, at
   * most `caching` rows): one await per batch instead of per row, for a consumer that reads every
   * stored row (split).
   */
  scanBatches(table: string, opts: ScanOptions): AsyncIterable<Row[]>;
  close(): Promise<void>;
}

export interface HBaseClientOptions {
  /** Comma-separated host:port list, e.g. '127.0.0.1:2181'. */
  zkQuorum: string;
  /** @defaultValue '/hbase' */
  zkRoot?: string;
  /** Bound of one RPC and of one connect, in ms. @defaultValue 30000 */
  rpcTimeoutMs?: number;
  /** Actions per Multi RPC. @defaultValue 1000 */
  batchSize?: number;
  /** Multi RPCs in flight at once per call. @defaultValue 4 */
  concurrency?: number;
  /** Attempts of one operation across region moves and reconnects. @defaultValue 100 */
  attempts?: number;
  /**
   * How long one operation keeps retrying region moves, splits and server restarts, counted from
   * its last progress (a scan's last batch). Long enough to ride out a region server crash (the
   * master reassigns its regions after splitting its WAL: 5-20 s here). @defaultValue 60000
   */
  retryForMs?: number;
  /** Injected for tests (a fake clock). @defaultValue real time */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

type RpcClient = hbaseRpc.Client;
type RegionLocation = hbaseRpc.RegionLocation;
type Connection = hbaseRpc.Connection;
type ResultPb = hbaseRpc.ResultPb;

// Server exceptions that mean "the region is elsewhere / not ready / the server is busy": the
// request itself is fine, so relocating and retrying (or retrying later) can succeed.
const RETRYABLE_SERVER_EXCEPTION =
  /NotServingRegion|RegionMoved|RegionOpening|RegionOffline|NoServerForRegion|RegionTooBusy|ServerNotRunningYet|PleaseHold|CallQueueTooBig|ServerTooBusy|RetryImmediately|RegionServerStopped|RegionServerAborted|UnknownScanner|OutOfOrderScannerNext|ScannerReset|CallTimeout|ConnectionClosing|ConnectionClosed|MultiActionResultTooLarge|StoppedRpcClient|FailedServer/;
// Exceptions after which a scan reopens a scanner just past the last row it returned, whatever
// `doNotRetry` says: the server sets doNotRetry on them because re-sending the same `next` is
// useless (the scanner is gone), not because the rows are. HBase 2 answers a scanner whose
// region closed for a split or move, whose region server is stopping, or whose lease expired
// with UnknownScannerException (doNotRetry, "to reset the client scanner state for clients older
// than 1.3", or "Unknown scanner"), newer clients with ScannerResetException.
const SCANNER_RESET = /UnknownScanner|ScannerReset|OutOfOrderScannerNext|NotServingRegion|RegionMoved|RegionOpening|RegionOffline|RegionServerStopped|RegionServerAborted|ServerNotRunningYet/;

/** Whether a failed scan RPC lost only the scanner (reopen after the last row) rather than the request. */
export function isScannerReset(err: unknown): boolean {
  const raw = err instanceof StagelineError ? err.cause : err;
  if (typeof raw !== 'object' || raw === null) return false;
  const e = raw as { exceptionClassName?: unknown; name?: unknown };
  const cls = typeof e.exceptionClassName === 'string' ? e.exceptionClassName : typeof e.name === 'string' ? e.name : '';
  return SCANNER_RESET.test(cls);
}

const RETRYABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNABORTED', 'ENOTFOUND']);

/** Turns whatever the RPC layer reported into the project's typed error. */
export function classifyHBaseError(err: unknown, what: string): StagelineError {
  if (err instanceof StagelineError) return err;
  const unavailable = (msg: string): StagelineError => new StagelineError('HBASE_UNAVAILABLE', `${what}: ${msg}`, { retryable: true, cause: err });
  const failed = (msg: string): StagelineError => new StagelineError('HBASE_ERROR', `${what}: ${msg}`, { retryable: false, cause: err });
  if (typeof err === 'string') {
    // The library's call timer reports a bare 'timedout'.
    return err === 'timedout' ? unavailable('RPC timed out') : failed(err);
  }
  if (typeof err === 'object' && err !== null) {
    const e = err as { exceptionClassName?: unknown; name?: unknown; code?: unknown; doNotRetry?: unknown; stackTrace?: unknown; message?: unknown; value?: { toBuffer?: () => Buffer } | null };
    // ExceptionResponse (RPC level) or NameBytesPair (per action in a Multi) from the server,
    // or an Error from the patched location code.
    const cls = typeof e.exceptionClassName === 'string' ? e.exceptionClassName : typeof e.name === 'string' && e.name.includes('.') ? e.name : undefined;
    if (cls !== undefined) {
      const detail = typeof e.message === 'string' && e.message !== '' ? e.message
        : typeof e.stackTrace === 'string' ? firstLine(e.stackTrace)
        : e.value?.toBuffer ? firstLine(e.value.toBuffer().toString('utf8')) : '';
      const msg = `${cls}${detail ? `: ${detail}` : ''}`;
      return e.doNotRetry !== true && RETRYABLE_SERVER_EXCEPTION.test(cls) ? unavailable(msg) : failed(msg);
    }
    if (typeof e.code === 'string' && RETRYABLE_NODE_CODES.has(e.code)) return unavailable(errorMessage(err));
  }
  return failed(errorMessage(err));
}

function firstLine(s: string): string {
  const line = s.split('\n', 1)[0] ?? '';
  return line.length > 500 ? `${line.slice(0, 500)}…` : line;
}

/** Rows found in a Result; cells of one row arrive together (no partial results requested). */
function toRow(result: ResultPb | null | undefined): Row | undefined {
  const cells = result?.cell;
  if (!cells || cells.length === 0) return undefined;
  const first = cells[0];
  if (first === undefined) return undefined;
  return {
    key: first.row.toBuffer(),
    cells: cells.map((c) => ({ family: c.family.toBuffer().toString('utf8'), qualifier: c.qualifier.toBuffer(), value: c.value ? c.value.toBuffer() : Buffer.alloc(0) })),
  };
}

/** MutationProto PUT; timestamps left to the server (its clock, like the Java client's default). */
function putMutation(row: Row): object {
  const byFamily = new Map<string, Array<{ qualifier: Buffer; value: Buffer }>>();
  for (const c of row.cells) {
    let list = byFamily.get(c.family);
    if (list === undefined) byFamily.set(c.family, (list = []));
    list.push({ qualifier: c.qualifier, value: c.value });
  }
  return { row: row.key, mutateType: 'PUT', columnValue: [...byFamily].map(([family, qualifierValue]) => ({ family, qualifierValue })) };
}

function regionSpec(loc: RegionLocation): object {
  return { type: 'REGION_NAME', value: loc.name };
}

// ---- Hand-written protobuf encoding of multi-put requests ----------------------------------
// protobufjs 2 (the library's encoder) spends ~40 µs of CPU per 300-byte put (reflection,
// ByteBuffer growth, GC): putMany was Node-CPU-bound at ~25k rows/s. MultiRequest with PUT
// mutations is a few nested length-delimited fields, so it is encoded here in two passes
// (sizes, then bytes) into one Buffer and handed to the connection as a pre-encoded message.
// Field numbers are those of the library's proto/Client.proto and HBase.proto (stable since 0.96).

function varintLen(n: number): number {
  let len = 1;
  while (n >= 0x80) { n = Math.floor(n / 128); len++; }
  return len;
}
/** Bytes of a length-delimited field (tag of a field number < 16 is one byte). */
function ldLen(len: number): number {
  return 1 + varintLen(len) + len;
}

class PbWriter {
  readonly buf: Buffer;
  pos = 0;
  constructor(size: number) { this.buf = Buffer.allocUnsafe(size); }
  varint(n: number): void {
    while (n >= 0x80) { this.buf[this.pos++] = (n & 0x7f) | 0x80; n = Math.floor(n / 128); }
    this.buf[this.pos++] = n;
  }
  tag(field: number, wireType: number): void { this.buf[this.pos++] = (field << 3) | wireType; }
  ld(field: number, len: number): void { this.tag(field, 2); this.varint(len); }
  bytes(field: number, b: Buffer): void { this.ld(field, b.length); b.copy(this.buf, this.pos); this.pos += b.length; }
  /** regionAction (1) of `size` bytes, then its region (1): { type (1) = REGION_NAME, value (2) } */
  regionActionHead(size: number, regionName: Buffer): void {
    this.ld(1, size);
    this.ld(1, 2 + ldLen(regionName.length));
    this.tag(1, 0); this.varint(1);
    this.bytes(2, regionName);
  }
}

interface PutPlan { row: Row; families: Array<{ name: Buffer; qvs: number[]; size: number; cells: Cell[] }>; mutation: number; action: number; index: number }

const familyBytes = new Map<string, Buffer>();
function familyBuffer(f: string): Buffer {
  let b = familyBytes.get(f);
  if (b === undefined) familyBytes.set(f, (b = Buffer.from(f, 'utf8')));
  return b;
}

/** MultiRequest { regionAction: [{ region: REGION_NAME, action: [{ index, mutation: PUT }] }] } */
export function encodePutMultiRequest(parts: Array<{ regionName: Buffer; rows: Row[] }>): Buffer {
  const plans: PutPlan[][] = [];
  const regionSizes: number[] = [];
  let total = 0;
  for (const part of parts) {
    const list: PutPlan[] = [];
    let actions = 0;
    part.rows.forEach((row, index) => {
      const byFamily = new Map<string, Cell[]>();
      for (const c of row.cells) {
        const l = byFamily.get(c.family);
        if (l === undefined) byFamily.set(c.family, [c]);
        else l.push(c);
      }
      const families: PutPlan['families'] = [];
      let mutation = ldLen(row.key.length) + 2; // row (1), mutate_type PUT (2)
      for (const [f, cells] of byFamily) {
        const name = familyBuffer(f);
        const qvs = cells.map((c) => ldLen(c.qualifier.length) + ldLen(c.value.length)); // qualifier (1), value (2)
        const size = ldLen(name.length) + qvs.reduce((a, q) => a + ldLen(q), 0); // family (1), qualifier_value (2)
        families.push({ name, qvs, size, cells });
        mutation += ldLen(size); // column_value (3)
      }
      const action = 1 + varintLen(index) + ldLen(mutation); // index (1), mutation (2)
      list.push({ row, families, mutation, action, index });
      actions += ldLen(action);
    });
    const spec = 2 + ldLen(part.regionName.length); // type (1) = REGION_NAME, value (2)
    const regionAction = ldLen(spec) + actions; // region (1), action (3)
    plans.push(list);
    regionSizes.push(regionAction);
    total += ldLen(regionAction); // regionAction (1)
  }
  const w = new PbWriter(total);
  parts.forEach((part, pi) => {
    w.regionActionHead(regionSizes[pi]!, part.regionName);
    for (const p of plans[pi]!) {
      w.ld(3, p.action);
      w.tag(1, 0); w.varint(p.index);
      w.ld(2, p.mutation);
      w.bytes(1, p.row.key);
      w.tag(2, 0); w.varint(2);
      for (const f of p.families) {
        w.ld(3, f.size);
        w.bytes(1, f.name);
        f.cells.forEach((c, i) => {
          w.ld(2, f.qvs[i]!);
          w.bytes(1, c.qualifier);
          w.bytes(2, c.value);
        });
      }
    }
  });
  if (w.pos !== total) throw new StagelineError('INTERNAL', `multi-put encoding size mismatch (${w.pos} != ${total})`);
  return w.buf;
}

/**
 * MultiRequest { regionAction: [{ region: REGION_NAME, action: [{ index, gxt: { row, max_versions: 1 } }] }] }.
 * Issue 15: ingest reads every key of a batch before writing it (dedupe, late data), and encoding
 * those Gets with protobufjs 2 was the largest single CPU cost of ingest (with its ByteBuffer, ~20 %
 * of the process's samples in a --cpu-prof of 300k lines).
 */
export function encodeGetMultiRequest(parts: Array<{ regionName: Buffer; keys: Buffer[] }>): Buffer {
  // action.gxt (3) = { row (1), max_versions (6) = 1 }
  return encodeKeyActions(parts, 3, (key) => ldLen(key.length) + 2, (w, key) => { w.bytes(1, key); w.tag(6, 0); w.varint(1); }, 'multi-get');
}

/** One action per key: { index (1), <field>: <inner message of the key> }, grouped by region. */
function encodeKeyActions(parts: Array<{ regionName: Buffer; keys: Buffer[] }>, field: number, innerLen: (key: Buffer) => number, inner: (w: PbWriter, key: Buffer) => void, what: string): Buffer {
  const actionLen = (key: Buffer, index: number) => 1 + varintLen(index) + ldLen(innerLen(key));
  const regionSizes = parts.map((part) => {
    let actions = 0;
    part.keys.forEach((k, i) => { actions += ldLen(actionLen(k, i)); });
    return ldLen(2 + ldLen(part.regionName.length)) + actions;
  });
  const total = regionSizes.reduce((a, r) => a + ldLen(r), 0);
  const w = new PbWriter(total);
  parts.forEach((part, pi) => {
    w.regionActionHead(regionSizes[pi]!, part.regionName);
    part.keys.forEach((key, index) => {
      w.ld(3, actionLen(key, index));
      w.tag(1, 0); w.varint(index);
      w.ld(field, innerLen(key));
      inner(w, key);
    });
  });
  if (w.pos !== total) throw new StagelineError('INTERNAL', `${what} encoding size mismatch (${w.pos} != ${total})`);
  return w.buf;
}

/**
 * MultiRequest { regionAction: [{ region: REGION_NAME, action: [{ index, mutation: { row, DELETE } }] }] }:
 * a whole-row delete per key. Summarize replaces a re-run merchant-day's rows as a set; one Mutate
 * RPC per row made a re-run cost several times a first run (the HBase server's CPU 20 core-s for
 * ~75k session rows in the bench).
 */
export function encodeDeleteMultiRequest(parts: Array<{ regionName: Buffer; keys: Buffer[] }>): Buffer {
  // action.mutation (2) = { row (1), mutate_type (2) = DELETE (3) }
  return encodeKeyActions(parts, 2, (key) => ldLen(key.length) + 2, (w, key) => { w.bytes(1, key); w.tag(2, 0); w.varint(3); }, 'multi-delete');
}

export interface ScanRequestSpec {
  regionName: Buffer;
  numberOfRows: number;
  /** set to open a scanner */
  scan?: { startRow: Buffer; stopRow?: Buffer; families?: readonly string[] };
  /** the scanner id's varint bytes from the response that opened it */
  scannerId?: Buffer;
  close?: boolean;
}

/**
 * ScanRequest { region (1): REGION_NAME, scan (2): { column (1): [{ family (1) }], start_row (3),
 * stop_row (4), max_versions (7) = 1 }, scanner_id (3), number_of_rows (4), close_scanner (5) }.
 * Hand-encoded so that its response can be handed back undecoded (see decodeScanResponse).
 */
export function encodeScanRequest(o: ScanRequestSpec): Buffer {
  const regionLen = 2 + ldLen(o.regionName.length);
  const families = (o.scan?.families ?? []).map(familyBuffer);
  const scanLen = o.scan === undefined ? 0
    : families.reduce((a, f) => a + ldLen(ldLen(f.length)), 0) + ldLen(o.scan.startRow.length) + (o.scan.stopRow && o.scan.stopRow.length > 0 ? ldLen(o.scan.stopRow.length) : 0) + 2;
  const total = ldLen(regionLen) + (o.scan === undefined ? 0 : ldLen(scanLen)) + (o.scannerId === undefined ? 0 : 1 + o.scannerId.length) + 1 + varintLen(o.numberOfRows) + (o.close ? 2 : 0);
  const w = new PbWriter(total);
  w.ld(1, regionLen);
  w.tag(1, 0); w.varint(1);
  w.bytes(2, o.regionName);
  if (o.scan !== undefined) {
    w.ld(2, scanLen);
    for (const f of families) { w.ld(1, ldLen(f.length)); w.bytes(1, f); }
    w.bytes(3, o.scan.startRow);
    if (o.scan.stopRow && o.scan.stopRow.length > 0) w.bytes(4, o.scan.stopRow);
    w.tag(7, 0); w.varint(1);
  }
  if (o.scannerId !== undefined) { w.tag(3, 0); o.scannerId.copy(w.buf, w.pos); w.pos += o.scannerId.length; }
  w.tag(4, 0); w.varint(o.numberOfRows);
  if (o.close) { w.tag(5, 0); w.varint(1); }
  if (w.pos !== total) throw new StagelineError('INTERNAL', `scan request encoding size mismatch (${w.pos} != ${total})`);
  return w.buf;
}

/** What the patched RPC layer answers a raw request with: an empty message carrying the bytes. */
interface RawResponse { stagelineBytes?: Buffer }

function rawBytes(res: RawResponse): Buffer {
  if (res.stagelineBytes === undefined) throw new StagelineError('INTERNAL', 'hbase-rpc-client decoded a raw scan response (is its patch applied?)');
  return res.stagelineBytes;
}

/**
 * A ScanRequest the RPC layer sends as is and whose response it hands back as bytes (the patch's
 * `stagelineRawResponse`). Undefined when the patch is missing.
 */
function rawScanRequest(bytes: Buffer): object | undefined {
  const cls = rpcConnection.proto?.ScanRequest;
  if (cls === undefined) return undefined;
  const msg = Object.create(cls.prototype) as { toBuffer: () => Buffer; stagelineRawResponse: true };
  msg.toBuffer = () => bytes;
  msg.stagelineRawResponse = true;
  return msg;
}

/**
 * A message the library's RPC layer accepts as a MultiRequest: it checks `instanceof` and then
 * only calls toBuffer(). Undefined when the patch exposing the proto classes is missing.
 */
function preEncodedMultiRequest(bytes: Buffer): object | undefined {
  const cls = rpcConnection.proto?.MultiRequest;
  if (cls === undefined) return undefined;
  const msg = Object.create(cls.prototype) as { toBuffer: () => Buffer };
  msg.toBuffer = () => bytes;
  return msg;
}

function contains(loc: RegionLocation, key: Buffer): boolean {
  return Buffer.compare(key, loc.startKey) >= 0 && (loc.endKey.length === 0 || Buffer.compare(key, loc.endKey) < 0);
}

/** Backoff between attempts after a region moved, split or a server restarted (see retry.ts). */
const RETRY_DELAYS = { initialDelayMs: 100, maxDelayMs: 2000, factor: 2 } as const;

type Settled<T> = { ok: true; value: T } | { ok: false; err: unknown };

/** The outcome of a promise as a value: never an unhandled rejection while nobody awaits it yet. */
function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  return p.then((value) => ({ ok: true as const, value }), (err: unknown) => ({ ok: false as const, err }));
}

/** The smallest key after `key`: the resume point after the last row delivered. */
function nextKey(key: Buffer): Buffer {
  return Buffer.concat([key, Buffer.from([0])]);
}

interface BatchItem<R> {
  key: Buffer;
  action: object;
  /** Set for puts: lets multi() use the hand-written encoder. */
  put?: Row;
  /** Set for gets: the same, for encodeGetMultiRequest. */
  get?: true;
  /** Set for whole-row deletes: the same, for encodeDeleteMultiRequest. */
  del?: true;
  index: number;
  result?: R;
  done?: boolean;
}

class RpcHBaseClient implements HBaseClient {
  private readonly c: RpcClient;
  private readonly rpcTimeoutMs: number;
  private readonly batchSize: number;
  private readonly concurrency: number;
  private readonly attempts: number;
  private readonly retryForMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  private closed = false;

  constructor(o: HBaseClientOptions, private readonly log: Logger, rpc?: RpcClient) {
    this.rpcTimeoutMs = o.rpcTimeoutMs ?? 30_000;
    this.batchSize = o.batchSize ?? 1000;
    this.concurrency = o.concurrency ?? 4;
    this.attempts = o.attempts ?? 100;
    this.retryForMs = o.retryForMs ?? 60_000;
    this.sleep = o.sleep ?? realSleep;
    this.now = o.now ?? Date.now;
    this.c = rpc ?? hbaseRpc({
      zookeeperHosts: o.zkQuorum.split(',').map((h) => h.trim()).filter((h) => h !== ''),
      zookeeperRoot: o.zkRoot ?? '/hbase',
      rpcTimeout: this.rpcTimeoutMs,
      callTimeout: this.rpcTimeoutMs,
      tcpNoDelay: true,
    });
    // The library emits 'error' (a string) when ZooKeeper is unreachable at start; without a
    // listener Node would throw it. Operations meanwhile fail through their own timeouts.
    this.c.on('error', (err: unknown) => this.log.warn({ err: errorMessage(err) }, 'hbase client: ZooKeeper bootstrap problem'));
  }

  /**
   * Adapts one library callback call to a promise with a hard bound: some library paths (waiting
   * for ZooKeeper) have no timeout of their own. When `conn` is given and the call times out, the
   * connection is dropped: a server that died without closing its sockets (a stopped region server,
   * a host gone) would otherwise keep the cached connection, and every later call on it would wait
   * out the full timeout again. Dropping it also drops the region locations cached for the server.
   */
  private call<T>(what: string, fn: (cb: hbaseRpc.Callback<T>) => void, conn?: Connection, timeoutMs = this.rpcTimeoutMs + 1000): Promise<T> {
    if (this.closed) return Promise.reject(new StagelineError('HBASE_ERROR', `${what}: client closed`));
    const dropConnection = (): void => {
      if (conn === undefined) return;
      this.log.debug({ what }, 'hbase: call timed out, dropping its connection');
      try { conn.socket.destroy(); } catch { /* already gone */ }
    };
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        dropConnection();
        reject(new StagelineError('HBASE_UNAVAILABLE', `${what}: no answer within ${timeoutMs} ms (is HBase up?)`, { retryable: true }));
      }, timeoutMs);
      try {
        fn((err, res) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          if (err === 'timedout') dropConnection(); // the library's own call timer
          if (err) reject(classifyHBaseError(err, what));
          else resolve(res);
        });
      } catch (err) {
        settled = true;
        clearTimeout(timer);
        reject(classifyHBaseError(err, what));
      }
    });
  }

  private locate(table: string, key: Buffer, useCache: boolean): Promise<RegionLocation> {
    return this.call<RegionLocation>(`locate ${table}`, (cb) => this.c.locateRegion(table, key, useCache, cb));
  }

  private async connect(loc: RegionLocation): Promise<Connection> {
    if (loc.server === null) throw new StagelineError('HBASE_UNAVAILABLE', `region ${loc.name.toString('latin1')} is not assigned`, { retryable: true });
    const server = loc.server.toString();
    return this.call<Connection>(`connect ${server}`, (cb) => this.c.getRegionConnection(server, cb));
  }

  /** Retries region-moved/transport failures, relocating (bypassing the cache) after the first. */
  private withRetry<T>(what: string, fn: (useCache: boolean) => Promise<T>): Promise<T> {
    const budget = this.budget();
    return retry((attempt) => fn(attempt === 1), {
      attempts: this.attempts,
      ...RETRY_DELAYS,
      sleep: this.sleep,
      shouldRetry: (err) => !this.closed && err instanceof StagelineError && err.retryable && budget.left(),
      onRetry: (err, attempt, delayMs) => this.log.debug({ err: errorMessage(err), attempt, delayMs }, `hbase ${what}: retrying`),
    });
  }

  /** Time left for retries, counted from the start or from the last progress. */
  private budget(): { left(): boolean; progress(): void } {
    let since = this.now();
    return {
      left: () => this.now() - since < this.retryForMs,
      progress: () => { since = this.now(); },
    };
  }

  async get(table: string, key: Buffer): Promise<Row | undefined> {
    return this.withRetry(`get ${table}`, async (useCache) => {
      const loc = await this.locate(table, key, useCache);
      const conn = await this.connect(loc);
      const res = await this.call<hbaseRpc.GetResponsePb>(`get ${table}`, (cb) => conn.rpc.Get({ region: regionSpec(loc), gxt: { row: key, maxVersions: 1 } }, cb), conn);
      return toRow(res.result);
    });
  }

  async getMany(table: string, keys: Buffer[]): Promise<Array<Row | undefined>> {
    const items = keys.map((key, index): BatchItem<Row | undefined> => ({ key, index, get: true, action: { gxt: { row: key, maxVersions: 1 } } }));
    await this.batch(table, 'getMany', items, (r) => toRow(r));
    return items.map((i) => i.result);
  }

  async put(table: string, row: Row): Promise<void> {
    await this.withRetry(`put ${table}`, async (useCache) => {
      const loc = await this.locate(table, row.key, useCache);
      const conn = await this.connect(loc);
      await this.call<hbaseRpc.MutateResponsePb>(`put ${table}`, (cb) => conn.rpc.Mutate({ region: regionSpec(loc), mutation: putMutation(row) }, cb), conn);
    });
  }

  async putMany(table: string, rows: Row[]): Promise<void> {
    const items = rows.map((row, index): BatchItem<undefined> => ({ key: row.key, index, put: row, get action() { return { mutation: putMutation(row) }; } }));
    await this.batch(table, 'putMany', items, () => undefined);
  }

  /** Whole-row deletes of many keys as Multi RPCs (like putMany); deleting a missing row is a no-op. */
  async deleteMany(table: string, keys: Buffer[]): Promise<void> {
    const items = keys.map((key, index): BatchItem<undefined> => ({ key, index, del: true, action: { mutation: { row: key, mutateType: 'DELETE' } } }));
    await this.batch(table, 'deleteMany', items, () => undefined);
  }

  async deleteRow(table: string, key: Buffer): Promise<void> {
    await this.withRetry(`delete ${table}`, async (useCache) => {
      const loc = await this.locate(table, key, useCache);
      const conn = await this.connect(loc);
      // A DELETE without column values deletes the whole row (all families, all versions).
      await this.call<hbaseRpc.MutateResponsePb>(`delete ${table}`, (cb) => conn.rpc.Mutate({ region: regionSpec(loc), mutation: { row: key, mutateType: 'DELETE' } }, cb), conn);
    });
  }

  /**
   * Runs a list of Get/Mutation actions as Multi RPCs: grouped by regionserver and region, chunked
   * to `batchSize` actions, `concurrency` chunks in flight. Actions failing with a retryable
   * exception (region moved/split, server busy) are relocated and resent; idempotent puts and gets
   * make resending safe. Non-retryable per-action failures fail the whole call.
   */
  private async batch<R>(table: string, what: string, items: Array<BatchItem<R>>, parse: (r: ResultPb | null) => R): Promise<void> {
    let pending = items;
    const budget = this.budget();
    for (let attempt = 1; pending.length > 0; attempt++) {
      const useCache = attempt === 1;
      let lastRetryable: StagelineError | undefined;
      try {
        // Group by region. Unsorted keys hop between a few regions: look among the regions
        // already seen in this batch first; a library lookup costs a promise and a linear scan of
        // its location cache (and, on a resend, an hbase:meta read: once per region, not per key).
        type Group = { loc: RegionLocation; items: Array<BatchItem<R>> };
        const groups = new Map<string, Group>();
        const fresh = new Set<string>();
        let cur: Group | undefined;
        for (const it of pending) {
          if (cur === undefined || !contains(cur.loc, it.key)) {
            cur = undefined;
            for (const g of groups.values()) {
              if (contains(g.loc, it.key)) { cur = g; break; }
            }
            if (cur === undefined) {
              let loc = await this.locate(table, it.key, true);
              if (!useCache && !fresh.has(loc.name.toString('latin1'))) {
                loc = await this.locate(table, it.key, false);
                fresh.add(loc.name.toString('latin1'));
              }
              const name = loc.name.toString('latin1');
              cur = groups.get(name);
              if (cur === undefined) groups.set(name, (cur = { loc, items: [] }));
            }
          }
          cur.items.push(it);
        }
        // Chunks per server: several regions of one server share one Multi.
        const byServer = new Map<string, Array<{ loc: RegionLocation; items: Array<BatchItem<R>> }>>();
        for (const g of groups.values()) {
          const server = g.loc.server?.toString() ?? '';
          let list = byServer.get(server);
          if (list === undefined) byServer.set(server, (list = []));
          for (let i = 0; i < g.items.length; i += this.batchSize) list.push({ loc: g.loc, items: g.items.slice(i, i + this.batchSize) });
        }
        const chunks: Array<Array<{ loc: RegionLocation; items: Array<BatchItem<R>> }>> = [];
        for (const parts of byServer.values()) {
          let cur: Array<{ loc: RegionLocation; items: Array<BatchItem<R>> }> = [];
          let n = 0;
          for (const p of parts) {
            if (n + p.items.length > this.batchSize && cur.length > 0) { chunks.push(cur); cur = []; n = 0; }
            cur.push(p);
            n += p.items.length;
          }
          if (cur.length > 0) chunks.push(cur);
        }
        let next = 0;
        const worker = async (): Promise<void> => {
          while (next < chunks.length) {
            const chunk = chunks[next++];
            if (chunk === undefined) break;
            try {
              lastRetryable = (await this.multi(table, what, chunk, parse)) ?? lastRetryable;
            } catch (err) {
              const e = classifyHBaseError(err, `${what} ${table}`);
              if (!e.retryable) throw e;
              lastRetryable = e; // the whole chunk stays pending
            }
          }
        };
        await Promise.all(Array.from({ length: Math.min(this.concurrency, chunks.length) }, worker));
      } catch (err) {
        const e = classifyHBaseError(err, `${what} ${table}`);
        if (!e.retryable) throw e;
        lastRetryable = e;
      }
      const before = pending.length;
      pending = pending.filter((it) => !it.done);
      if (pending.length === 0) return;
      if (pending.length < before) budget.progress();
      if (attempt >= this.attempts || this.closed || !budget.left()) {
        throw lastRetryable ?? new StagelineError('HBASE_UNAVAILABLE', `${what} ${table}: ${pending.length} actions still failing`, { retryable: true });
      }
      const delayMs = backoffDelay(attempt, RETRY_DELAYS, Math.random);
      this.log.debug({ pending: pending.length, attempt, delayMs, err: lastRetryable?.message }, `hbase ${what}: resending failed actions`);
      await this.sleep(delayMs);
    }
  }

  /** One Multi RPC; marks succeeded items done and returns the last retryable failure, if any. */
  private async multi<R>(table: string, what: string, parts: Array<{ loc: RegionLocation; items: Array<BatchItem<R>> }>, parse: (r: ResultPb | null) => R): Promise<StagelineError | undefined> {
    const first = parts[0];
    if (first === undefined) return undefined;
    const conn = await this.connect(first.loc);
    // `index` is the position within its RegionAction: the server echoes it on each result.
    const allPuts = parts.every((p) => p.items.every((it) => it.put !== undefined));
    const allGets = !allPuts && parts.every((p) => p.items.every((it) => it.get === true));
    const allDeletes = !allPuts && !allGets && parts.every((p) => p.items.every((it) => it.del === true));
    const keysOf = (p: { loc: RegionLocation; items: Array<BatchItem<R>> }) => ({ regionName: p.loc.name, keys: p.items.map((it) => it.key) });
    const encoded = allPuts
      ? encodePutMultiRequest(parts.map((p) => ({ regionName: p.loc.name, rows: p.items.map((it) => it.put!) })))
      : allGets ? encodeGetMultiRequest(parts.map(keysOf)) : allDeletes ? encodeDeleteMultiRequest(parts.map(keysOf)) : undefined;
    const req = (encoded ? preEncodedMultiRequest(encoded) : undefined) ?? {
      regionAction: parts.map((p) => ({
        region: regionSpec(p.loc),
        action: p.items.map((it, i) => ({ index: i, ...it.action })),
      })),
    };
    const res = await this.call<hbaseRpc.MultiResponsePb>(`${what} ${table}`, (cb) => conn.rpc.Multi(req, cb), conn);
    let retryable: StagelineError | undefined;
    parts.forEach((p, ri) => {
      const rar = res.regionActionResult[ri];
      if (rar === undefined) return;
      if (rar.exception) {
        const e = classifyHBaseError(rar.exception, `${what} ${table}`);
        if (!e.retryable) throw e;
        retryable = e;
        return;
      }
      rar.resultOrException.forEach((roe, pos) => {
        const it = p.items[roe.index ?? pos];
        if (it === undefined) return;
        if (roe.exception) {
          const e = classifyHBaseError(roe.exception, `${what} ${table}`);
          if (!e.retryable) throw e;
          retryable = e;
          return;
        }
        it.result = parse(roe.result);
        it.done = true;
      });
    });
    return retryable;
  }

  scan(table: string, opts: ScanOptions): AsyncIterable<Row> {
    return rowsOf(this.scanBatches(table, opts));
  }

  scanBatches(table: string, opts: ScanOptions): AsyncIterable<Row[]> {
    return { [Symbol.asyncIterator]: () => this.scanRows(table, opts) };
  }

  /**
   * The scan loop. Invariants that keep it from skipping or repeating rows while regions split,
   * move or close and region servers restart (issue 14):
   *  - `from` is where the next scanner opens: the scan's start, then just past the last row handed
   *    to the consumer (exclusive resume), then the end key of a region read to its end.
   *  - A region counts as read to its end only when the server says so (moreResultsInRegion
   *    false, or moreResults false: scanner closed). A short batch is not the end: HBase 2 cuts
   *    batches by size and time (879 rows of 100 000 asked for, moreResultsInRegion true, seen on
   *    2.6). Without the flag (an old server), only an empty batch ends the region.
   *  - Any failure of an open or a `next` reopens at `from` in whatever region holds it then,
   *    located from hbase:meta (not the cache): the failed `next` is never re-sent, since the server
   *    may have advanced the scanner. Scanner-reset exceptions (isScannerReset) count as
   *    retryable although the server marks them doNotRetry.
   *  - The next batch is requested before the current one is handed out, and its outcome is held
   *    as a value: a consumer holding a row for longer than the server takes to fail the request
   *    (a split, a lease expiring) must not leave a rejected promise unobserved (that crashed the
   *    process).
   */
  private async *scanRows(table: string, opts: ScanOptions): AsyncGenerator<Row[]> {
    const caching = Math.max(1, opts.caching ?? 500);
    const stop = opts.stopRow ?? Buffer.alloc(0);
    let from = opts.startRow ?? Buffer.alloc(0);
    const budget = this.budget();
    let failures = 0;
    let useCache = true;

    for (;;) {
      if (stop.length > 0 && Buffer.compare(from, stop) >= 0) return;
      let loc: RegionLocation;
      let conn: Connection;
      try {
        loc = await this.locate(table, from, useCache);
        conn = await this.connect(loc);
      } catch (err) {
        await this.scanFailure(err, ++failures, budget, table);
        useCache = false;
        continue;
      }
      let scannerId: Buffer | null = null;
      let regionDone = false;
      let serverClosed = false;
      let failed: { err: unknown } | undefined;
      const regionName = loc.name;
      const fetch = (spec: ScanRequestSpec): Promise<Settled<DecodedScanResponse>> => settle(this.call<RawResponse>(`scan ${table}`, (cb) => {
        const req = rawScanRequest(encodeScanRequest(spec));
        if (req === undefined) throw new StagelineError('INTERNAL', 'hbase-rpc-client is not patched (npm ci applies patches/ with patch-package)');
        conn.rpc.Scan(req, cb as unknown as hbaseRpc.Callback<hbaseRpc.ScanResponsePb>);
      }, conn).then(rawBytes).then(decodeScanResponse));
      let inFlight: Promise<Settled<DecodedScanResponse>> | undefined = fetch({ regionName, numberOfRows: caching, scan: { startRow: from, stopRow: stop, ...(opts.families ? { families: opts.families } : {}) } });
      try {
        while (inFlight !== undefined) {
          const got = await inFlight;
          inFlight = undefined;
          if (!got.ok) {
            failed = { err: got.err };
            break;
          }
          const res = got.value;
          failures = 0;
          budget.progress();
          if (res.cellBlockCells > 0) throw new StagelineError('INTERNAL', 'scan response carries its cells in a cell block, which this client never asks for');
          if (res.scannerId) scannerId = res.scannerId;
          serverClosed = res.moreResults === false;
          regionDone = serverClosed || res.moreResultsInRegion === false || (res.moreResultsInRegion === undefined && res.results === 0);
          if (!regionDone && scannerId !== null) {
            // Ask for the next batch before handing out this one: the consumer's work overlaps
            // the round trip, and memory stays bounded to two batches.
            inFlight = fetch({ regionName, scannerId, numberOfRows: caching });
          }
          const last = res.rows[res.rows.length - 1];
          if (last !== undefined) {
            // `from` moves before the hand-over: a consumer that stops here resumes nothing twice.
            from = nextKey(last.key);
            yield res.rows;
          }
          if (regionDone) break;
        }
      } finally {
        // On early exit (consumer broke out, error) or normal end, release the server-side scanner
        // (after a failure it is most likely gone already; closing costs one ignored answer).
        if (scannerId !== null && !serverClosed) this.closeScanner(conn, loc, scannerId);
      }
      if (failed !== undefined) {
        await this.scanFailure(failed.err, ++failures, budget, table);
        useCache = false;
        continue;
      }
      if (loc.endKey.length === 0 || (stop.length > 0 && Buffer.compare(loc.endKey, stop) >= 0)) return;
      from = loc.endKey; // the next region starts where this one ends
      useCache = true;
    }
  }

  /** Waits before reopening, or throws when the failure is fatal or the budget is spent. */
  private async scanFailure(err: unknown, failures: number, budget: { left(): boolean }, table: string): Promise<void> {
    const e = classifyHBaseError(err, `scan ${table}`);
    const reopen = e.retryable || isScannerReset(err);
    if (!reopen || failures >= this.attempts || !budget.left() || this.closed) {
      // A scanner reset past the budget is as transient as any other: let the caller retry.
      throw reopen && !e.retryable ? new StagelineError('HBASE_UNAVAILABLE', e.message, { retryable: true, cause: err }) : e;
    }
    const delayMs = backoffDelay(failures, RETRY_DELAYS, Math.random);
    this.log.debug({ err: e.message, failures, delayMs }, 'hbase scan: reopening scanner after the last row returned');
    await this.sleep(delayMs);
  }

  private closeScanner(conn: Connection, loc: RegionLocation, scannerId: Buffer): void {
    if (this.closed) return;
    // Fire and forget: an already-closed or expired scanner answers with an exception we ignore.
    try {
      const req = rawScanRequest(encodeScanRequest({ regionName: loc.name, scannerId, numberOfRows: 0, close: true }));
      if (req !== undefined) conn.rpc.Scan(req, () => undefined);
    } catch { /* connection gone: the server expires the lease */ }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const conn of Object.values(this.c.servers)) {
      conn.removeAllListeners();
      conn.socket.destroy();
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 2000);
      try {
        this.c.zk.close(() => { clearTimeout(t); resolve(); });
      } catch {
        clearTimeout(t);
        resolve();
      }
    });
  }
}

export function createHBaseClient(o: HBaseClientOptions, log: Logger): HBaseClient {
  return new RpcHBaseClient(o, log);
}

/** The same client over a given library client: unit tests hand it one whose connections are fakes. */
export function createHBaseClientOver(rpc: RpcClient, o: Omit<HBaseClientOptions, 'zkQuorum'>, log: Logger): HBaseClient {
  return new RpcHBaseClient({ ...o, zkQuorum: '' }, log, rpc);
}
