/**
 * A fake HBase behind the real hbase-rpc-client: the library's Client (region location through
 * hbase:meta, its location cache, its prefetch scan of meta, its connection-close handling) runs
 * as it does against a server; only the connections are fakes, answering Get, Mutate, Multi and
 * Scan from an in-memory cluster of regions on region servers.
 *
 * The cluster behaves like HBase 2.6 where the tests need it (each behaviour was seen on the
 * private two-region-server HBase of test/cluster/regions.test.ts):
 *  - a region served elsewhere: NotServingRegionException; moved away from this server:
 *    RegionMovedException; being opened here: RegionOpeningException;
 *  - `next` on a scanner whose region closed (split, move, unassign) or whose lease expired:
 *    UnknownScannerException with doNotRetry true;
 *  - batches cut short by size while more rows remain (moreResultsInRegion true);
 *  - hbase:meta keeps offline split parents, and may lag behind a move.
 * Requests and responses go through the library's protobuf classes (encoded and decoded), so a
 * request the real RPC layer could not encode fails here too.
 */
import { EventEmitter } from 'node:events';
import hbaseRpc from 'hbase-rpc-client';
import rpcConnection from 'hbase-rpc-client/lib/connection.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- protobufjs 2 messages are untyped */
type Pb = any;
interface ProtoClass { new (o: object): { encode(): { toBuffer(): Buffer } }; decode(b: Buffer): Pb }
const proto = (rpcConnection as unknown as { proto: Record<string, ProtoClass> }).proto;
const bytes = (b: Pb): Buffer => (b === null || b === undefined ? Buffer.alloc(0) : Buffer.isBuffer(b) ? b : (b as { toBuffer(): Buffer }).toBuffer());
const roundTrip = (cls: string, o: object): Pb => proto[cls]!.decode(new proto[cls]!(o).encode().toBuffer());

export const META_SERVER = 'meta:1';
const META_REGION = Buffer.from('hbase:meta,,1');

export interface FakeRegion {
  id: number;
  encoded: string;
  table: string;
  start: Buffer;
  end: Buffer;
  /** where it is open (or opening); null when unassigned */
  server: string | null;
  state: 'open' | 'opening' | 'closed' | 'split';
  /** what hbase:meta says about its server (lags `server` when asked to) */
  metaServer: string | null;
  name: Buffer;
}

interface Scanner { id: number; region: FakeRegion; next: Buffer; stop: Buffer; meta: boolean; metaRows?: Array<{ row: Buffer; cells: Pb[] }> }

interface FakeServer {
  name: string;
  up: boolean;
  /** accepts requests and never answers (a host gone without closing its sockets) */
  hung: boolean;
  scanners: Map<number, Scanner>;
  /** region name (latin1) → where it went: answers RegionMovedException */
  moved: Map<string, string>;
  connections: Set<FakeConnection>;
}

export interface CallInfo {
  server: string;
  method: 'Get' | 'Mutate' | 'Multi' | 'Scan';
  /** for Scan: 'open', 'next' or 'close'; the region the request names */
  scan?: 'open' | 'next' | 'close';
  region?: FakeRegion;
  meta: boolean;
}

class FakeConnection extends EventEmitter {
  state = 'ready';
  private readonly pending = new Set<(err: Error) => void>();
  readonly socket: { destroy(): void };
  readonly rpc: Record<'Get' | 'Mutate' | 'Multi' | 'Scan', (req: object, cb: (err: unknown, res?: unknown) => void) => void>;
  closed = false;

  constructor(private readonly cluster: FakeCluster, readonly server: FakeServer) {
    super();
    this.socket = { destroy: () => this.close('destroyed') };
    const method = (m: CallInfo['method']) => (req: object, cb: (err: unknown, res?: unknown) => void): void => {
      if (this.closed) { setImmediate(() => cb(Object.assign(new Error('connection closed'), { code: 'ECONNRESET' }))); return; }
      const fail = (err: Error): void => cb(err);
      this.pending.add(fail);
      setImmediate(() => {
        if (!this.pending.has(fail)) return;
        if (this.server.hung) return; // never answered; the caller's timeout fires
        this.pending.delete(fail);
        let out: { err?: unknown; res?: unknown };
        try {
          out = { res: this.cluster.handle(this.server, m, req) };
        } catch (err) {
          out = { err };
        }
        if (this.server.hung) { this.pending.add(fail); return; } // it died while serving this call
        cb(out.err ?? null, out.res);
      });
    };
    this.rpc = { Get: method('Get'), Mutate: method('Mutate'), Multi: method('Multi'), Scan: method('Scan') };
  }

