/**
 * The HBase adapter (patched hbase-rpc-client) and the admin tool against the real standalone
 * HBase 2.6 of the local stack. startHBase is idempotent (about 0.1 s when HBase is up), so this
 * file also runs on its own. Each run uses its own namespace and drops it afterwards.
 *
 * The main table is pre-split into 5 regions, so region location through hbase:meta (the part
 * HBase 2 broke in the library) is exercised on every operation; keys are binary and Unicode,
 * with 0x00/0xff bytes, emoji and keys on both sides of every split key.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHBaseAdmin, runAdminOps, type HBaseAdminPort } from '../../src/adapters/hbase-admin.js';
import { createHBaseClient, type HBaseClient, type Row } from '../../src/adapters/hbase.js';
import { StagelineError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { projectPath } from '../../src/paths.js';
import { hbaseClasspath, hbaseDirs, startHBase, type HBaseStackOptions } from '../../src/stack/hbase.js';

const STACK: HBaseStackOptions = {
  stackDir: projectPath('.stack'),
  cacheDir: projectPath('.stack', 'cache'),
  zkPort: 2181,
  masterPort: 16000,
  regionServerPort: 16020,
  heapMb: 1024,
  startTimeoutMs: 240_000,
};
const ZK = `127.0.0.1:${STACK.zkPort}`;
const NS = `it_${randomBytes(4).toString('hex')}`;
const TABLE = `${NS}:rows`;
// Same name plus a suffix: its hbase:meta rows sort inside the old prefetch range of TABLE.
const TABLE_X = `${NS}:rows_x`;
const FAMILIES = ['d', 'm'];

const SPLITS = [
  Buffer.from([0x00, 0x80]),
  Buffer.from('M'),
  Buffer.from([0x80]),
  Buffer.from([0xf0, 0x9f, 0x98]), // inside the UTF-8 encoding of emoji like 😀
];

const hex = (b: Buffer): string => b.toString('hex');
const byKey = (a: Row, b: Row): number => Buffer.compare(a.key, b.key);

/** Deterministic pseudo-random bytes, so a failing key can be reproduced. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function buildKeys(n: number): Buffer[] {
  const rnd = prng(20261130);
  const bytes = (len: number): Buffer => Buffer.from(Array.from({ length: len }, () => Math.floor(rnd() * 256)));
  const keys = new Map<string, Buffer>();
  const add = (k: Buffer): void => { if (k.length > 0) keys.set(hex(k), k); };
  for (const s of SPLITS) {
    // Both sides of every split: the split key itself (first row of the upper region), its
    // extension by 0x00 and 0xff, and the largest-looking keys just below it.
    add(s);
    add(Buffer.concat([s, Buffer.from([0x00])]));
    add(Buffer.concat([s, Buffer.from([0xff, 0xff])]));
    const below = Buffer.from(s);
    const last = below.length - 1;
    if (below[last]! > 0) {
      below[last] = below[last]! - 1;
      add(below);
      add(Buffer.concat([below, Buffer.from([0xff])]));
    } else {
      add(below.subarray(0, last));
    }
  }
  for (const k of [[0x00], [0x00, 0x00], [0xff], [0xff, 0xff, 0xff], [0x00, 0xff], [0xff, 0x00]]) add(Buffer.from(k));
  const unicode = ['😀', '😀😀', '🎉party', 'naïve', 'Ωmega', '中文键', 'a\u0000b', 'é', 'zzz', 'M', 'Ma', 'L\uffff', '\u{1F600}\u{1F601}'];
  for (const u of unicode) add(Buffer.from(u, 'utf8'));
  let i = 0;
  while (keys.size < n) {
    const kind = i++ % 4;
    if (kind === 0) add(bytes(1 + Math.floor(rnd() * 24))); // any bytes
    else if (kind === 1) add(Buffer.from(`user-${Math.floor(rnd() * 1e9)}-${String.fromCodePoint(0x1f600 + Math.floor(rnd() * 64))}`, 'utf8'));
    else if (kind === 2) add(Buffer.concat([SPLITS[Math.floor(rnd() * SPLITS.length)]!, bytes(Math.floor(rnd() * 4))])); // crowd the splits
    else add(Buffer.concat([Buffer.from([rnd() < 0.5 ? 0x00 : 0xff]), bytes(1 + Math.floor(rnd() * 8))]));
  }
  return [...keys.values()];
}

function rowFor(key: Buffer, i: number): Row {
  return {
    key,
    cells: [
      // Binary qualifier and value, including 0x00/0xff, to check byte-exact round trips.
      { family: 'd', qualifier: Buffer.from([0x00, 0xff, i & 0xff]), value: Buffer.concat([Buffer.from([0xff, 0x00]), key, Buffer.from(`#${i}`)]) },
      { family: 'm', qualifier: Buffer.from('n'), value: Buffer.from(String(i)) },
    ],
  };
}

/** Cells in HBase order: family, then qualifier bytes. */
function normalized(r: Row): Row {
  const cells = [...r.cells].sort((a, b) => (a.family === b.family ? Buffer.compare(a.qualifier, b.qualifier) : a.family < b.family ? -1 : 1));
  return { key: r.key, cells };
}

