/**
 * The HBase client (adapter + patched hbase-rpc-client) while regions split, move, close and
 * region servers die, against the fake connection layer of ./hbase-fake.ts. Each case puts one
 * region event in the middle of an operation and checks the outcome exactly: a scan returns every
 * row of its range once, in order (a skipped or repeated row is a wrong number downstream, with no
 * error); writes land once; reads align with their keys. Each case also checks that its event
 * really happened (the exception the server answered with), so none can pass vacuously.
 */
import { describe, expect, it } from 'vitest';
import { createHBaseClientOver, type HBaseClient, type ScanOptions } from '../../../src/adapters/hbase.js';
import { StagelineError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log.js';
import { FakeCluster, serverException, type CallInfo } from './hbase-fake.js';

const T = 'ns:t';
const RS1 = 'rs1:16020';
const RS2 = 'rs2:16020';
const SPLITS = [Buffer.from('c'), Buffer.from('f')];

/** Binary keys like the raw table's: a letter, 0x00, a u16 and a suffix that sorts oddly. */
function key(i: number): Buffer {
  const b = Buffer.alloc(5);
  b.write('abcdefgh'[i % 8]!, 0);
  b[1] = 0;
  b.writeUInt16BE(i, 2);
  b[4] = i % 3 === 0 ? 0 : 0xff;
  return b;
}

const ROWS = Array.from({ length: 400 }, (_, i) => ({ key: key(i), value: Buffer.from(`v${i}`) }));
const hex = (b: Buffer): string => b.toString('hex');
const sortedKeys = (keys: Buffer[]): string[] => [...keys].sort(Buffer.compare).map(hex);

interface Setup { cluster: FakeCluster; client: HBaseClient; clock: { now: number }; onSleep: Array<() => void> }

/** A cluster with the table on two servers and a client whose backoff sleeps advance a fake clock. */
async function setup(o: { rpcTimeoutMs?: number; retryForMs?: number } = {}): Promise<Setup> {
  const cluster = new FakeCluster([RS1, RS2]);
  cluster.createTable(T, SPLITS, ROWS);
  const clock = { now: 0 };
  // Hooks run (and are removed) at the client's next backoff sleep: "while the client waits"
  // without a real timer, which raced the fake clock on a busy machine.
  const onSleep: Array<() => void> = [];
  const client = createHBaseClientOver(await cluster.client(), {
    rpcTimeoutMs: o.rpcTimeoutMs ?? 500,
    ...(o.retryForMs !== undefined ? { retryForMs: o.retryForMs } : {}),
    now: () => clock.now,
    sleep: async (ms) => { clock.now += ms; for (const f of onSleep.splice(0)) f(); await new Promise((r) => setImmediate(r)); },
  }, silentLogger);
  return { cluster, client, clock, onSleep };
}

/** Runs `action` once, before the first call `when` matches. */
function once(cluster: FakeCluster, when: (c: CallInfo) => boolean, action: (c: CallInfo) => void): { fired: () => boolean } {
  let fired = false;
  const hook = (c: CallInfo): void => {
    if (fired || !when(c)) return;
    fired = true;
    cluster.beforeCall.splice(cluster.beforeCall.indexOf(hook), 1);
    action(c);
  };
  cluster.beforeCall.push(hook);
  return { fired: () => fired };
}

/** Every key the scan returned, in order; `onRow` may hold the consumer (await) at a row. */
async function scanKeys(client: HBaseClient, opts: ScanOptions = {}, onRow?: (n: number) => Promise<void> | void): Promise<string[]> {
  const out: string[] = [];
  for await (const row of client.scan(T, { caching: 20, ...opts })) {
    out.push(hex(row.key));
    await onRow?.(out.length);
  }
  return out;
}

const ALL = sortedKeys(ROWS.map((r) => r.key));
const isNext = (c: CallInfo): boolean => c.method === 'Scan' && c.scan === 'next';
const hold = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('hbase client: a scan while regions move', () => {
  it('baseline: every row once, in order, across three regions on two servers', async () => {
    const { client } = await setup();
    expect(await scanKeys(client)).toEqual(ALL);
    await client.close();
  });

  it('split of the region being scanned: UnknownScannerException (doNotRetry) → reopens just past the last row', async () => {
    const { cluster, client } = await setup();
    const ev = once(cluster, (c) => isNext(c) && c.region?.start.equals(Buffer.from('c')) === true, (c) => { cluster.split(c.region!, Buffer.from('d')); });
    expect(await scanKeys(client)).toEqual(ALL);
    expect(ev.fired()).toBe(true);
    expect(cluster.thrown.get('UnknownScannerException')).toBeGreaterThan(0);
    await client.close();
  });

  it('split of a region ahead of the scan (stale cached parent): NotServingRegionException on open → located again', async () => {
    const { cluster, client } = await setup();
    // While the first region is read, the third splits: the cache (prefetched meta) still holds the parent.
    const ev = once(cluster, (c) => isNext(c) && c.region?.start.length === 0, () => { cluster.split(cluster.regionOf(T, Buffer.from('g')), Buffer.from('g')); });
    expect(await scanKeys(client)).toEqual(ALL);
    expect(ev.fired()).toBe(true);
    expect(cluster.thrown.get('NotServingRegionException')).toBeGreaterThan(0);
    await client.close();
  });

  it('move of the region being scanned: scanner gone, then RegionMovedException from the old server → new location', async () => {
    const { cluster, client } = await setup();
    const ev = once(cluster, (c) => isNext(c) && c.region !== undefined, (c) => { cluster.move(c.region!, c.server === RS1 ? RS2 : RS1); });
    expect(await scanKeys(client)).toEqual(ALL);
    expect(ev.fired()).toBe(true);
    expect(cluster.thrown.get('UnknownScannerException')).toBeGreaterThan(0);
    await client.close();
  });

  it('RegionMovedException on a stale cached location, then RegionOpeningException until the region opens', async () => {
    const { cluster, client } = await setup();
    const second = cluster.regionOf(T, Buffer.from('d'));
    let openings = 0;
    once(cluster, (c) => isNext(c) && c.region?.start.length === 0, () => { cluster.move(second, RS1, { opening: true }); });
    cluster.beforeCall.push((c) => {
      if (c.region === second && c.scan === 'open' && second.state === 'opening' && c.server === RS1 && ++openings === 3) cluster.finishOpening(second);
    });
    expect(await scanKeys(client)).toEqual(ALL);
    expect(cluster.thrown.get('RegionMovedException')).toBeGreaterThan(0);
    expect(cluster.thrown.get('RegionOpeningException')).toBe(2);
    await client.close();
  });

  it('stale hbase:meta (it still names the old server after a move): retried until meta catches up', async () => {
    const { cluster, client } = await setup();
    const second = cluster.regionOf(T, Buffer.from('d'));
    once(cluster, (c) => isNext(c) && c.region?.start.length === 0, () => {
      cluster.move(second, second.server === RS1 ? RS2 : RS1, { metaLag: true });
      const lookups = cluster.metaLookups;
      cluster.beforeCall.push(() => { if (cluster.metaLookups >= lookups + 3) cluster.publishMeta(second); });
    });
    expect(await scanKeys(client)).toEqual(ALL);
    expect(cluster.thrown.get('RegionMovedException')).toBeGreaterThanOrEqual(2);
    await client.close();
  });

  it('expired scanner lease while the consumer holds a row: UnknownScannerException → reopened, nothing skipped or repeated', async () => {
    const { cluster, client } = await setup();
    const keys = await scanKeys(client, {}, async (n) => { if (n === 30) { await hold(5); cluster.expireLeases(); } });
    expect(keys).toEqual(ALL);
    expect(cluster.thrown.get('UnknownScannerException')).toBeGreaterThan(0);
    await client.close();
  });

  it('the prefetched batch fails while the consumer still holds a row: no unhandled rejection, the scan goes on', async () => {
    const { cluster, client } = await setup();
    // The next batch is requested before the current one is handed out; it fails (split) while the
    // consumer sits on row 5 for 30 ms. An unobserved rejection here used to end the process.
    const ev = once(cluster, (c) => isNext(c) && c.region !== undefined, (c) => { cluster.split(c.region!, Buffer.concat([c.region!.start, Buffer.from([0, 0, 200])])); });
    const keys = await scanKeys(client, {}, async (n) => { if (n === 5) await hold(30); });
    expect(keys).toEqual(ALL);
    expect(ev.fired()).toBe(true);
    await client.close();
  });

  it('unassigned region: NotServingRegionException until it is assigned again', async () => {
    const { cluster, client } = await setup();
    const second = cluster.regionOf(T, Buffer.from('d'));
    let refusals = 0;
    once(cluster, (c) => isNext(c) && c.region?.start.length === 0, () => { cluster.unassign(second); });
    cluster.beforeCall.push((c) => { if (c.region === second && c.scan === 'open' && second.state === 'closed' && ++refusals === 4) cluster.assign(second, RS2); });
    expect(await scanKeys(client)).toEqual(ALL);
    expect(cluster.thrown.get('NotServingRegionException')).toBeGreaterThanOrEqual(3);
    await client.close();
  });

  it('region server stops mid-scan, its regions reopen on the other one, it comes back', async () => {
    const { cluster, client, onSleep } = await setup();
    const ev = once(cluster, (c) => isNext(c) && c.region?.start.equals(Buffer.from('c')) === true, (c) => {
      const dead = c.server;
      cluster.stopServer(dead);
      // The client's first retry finds the server refusing; while it backs off the regions reopen
      // on the other server and the stopped one comes back.
      onSleep.push(() => onSleep.push(() => { cluster.reassignOrphans(dead === RS1 ? RS2 : RS1); cluster.startServer(dead); }));
    });
    expect(await scanKeys(client)).toEqual(ALL);
    expect(ev.fired()).toBe(true);
    await client.close();
  });

  it('region server gone without closing its sockets: the call times out, the connection is dropped, the region is found elsewhere', async () => {
    const { cluster, client } = await setup({ rpcTimeoutMs: 50 });
    let hungConn: unknown;
    const ev = once(cluster, (c) => isNext(c) && c.region?.start.equals(Buffer.from('c')) === true, (c) => {
      const s = cluster.servers.get(c.server)!;
      hungConn = [...s.connections][0];
      cluster.hang(c.server);
      cluster.move(c.region!, c.server === RS1 ? RS2 : RS1);
    });
    expect(await scanKeys(client)).toEqual(ALL);
    expect(ev.fired()).toBe(true);
    expect((hungConn as { closed: boolean }).closed).toBe(true);
    await client.close();
  });

  it('batches cut short by size are not the end of a region (moreResultsInRegion true)', async () => {
    const { cluster, client } = await setup();
    cluster.maxRowsPerResponse = 7; // asked 20, answered 7
    expect(await scanKeys(client)).toEqual(ALL);
    await client.close();
  });

  it('a server that does not send moreResultsInRegion: short batches still read on, an empty one ends the region', async () => {
    const { cluster, client } = await setup();
    cluster.sendMoreResultsInRegion = false;
    cluster.maxRowsPerResponse = 7;
    expect(await scanKeys(client)).toEqual(ALL);
    await client.close();
  });

  it('a bounded range (start, stop) under a split and a move returns exactly the range', async () => {
    const { cluster, client } = await setup();
    const start = key(9);
    const stop = Buffer.from('g');
    once(cluster, (c) => isNext(c) && c.region !== undefined, (c) => { cluster.split(c.region!, Buffer.from('b')); });
    once(cluster, (c) => c.scan === 'open' && c.region?.start.equals(Buffer.from('c')) === true, (c) => { cluster.move(c.region!, c.server === RS1 ? RS2 : RS1); });
    const want = ALL.filter((k) => k >= hex(start) && k < hex(stop));
    expect(await scanKeys(client, { startRow: start, stopRow: stop })).toEqual(want);
    await client.close();
  });

  it('every region of the table splits and moves during one scan', async () => {
    const { cluster, client } = await setup();
    let n = 0;
    cluster.beforeCall.push((c) => {
      if (!isNext(c) || c.region === undefined || ++n % 3 !== 0) return;
      for (const r of cluster.liveRegions(T)) {
        const mid = Buffer.concat([r.start.length ? r.start : Buffer.from('a'), Buffer.from([0, 0, n])]);
        if (Buffer.compare(mid, r.start) > 0 && (r.end.length === 0 || Buffer.compare(mid, r.end) < 0) && cluster.liveRegions(T).length < 40) {
          const [a, b] = cluster.split(r, mid);
          cluster.move(a, a.server === RS1 ? RS2 : RS1);
          void b;
        }
      }
    });
    expect(await scanKeys(client)).toEqual(ALL);
    expect(cluster.liveRegions(T).length).toBeGreaterThan(10);
    await client.close();
  });

  it('a doNotRetry exception that is not a scanner reset fails the scan (not retried forever)', async () => {
    const { cluster, client } = await setup();
    once(cluster, (c) => isNext(c), () => {
       
      throw serverException('org.apache.hadoop.hbase.DoNotRetryIOException', 'corrupt HFile', true);
    });
    const err = await scanKeys(client).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(StagelineError);
    expect((err as StagelineError).retryable).toBe(false);
    expect((err as StagelineError).message).toMatch(/DoNotRetryIOException: corrupt HFile/);
    await client.close();
  });

  it('a region that never comes back: the scan gives up after the retry budget with a retryable error', async () => {
    const { cluster, client, clock } = await setup({ retryForMs: 20_000 });
    once(cluster, (c) => isNext(c) && c.region?.start.length === 0, () => { cluster.unassign(cluster.regionOf(T, Buffer.from('d'))); });
    const err = await scanKeys(client).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(StagelineError);
    expect((err as StagelineError).retryable).toBe(true);
    expect(clock.now).toBeGreaterThanOrEqual(20_000);
    expect(clock.now).toBeLessThan(30_000);
    await client.close();
  });
});

describe('hbase client: writes and reads while regions move', () => {
  it('putMany across a split and a move mid-batch: every row lands once, in the right region', async () => {
    const { cluster, client } = await setup();
    const writes = Array.from({ length: 300 }, (_, i) => ({ key: key(i * 7 + 3), cells: [{ family: 'e', qualifier: Buffer.from('q'), value: Buffer.from(`w${i}`) }] }));
    once(cluster, (c) => c.method === 'Multi', () => {
      cluster.split(cluster.regionOf(T, Buffer.from('d')), Buffer.from('e'));
      const first = cluster.regionOf(T, Buffer.from('a'));
      cluster.move(first, first.server === RS1 ? RS2 : RS1);
    });
    await client.putMany(T, writes);
    const stored = new Map(cluster.data.get(T)!.map((r) => [hex(r.key), r.value.toString()]));
    for (const [i, w] of writes.entries()) expect(stored.get(hex(w.key))).toBe(`w${i}`);
    const distinct = new Set(cluster.data.get(T)!.map((r) => hex(r.key)));
    expect(distinct.size).toBe(cluster.data.get(T)!.length);
    expect((cluster.thrown.get('NotServingRegionException') ?? 0) + (cluster.thrown.get('RegionMovedException') ?? 0)).toBeGreaterThan(0);
    await client.close();
  });

  it('getMany across a move: results align with the keys asked', async () => {
    const { cluster, client } = await setup();
    const keys = [key(5), Buffer.from('zz-missing'), key(200), key(17), key(399)];
    once(cluster, (c) => c.method === 'Multi', () => {
      for (const r of cluster.liveRegions(T)) cluster.move(r, r.server === RS1 ? RS2 : RS1);
    });
    const got = await client.getMany(T, keys);
    expect(got.map((r) => (r === undefined ? undefined : r.cells[0]!.value.toString()))).toEqual(['v5', undefined, 'v200', 'v17', 'v399']);
    expect(cluster.thrown.get('RegionMovedException')).toBeGreaterThan(0);
    await client.close();
  });

  it('get and put while the region is opening elsewhere: retried until it serves', async () => {
    const { cluster, client } = await setup();
    const r = cluster.regionOf(T, key(10));
    await client.get(T, key(10)); // caches the location
    cluster.move(r, r.server === RS1 ? RS2 : RS1, { opening: true });
    let opens = 0;
    cluster.beforeCall.push((c) => { if (c.region === r && r.state === 'opening' && ++opens === 3) cluster.finishOpening(r); });
    expect((await client.get(T, key(10)))?.cells[0]?.value.toString()).toBe('v10');
    await client.put(T, { key: key(10), cells: [{ family: 'e', qualifier: Buffer.from('q'), value: Buffer.from('new') }] });
    expect((await client.get(T, key(10)))?.cells[0]?.value.toString()).toBe('new');
    expect(cluster.thrown.get('RegionMovedException')).toBeGreaterThan(0);
    expect(cluster.thrown.get('RegionOpeningException')).toBeGreaterThan(0);
    await client.close();
  });
});