  /** Like the library's Connection._handleClose (patched): in-flight calls fail at once. */
  close(why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.server.connections.delete(this);
    for (const fail of [...this.pending]) fail(Object.assign(new Error(`${this.server.name} ${why}`), { code: 'ECONNRESET' }));
    this.pending.clear();
    this.emit('close');
  }
}

/** A server-side exception as the library's RPC layer hands it over (ExceptionResponse). */
export function serverException(cls: string, message: string, doNotRetry = false): { exceptionClassName: string; stackTrace: string; doNotRetry: boolean } {
  return { exceptionClassName: cls, stackTrace: `${cls}: ${message}\n\tat fake`, doNotRetry };
}

export class FakeCluster {
  readonly servers = new Map<string, FakeServer>();
  readonly regions: FakeRegion[] = [];
  /** table → rows sorted by key; value of family e, qualifier q */
  readonly data = new Map<string, Array<{ key: Buffer; value: Buffer }>>();
  /** exceptions thrown, by class name (the test asserts its event really happened) */
  readonly thrown = new Map<string, number>();
  /** hbase:meta lookups (reversed one-row scans) */
  metaLookups = 0;
  /** rows per Scan response at most, whatever numberOfRows asks (HBase cuts batches by size) */
  maxRowsPerResponse = Number.POSITIVE_INFINITY;
  /** false: answer like a pre-1.1 server, without more_results_in_region */
  sendMoreResultsInRegion = true;
  /** called before each data request is served: tests put regions in motion from here */
  beforeCall: Array<(c: CallInfo) => void> = [];
  private nextId = 1000;
  private nextScanner = 1;

  constructor(serverNames: string[]) {
    for (const n of [META_SERVER, ...serverNames]) this.servers.set(n, { name: n, up: true, hung: false, scanners: new Map(), moved: new Map(), connections: new Set() });
  }

  // ---- set-up ---------------------------------------------------------------------------------

  /** A table pre-split at `splits`, regions spread round robin over the servers, with `rows`. */
  createTable(table: string, splits: Buffer[], rows: Array<{ key: Buffer; value: Buffer }>): void {
    const bounds = [Buffer.alloc(0), ...splits, Buffer.alloc(0)];
    const rs = [...this.servers.keys()].filter((n) => n !== META_SERVER);
    for (let i = 0; i + 1 < bounds.length; i++) this.addRegion(table, bounds[i]!, bounds[i + 1]!, rs[i % rs.length]!);
    this.data.set(table, [...rows].sort((a, b) => Buffer.compare(a.key, b.key)));
  }

  private addRegion(table: string, start: Buffer, end: Buffer, server: string | null, state: FakeRegion['state'] = 'open'): FakeRegion {
    const id = this.nextId++;
    const encoded = id.toString(16).padStart(32, '0');
    const name = Buffer.concat([Buffer.from(`${table},`), start, Buffer.from(`,${id}.${encoded}.`)]);
    const r: FakeRegion = { id, encoded, table, start, end, server, state, metaServer: server, name };
    this.regions.push(r);
    return r;
  }

  /** The live region holding `key` of `table`. */
  regionOf(table: string, key: Buffer): FakeRegion {
    const r = this.regions.find((x) => x.table === table && x.state !== 'split' && contains(x, key));
    if (!r) throw new Error(`no region of ${table} holds ${key.toString('hex')}`);
    return r;
  }

  liveRegions(table: string): FakeRegion[] {
    return this.regions.filter((r) => r.table === table && r.state !== 'split').sort((a, b) => Buffer.compare(a.start, b.start));
  }

  // ---- region events ----------------------------------------------------------------------------

  /** Splits `r` at `at`: the parent goes offline (it stays in meta as a split parent), its scanners die. */
  split(r: FakeRegion, at: Buffer): [FakeRegion, FakeRegion] {
    if (!contains(r, at) || at.equals(r.start)) throw new Error('split point outside the region');
    this.closeScanners(r);
    r.state = 'split';
    const a = this.addRegion(r.table, r.start, at, r.server);
    const b = this.addRegion(r.table, at, r.end, r.server);
    return [a, b];
  }