async function collect(it: AsyncIterable<Row>): Promise<Row[]> {
  const out: Row[] = [];
  for await (const r of it) out.push(r);
  return out;
}

function expectRows(actual: Row[], expected: Row[]): void {
  expect(actual.length).toBe(expected.length);
  // Compare keys first with a readable diff, then the whole content.
  expect(actual.map((r) => hex(r.key))).toEqual(expected.map((r) => hex(r.key)));
  expect(actual.map(normalized)).toEqual(expected.map(normalized));
}

let client: HBaseClient;
let admin: HBaseAdminPort;
let rows: Row[] = [];
let sorted: Row[] = [];

beforeAll(async () => {
  await startHBase(STACK, () => undefined);
  admin = createHBaseAdmin({ classpath: hbaseClasspath(STACK), confDir: hbaseDirs(STACK).conf }, silentLogger);
  const t0 = Date.now();
  await admin.ensure(NS, [
    { name: TABLE, families: FAMILIES, splits: SPLITS },
    { name: TABLE_X, families: ['d'], splits: [Buffer.from('5')] },
  ]);
  console.log(`hbase admin: namespace + 2 pre-split tables in one launch: ${Date.now() - t0} ms`);
  client = createHBaseClient({ zkQuorum: ZK }, silentLogger);
  rows = buildKeys(10_000).map(rowFor);
  sorted = [...rows].sort(byKey);
});

afterAll(async () => {
  await client?.close();
  if (admin) await admin.dropNamespace(NS);
});