  /**
   * Moves `r` to `to`. `opening`: it answers RegionOpeningException there until finishOpening.
   * `metaLag`: hbase:meta keeps naming the old server until publishMeta.
   */
  move(r: FakeRegion, to: string, o: { opening?: boolean; metaLag?: boolean } = {}): void {
    const from = r.server;
    this.closeScanners(r);
    if (from !== null) this.servers.get(from)!.moved.set(r.name.toString('latin1'), to);
    r.server = to;
    r.state = o.opening ? 'opening' : 'open';
    if (!o.metaLag) r.metaServer = to;
  }

  finishOpening(r: FakeRegion): void { r.state = 'open'; }
  publishMeta(r: FakeRegion): void { r.metaServer = r.server; }

  /** Closes `r`; meta still names its last server (as HBase 2.6 did for an unassigned region). */
  unassign(r: FakeRegion): void {
    this.closeScanners(r);
    r.server = null;
    r.state = 'closed';
  }

  assign(r: FakeRegion, to: string): void {
    r.server = to;
    r.state = 'open';
    r.metaServer = to;
  }

  /** The server dies: connections reset, connects refused, its regions closed (meta still names it). */
  stopServer(name: string): void {
    const s = this.servers.get(name)!;
    s.up = false;
    s.scanners.clear();
    for (const c of [...s.connections]) c.close('connection reset by peer');
    for (const r of this.regions) if (r.server === name && r.state !== 'split') { r.server = null; r.state = 'closed'; }
  }

  startServer(name: string): void {
    const s = this.servers.get(name)!;
    s.up = true;
    s.hung = false;
    s.moved.clear();
  }

  /** Regions left without a server are opened on `to` (the master's server-crash procedure). */
  reassignOrphans(to: string): void {
    for (const r of this.regions) if (r.server === null && r.state === 'closed') this.assign(r, to);
  }

  hang(name: string): void { this.servers.get(name)!.hung = true; }

  /** Every open scanner's lease runs out. */
  expireLeases(): void {
    for (const s of this.servers.values()) s.scanners.clear();
  }

  private closeScanners(r: FakeRegion): void {
    for (const s of this.servers.values()) for (const [id, sc] of s.scanners) if (sc.region === r) s.scanners.delete(id);
  }

  // ---- the library client over this cluster -------------------------------------------------------

  /**
   * A real hbase-rpc-client Client whose ZooKeeper bootstrap is skipped (meta is on META_SERVER)
   * and whose connections are this cluster's.
   */
  async client(): Promise<hbaseRpc.Client> {
    const c = hbaseRpc({ zookeeperHosts: ['127.0.0.1:9'], zookeeperRoot: '/hbase', rpcTimeout: 1000, callTimeout: 1000 }) as hbaseRpc.Client & Record<string, any>;
    c.on('error', () => undefined); // the skipped ZooKeeper bootstrap reports itself once
    // The ZooKeeper client can be closed once it has a socket (a tick after construction).
    await new Promise((r) => setImmediate(r));
    c.zk.close();
    c.zk = { close: (cb?: () => void) => { cb?.(); } };
    c.zkStart = 'done';
    c.rootServer = { hostName: 'meta', port: 1 };
    c.getRegionConnection = (host: string, port: unknown, cb?: (err: unknown, conn?: unknown) => void): void => {
      const done = typeof port === 'function' ? port as (err: unknown, conn?: unknown) => void : cb!;
      const name = typeof port === 'function' ? host : `${host}:${String(port)}`;
      const cached = c.servers[name] as FakeConnection | undefined;
      if (cached && !cached.closed) { done(null, cached); return; }
      const s = this.servers.get(name);
      if (!s || !s.up) {
        setImmediate(() => done(Object.assign(new Error(`connect ECONNREFUSED ${name}`), { code: 'ECONNREFUSED' })));
        return;
      }
      const conn = new FakeConnection(this, s);
      s.connections.add(conn);
      (c.servers as Record<string, unknown>)[name] = conn;
      // What the library does on a ready connection's close: forget it and its cached locations.
      conn.once('close', () => (c._handleConnectionClose as (n: string, s: unknown) => void)(name, conn));
      done(null, conn);
    };
    return c;
  }

  // ---- the server side ------------------------------------------------------------------------------

  private throwing(cls: string, message: string, doNotRetry = false): never {
    this.thrown.set(cls.split('.').pop()!, (this.thrown.get(cls.split('.').pop()!) ?? 0) + 1);
     
    throw serverException(cls, message, doNotRetry);
  }

  /** The region a request names, checked the way a region server checks it. */
  private servedRegion(server: FakeServer, regionName: Buffer): FakeRegion {
    const r = this.regions.find((x) => x.name.equals(regionName));
    const label = regionName.toString('latin1');
    const moved = server.moved.get(label);
    if (r && r.server === server.name && r.state === 'opening') this.throwing('org.apache.hadoop.hbase.exceptions.RegionOpeningException', `Region ${label} is opening on ${server.name}`);
    if (r && r.server === server.name && r.state === 'open') return r;
    if (moved !== undefined) this.throwing('org.apache.hadoop.hbase.exceptions.RegionMovedException', `Region moved to: ${moved}`);
    return this.throwing('org.apache.hadoop.hbase.NotServingRegionException', `${label} is not online on ${server.name}`);
  }

  handle(server: FakeServer, method: CallInfo['method'], raw: object): unknown {
    if (method === 'Scan') {
      // The adapter hands over pre-encoded requests and wants the response's bytes (the patch's
      // stagelineRawResponse); the library's own meta lookups send messages and get messages.
      const pre = raw as { stagelineRawResponse?: boolean; toBuffer?: () => Buffer };
      if (pre.stagelineRawResponse !== true) return this.scan(server, roundTrip('ScanRequest', raw));
      const res = this.scan(server, proto['ScanRequest']!.decode(pre.toBuffer!())) as { encode(): { toBuffer(): Buffer } };
      // As the patched Connection answers: an empty message with the bytes beside it.
      return { stagelineBytes: res.encode().toBuffer() };
    }
    if (method === 'Get') {
      const req = roundTrip('GetRequest', raw);
      this.hookFor(server, method, bytes(req.region.value));
      const r = this.servedRegion(server, bytes(req.region.value));
      const row = this.find(r.table, bytes(req.gxt.row));
      return roundTrip('GetResponse', row ? { result: resultOf(row) } : {});
    }
    if (method === 'Mutate') {
      const req = roundTrip('MutateRequest', raw);
      this.hookFor(server, method, bytes(req.region.value));
      const r = this.servedRegion(server, bytes(req.region.value));
      this.apply(r, req.mutation);
      return roundTrip('MutateResponse', { processed: true });
    }
    // Multi: the adapter may hand over a pre-encoded request (an object with only toBuffer()).
    const req = Object.prototype.hasOwnProperty.call(raw, 'toBuffer')
      ? proto.MultiRequest!.decode((raw as { toBuffer(): Buffer }).toBuffer())
      : roundTrip('MultiRequest', raw);
    this.hook({ server: server.name, method, meta: false });
    const regionActionResult = (req.regionAction as Pb[]).map((ra) => {
      let r: FakeRegion;
      try {
        r = this.servedRegion(server, bytes(ra.region.value));
      } catch (e) {
        const ex = e as { exceptionClassName: string; stackTrace: string };
        return { exception: { name: ex.exceptionClassName, value: Buffer.from(ex.stackTrace) } };
      }
      const resultOrException = (ra.action as Pb[]).map((a) => {
        if (a.mutation) { this.apply(r, a.mutation); return { index: a.index, result: {} }; }
        const row = this.find(r.table, bytes(a.gxt.row));
        return { index: a.index, result: row ? resultOf(row) : {} };
      });
      return { resultOrException };
    });
    return roundTrip('MultiResponse', { regionActionResult });
  }

  private hook(c: CallInfo): void {
    for (const h of [...this.beforeCall]) h(c);
  }

  private hookFor(server: FakeServer, method: CallInfo['method'], regionName: Buffer): void {
    const region = this.regions.find((x) => x.name.equals(regionName));
    this.hook({ server: server.name, method, meta: false, ...(region ? { region } : {}) });
  }

  private find(table: string, key: Buffer): { key: Buffer; value: Buffer } | undefined {
    return this.data.get(table)?.find((x) => x.key.equals(key));
  }