describe('hbase adapter on a pre-split table (5 regions)', () => {
  it('ensure is idempotent: existing tables are left alone', async () => {
    await admin.ensure(NS, [{ name: TABLE, families: ['other'] }]);
    await client.put(TABLE, rowFor(Buffer.from('idempotent'), 1));
    expect(await client.get(TABLE, Buffer.from('idempotent'))).toBeDefined();
    await client.deleteRow(TABLE, Buffer.from('idempotent'));
    expect(await client.get(TABLE, Buffer.from('idempotent'))).toBeUndefined();
  });

  it('a table spec\'s time to live is set at creation and follows the spec on an existing table (sessions: STAGELINE_SESSIONS_TTL_DAYS)', async () => {
    const adminOpts = { classpath: hbaseClasspath(STACK), confDir: hbaseDirs(STACK).conf };
    const ttlTable = `${NS}:ttl`;
    const describe = async () => (await runAdminOps(adminOpts, [{ op: 'describeTable', name: ttlTable }], silentLogger))[0]?.outcome;
    await admin.ensure(NS, [{ name: ttlTable, families: ['s'], ttlSeconds: 90 * 86_400 }]);
    expect(await describe()).toBe('s:7776000');
    await admin.ensure(NS, [{ name: ttlTable, families: ['s'], ttlSeconds: 7 * 86_400 }]);
    expect(await describe()).toBe('s:604800');
    // A spec without a TTL leaves the table as it is ("ensure", not "migrate").
    await admin.ensure(NS, [{ name: ttlTable, families: ['s'] }]);
    expect(await describe()).toBe('s:604800');
    await admin.ensure(NS, [{ name: `${NS}:no_ttl`, families: ['s'] }]);
    expect((await runAdminOps(adminOpts, [{ op: 'describeTable', name: `${NS}:no_ttl` }], silentLogger))[0]?.outcome).toBe('s:FOREVER');
  });

  it('putMany writes 10,000 binary/Unicode rows', async () => {
    expect(rows.length).toBe(10_000);
    const t0 = Date.now();
    await client.putMany(TABLE, rows);
    console.log(`putMany 10,000 rows: ${Date.now() - t0} ms`);
    // A table whose name extends TABLE's, written after TABLE's regions are cached.
    await client.putMany(TABLE_X, [{ key: Buffer.from('0'), cells: [{ family: 'd', qualifier: Buffer.from('q'), value: Buffer.from('x') }] }]);
  });

  it('a full scan returns every row in byte order, byte-exact', async () => {
    const t0 = Date.now();
    const all = await collect(client.scan(TABLE, { caching: 1000 }));
    console.log(`full scan 10,000 rows: ${Date.now() - t0} ms`);
    expectRows(all, sorted);
  });

  it('a scan with tiny batches crosses every region boundary and keeps order', async () => {
    expectRows(await collect(client.scan(TABLE, { caching: 7, families: ['d', 'm'] })), sorted);
  });

  it('bounded scans return exactly [start, stop) across region boundaries', async () => {
    const ranges: Array<[Buffer | undefined, Buffer | undefined]> = [
      [SPLITS[0], SPLITS[2]], // starts exactly on a split, stops exactly on another
      [Buffer.from([0x00]), Buffer.from([0x00, 0x80, 0x00])], // ends one key past a split
      [Buffer.from('L'), Buffer.from([0xf0, 0x9f, 0x98, 0x80])], // spans three boundaries
      [Buffer.from([0x7f, 0xff]), undefined], // to the table's end
      [undefined, Buffer.from('M')], // from the table's start
      [Buffer.from([0x80]), Buffer.from([0x80, 0x00])], // exactly one row (the split key)
      [Buffer.from('zzz'), Buffer.from('zzz')], // empty: start == stop
      [Buffer.from([0xf0, 0x9f, 0x98]), Buffer.from([0xff, 0xff, 0xff, 0x00])],
    ];
    for (const [start, stop] of ranges) {
      const expected = sorted.filter((r) => (!start || Buffer.compare(r.key, start) >= 0) && (!stop || Buffer.compare(r.key, stop) < 0));
      for (const caching of [3, 500]) {
        const got = await collect(client.scan(TABLE, { caching, ...(start ? { startRow: start } : {}), ...(stop ? { stopRow: stop } : {}) }));
        expectRows(got, expected);
      }
    }
  });

  it('a scan can be abandoned early and restrict families', async () => {
    const first: Row[] = [];
    for await (const r of client.scan(TABLE, { caching: 50, families: ['m'] })) {
      first.push(r);
      if (first.length === 120) break;
    }
    expect(first.map((r) => hex(r.key))).toEqual(sorted.slice(0, 120).map((r) => hex(r.key)));
    expect(first.every((r) => r.cells.length === 1 && r.cells[0]!.family === 'm')).toBe(true);
  });

  it('500 random gets match, byte-exact; a missing key is undefined', async () => {
    const rnd = prng(7);
    for (let i = 0; i < 500; i++) {
      const want = rows[Math.floor(rnd() * rows.length)]!;
      const got = await client.get(TABLE, want.key);
      expect(got && normalized(got)).toEqual(normalized(want));
    }
    expect(await client.get(TABLE, Buffer.from([0x01, 0x02, 0x03, 0xfe, 0xfd]))).toBeUndefined();
    // The longer-named table's regions never serve TABLE's keys, and vice versa.
    expect(await client.get(TABLE, Buffer.from('0'))).toBeUndefined();
    expect((await client.get(TABLE_X, Buffer.from('0')))?.cells[0]?.value.toString()).toBe('x');
  });

  it('getMany returns results aligned with the keys, across regions, with misses', async () => {
    const rnd = prng(11);
    const keys: Buffer[] = [];
    const expected: Array<Row | undefined> = [];
    for (let i = 0; i < 3000; i++) {
      if (rnd() < 0.2) {
        keys.push(Buffer.concat([Buffer.from('missing-'), Buffer.from([i & 0xff, 0x00, 0xff])]));
        expected.push(undefined);
      } else {
        const r = rows[Math.floor(rnd() * rows.length)]!;
        keys.push(r.key);
        expected.push(r);
      }
    }
    const got = await client.getMany(TABLE, keys);
    expect(got.length).toBe(keys.length);
    expect(got.map((r) => r && normalized(r))).toEqual(expected.map((r) => r && normalized(r)));
    expect(await client.getMany(TABLE, [])).toEqual([]);
  });

  it('overwrites keep one version (max versions 1)', async () => {
    const key = SPLITS[1]!;
    await client.put(TABLE, { key, cells: [{ family: 'm', qualifier: Buffer.from('n'), value: Buffer.from('again') }] });
    const got = await client.get(TABLE, key);
    expect(got?.cells.filter((c) => c.family === 'm').map((c) => c.value.toString())).toEqual(['again']);
    // Put the original back: later tests compare the whole table.
    await client.put(TABLE, rows.find((r) => r.key.equals(key))!);
  });
});