  private apply(r: FakeRegion, m: Pb): void {
    const key = bytes(m.row);
    if (!contains(r, key)) this.throwing('org.apache.hadoop.hbase.regionserver.WrongRegionException', `row ${key.toString('hex')} is not in ${r.name.toString('latin1')}`, true);
    const rows = this.data.get(r.table)!;
    const i = rows.findIndex((x) => Buffer.compare(x.key, key) >= 0);
    if (m.mutateType === 'DELETE' || m.mutateType === 3) {
      if (i >= 0 && rows[i]!.key.equals(key)) rows.splice(i, 1);
      return;
    }
    const value = bytes(m.columnValue?.[0]?.qualifierValue?.[0]?.value);
    if (i >= 0 && rows[i]!.key.equals(key)) rows[i] = { key, value };
    else rows.splice(i < 0 ? rows.length : i, 0, { key, value });
  }

  private scan(server: FakeServer, req: Pb): Pb {
    const regionName = bytes(req.region?.value);
    const meta = regionName.equals(META_REGION);
    if (meta) return this.metaScan(server, req);
    const rows = Number(req.numberOfRows ?? 0);
    if (req.scannerId !== null && req.scannerId !== undefined) {
      const id = Number(req.scannerId.toString());
      const region = this.regions.find((x) => x.name.equals(regionName));
      this.hook({ server: server.name, method: 'Scan', scan: req.closeScanner ? 'close' : 'next', meta: false, ...(region ? { region } : {}) });
      const sc = server.scanners.get(id);
      if (req.closeScanner) {
        server.scanners.delete(id);
        return roundTrip('ScanResponse', { moreResults: false });
      }
      if (!sc) {
        this.throwing('org.apache.hadoop.hbase.UnknownScannerException', `Unknown scanner '${id}'. This can happen due to any of the following reasons: a) Scanner id given is wrong, b) Scanner lease expired because of long wait between consecutive client checkins, c) Server may be closing down`, true);
      }
      return this.batch(server, sc, rows);
    }
    const r0 = this.regions.find((x) => x.name.equals(regionName));
    this.hook({ server: server.name, method: 'Scan', scan: 'open', meta: false, ...(r0 ? { region: r0 } : {}) });
    const r = this.servedRegion(server, regionName);
    const startRow = bytes(req.scan.startRow);
    const stopRow = bytes(req.scan.stopRow);
    const start = Buffer.compare(startRow, r.start) > 0 ? startRow : r.start;
    const stop = r.end.length === 0 ? stopRow : stopRow.length === 0 || Buffer.compare(r.end, stopRow) < 0 ? r.end : stopRow;
    const sc: Scanner = { id: this.nextScanner++, region: r, next: start, stop, meta: false };
    server.scanners.set(sc.id, sc);
    return this.batch(server, sc, rows);
  }

  private batch(server: FakeServer, sc: Scanner, asked: number): Pb {
    const all = this.data.get(sc.region.table)!;
    const n = Math.min(asked, this.maxRowsPerResponse);
    const out: Array<{ key: Buffer; value: Buffer }> = [];
    let i = all.findIndex((x) => Buffer.compare(x.key, sc.next) >= 0);
    if (i < 0) i = all.length;
    for (; i < all.length && out.length < n; i++) {
      if (sc.stop.length > 0 && Buffer.compare(all[i]!.key, sc.stop) >= 0) break;
      out.push(all[i]!);
    }
    const last = out[out.length - 1];
    if (last) sc.next = Buffer.concat([last.key, Buffer.from([0])]);
    const more = i < all.length && (sc.stop.length === 0 || Buffer.compare(all[i]!.key, sc.stop) < 0);
    if (!more) server.scanners.delete(sc.id);
    return roundTrip('ScanResponse', {
      scannerId: sc.id,
      results: out.map(resultOf),
      // Like RSRpcServices: moreResults stays true at a region's end (the client moves on).
      moreResults: true,
      ttl: 60_000,
      ...(this.sendMoreResultsInRegion ? { moreResultsInRegion: more } : {}),
    });
  }

  /** hbase:meta: the library's reversed one-row lookups and its forward prefetch scans. */
  private metaScan(server: FakeServer, req: Pb): Pb {
    const metaRows = this.regions
      .map((r) => ({ row: r.name, cells: metaCells(r) }))
      .sort((a, b) => compareMetaRows(a.row, b.row));
    if (req.scannerId !== null && req.scannerId !== undefined) {
      const id = Number(req.scannerId.toString());
      const sc = server.scanners.get(id);
      if (req.closeScanner || !sc) { server.scanners.delete(id); return roundTrip('ScanResponse', { moreResults: false, ttl: 60_000 }); }
      const rest = sc.metaRows!.splice(0, Number(req.numberOfRows ?? 100));
      if (sc.metaRows!.length === 0) server.scanners.delete(id);
      return roundTrip('ScanResponse', { scannerId: id, results: rest.map((m) => ({ cell: m.cells })), moreResults: rest.length > 0, moreResultsInRegion: sc.metaRows!.length > 0, ttl: 60_000 });
    }
    const startRow = bytes(req.scan.startRow);
    if (req.scan.reversed) {
      this.metaLookups++;
      const found = [...metaRows].reverse().find((m) => compareMetaRows(m.row, startRow) <= 0);
      return roundTrip('ScanResponse', { results: found ? [{ cell: found.cells }] : [], moreResults: false, ttl: 60_000 });
    }
    const stopRow = bytes(req.scan.stopRow);
    const inRange = metaRows.filter((m) => compareMetaRows(m.row, startRow) >= 0 && (stopRow.length === 0 || compareMetaRows(m.row, stopRow) < 0));
    const n = Number(req.numberOfRows ?? 100);
    const sc: Scanner = { id: this.nextScanner++, region: this.regions[0]!, next: startRow, stop: stopRow, meta: true, metaRows: inRange.slice(n) };
    server.scanners.set(sc.id, sc);
    return roundTrip('ScanResponse', { scannerId: sc.id, results: inRange.slice(0, n).map((m) => ({ cell: m.cells })), moreResults: true, moreResultsInRegion: inRange.length > n, ttl: 60_000 });
  }
}

/**
 * hbase:meta's row order (HBase's MetaCellComparator): table, then start key, then region id, each
 * compared as a field. Plain byte order would put `t,c\x00…,99…` before `t,c,<id>` (0x00 < ','),
 * and a lookup for a row starting "c\x00" would find the region before the one holding it.
 */
export function compareMetaRows(a: Buffer, b: Buffer): number {
  const parts = (r: Buffer): [Buffer, Buffer, Buffer] => {
    const first = r.indexOf(0x2c);
    const last = r.lastIndexOf(0x2c);
    if (first < 0) return [r, Buffer.alloc(0), Buffer.alloc(0)];
    return [r.subarray(0, first), r.subarray(first + 1, last > first ? last : r.length), last > first ? r.subarray(last + 1) : Buffer.alloc(0)];
  };
  const pa = parts(a);
  const pb = parts(b);
  for (let i = 0; i < 3; i++) {
    const c = Buffer.compare(pa[i]!, pb[i]!);
    if (c !== 0) return c;
  }
  return 0;
}

function contains(r: { start: Buffer; end: Buffer }, key: Buffer): boolean {
  return Buffer.compare(key, r.start) >= 0 && (r.end.length === 0 || Buffer.compare(key, r.end) < 0);
}

function resultOf(row: { key: Buffer; value: Buffer }): object {
  return { cell: [{ row: row.key, family: Buffer.from('e'), qualifier: Buffer.from('q'), value: row.value, timestamp: 1 }] };
}

function metaCells(r: FakeRegion): object[] {
  const [ns, qualifier] = r.table.includes(':') ? r.table.split(':') : ['default', r.table];
  const info = new proto.RegionInfo!({
    regionId: r.id, tableName: { namespace: Buffer.from(ns!), qualifier: Buffer.from(qualifier!) },
    startKey: r.start, endKey: r.end, offline: r.state === 'split', split: r.state === 'split',
  }).encode().toBuffer();
  const cell = (q: string, value: Buffer): object => ({ row: r.name, family: Buffer.from('info'), qualifier: Buffer.from(q), value, timestamp: r.id });
  return [
    cell('regioninfo', Buffer.concat([Buffer.from('PBUF'), info])),
    ...(r.metaServer !== null ? [cell('server', Buffer.from(r.metaServer))] : []),
  ];
}