describe('hbase adapter after a region split (stale cached locations)', () => {
  it('relocates through hbase:meta and keeps serving gets, getMany, scans and puts', async () => {
    const adminOpts = { classpath: hbaseClasspath(STACK), confDir: hbaseDirs(STACK).conf };
    const before = await runAdminOps(adminOpts, [{ op: 'listRegions', name: TABLE }], silentLogger);
    expect(before[0]?.outcome?.split(',')).toEqual(['', ...SPLITS.map(hex)]);
    // Split the region ['M', 0x80) in the middle of written data: the client still caches the
    // parent, gets NotServingRegionException and must locate the daughters in hbase:meta (the
    // reversed meta scan that replaces closestRowBefore).
    const at = Buffer.from('user-5');
    const after = await runAdminOps(adminOpts, [{ op: 'split', name: TABLE, at: hex(at) }, { op: 'listRegions', name: TABLE }], silentLogger);
    expect(after[1]?.outcome?.split(',')).toContain(hex(at));
    const around = sorted.filter((r) => Buffer.compare(r.key, Buffer.from('M')) >= 0 && Buffer.compare(r.key, Buffer.from([0x80])) < 0);
    expect(around.length).toBeGreaterThan(100);
    for (const r of around.slice(0, 50).concat(around.slice(-50))) {
      expect(normalized((await client.get(TABLE, r.key))!)).toEqual(normalized(r));
    }
    expect((await client.getMany(TABLE, around.map((r) => r.key))).map((r) => r && hex(r.key))).toEqual(around.map((r) => hex(r.key)));
    expectRows(await collect(client.scan(TABLE, { caching: 100 })), sorted);
    await client.putMany(TABLE, around.slice(0, 200));
    // A brand-new client (empty cache) sees the same table.
    const fresh = createHBaseClient({ zkQuorum: ZK }, silentLogger);
    try {
      expectRows(await collect(fresh.scan(TABLE, { startRow: Buffer.from('M'), stopRow: Buffer.from([0x80]) })), around);
    } finally {
      await fresh.close();
    }
  });
});

describe('hbase adapter errors', () => {
  it('a missing table is a non-retryable HBASE_ERROR', async () => {
    const err = await client.get(`${NS}:nope`, Buffer.from('k')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StagelineError);
    expect((err as StagelineError).code).toBe('HBASE_ERROR');
    expect((err as StagelineError).retryable).toBe(false);
    expect((err as StagelineError).message).toMatch(/TableNotFound/);
  });

  it('a missing column family is a non-retryable HBASE_ERROR (single and batched)', async () => {
    const bad: Row = { key: Buffer.from('k'), cells: [{ family: 'nofamily', qualifier: Buffer.from('q'), value: Buffer.from('v') }] };
    // Started one at a time: a promise created before the previous one is awaited can reject with
    // no handler attached yet (an unhandled rejection that fails the whole run).
    for (const start of [() => client.put(TABLE, bad), () => client.putMany(TABLE, [rows[0]!, bad])]) {
      const err = await start().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StagelineError);
      expect((err as StagelineError).code).toBe('HBASE_ERROR');
      expect((err as StagelineError).message).toMatch(/NoSuchColumnFamily/);
    }
  });

  it('an unreachable cluster is a retryable HBASE_UNAVAILABLE, not a hang', async () => {
    const dead = createHBaseClient({ zkQuorum: '127.0.0.1:1', rpcTimeoutMs: 1500, attempts: 2 }, silentLogger);
    try {
      const t0 = Date.now();
      const err = await dead.get(TABLE, Buffer.from('k')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StagelineError);
      expect((err as StagelineError).code).toBe('HBASE_UNAVAILABLE');
      expect((err as StagelineError).retryable).toBe(true);
      expect(Date.now() - t0).toBeLessThan(15_000);
    } finally {
      await dead.close();
    }
  });
});
