/**
 * HBase regions in motion, on a private HBase with two region servers in one JVM
 * (jvm/hbase/LocalCluster.java: ZooKeeper 22181, master 26000, region servers 26020 and 26030,
 * control 26090) and the shared Kafka and MariaDB.
 *
 * 1. The client alone: a scan of a copy of the day's raw rows while every region splits, while
 *    every region moves to the other server, while the server holding the scanned region stops and
 *    starts again, and while it aborts (a crash) and starts again. The consumer holds the open
 *    scanner while the event runs, so the event always hits a live scanner. Every row must come
 *    back once, in order.
 * 2. The whole night (`nightly --with-workers 1`) while split scans raw_events and transform writes
 *    sessions: every region of both tables split and then moved; a region server restarted; a
 *    region server crashed and started. The report must be byte-identical to the clean run's (which
 *    matches the independent reference), with no dead letters.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateLines } from '../../src/seed/generate.js';
import { startHBase, regionServerControl, hbaseClasspath, type RegionServerSlot } from '../../src/stack/hbase.js';
import { openAdminSession, runAdminOps, type AdminOp, type AdminSession, type RegionPlacement } from '../../src/adapters/hbase-admin.js';
import { RAW_SPLITS, rawBucketPrefix } from '../../src/domain/rowkey.js';
import { silentLogger } from '../../src/log.js';
import { referenceReport } from '../support/reference.js';
import { diffSummaries, parseLines } from '../support/compare.js';
import { eventually, type CliResult, type TestNamespace } from '../support/harness.js';
import { chunkRows, deadLetterCount, merchantDaysDone, runRow, stopLeftovers } from '../support/faults.js';
import { expectNight, expectOk, namespaceOn, privateStack, wallClock, type PrivateStack } from '../support/cluster.js';

const DAY = '2026-11-21';
const LINES = [...generateLines({ day: DAY, events: 24_000, merchants: 10, seed: 14 })];
const INPUT = `${LINES.join('\n')}\n`;
/** Small chunks, one message at a time per worker: a longer night, so events land mid-run. */
const RUN_ENV = { STAGELINE_CHUNK_ROWS: '100', STAGELINE_CONCURRENCY: '1', STAGELINE_CONCURRENCY_MAX: '1' };
const RS_PORTS = [26020, 26030];

const printWall = wallClock('regions.test.ts');
let ps: PrivateStack;
let t: TestNamespace;
let cleanReport = '';
let hbaseStartMs = 0;
const notes: string[] = [];

const adminOptions = () => ({ classpath: hbaseClasspath(ps.stack.hbase), confDir: `${ps.dir}/hbase/conf`, timeoutMs: 180_000 });
const adminOps = (ops: AdminOp[]) => runAdminOps(adminOptions(), ops, silentLogger);
/** An admin session opened once: region ops start at once (no JVM start at the moment that matters). */
let session: AdminSession | undefined;
async function op(o: AdminOp): Promise<string> {
  session ??= await openAdminSession(adminOptions(), silentLogger);
  return (await session.run(o)).outcome ?? '';
}
const regionsOf = async (table: string): Promise<RegionPlacement[]> => JSON.parse(await op({ op: 'regions', name: table })) as RegionPlacement[];
const control = () => regionServerControl(ps.stack.hbase);
const slotOf = (placement: RegionPlacement): number => RS_PORTS.indexOf(Number(placement.server.split(':')[1]));
const online = (slots: RegionServerSlot[]): number => slots.filter((s) => s.state === 'online').length;
/** The region (of a `regions` listing) that holds `key`. */
function holding(regions: RegionPlacement[], key: Buffer): RegionPlacement {
  const k = key.toString('hex');
  const r = regions.find((x) => x.start <= k && (x.end === '' || k < x.end));
  if (!r) throw new Error(`no region holds ${k}`);
  return r;
}

beforeAll(async () => {
  ps = privateStack('regions', {
    STAGELINE_HBASE_ZK_PORT: '22181',
    STAGELINE_HBASE_ZK: '127.0.0.1:22181',
    STAGELINE_HBASE_MASTER_PORT: '26000',
    STAGELINE_HBASE_REGIONSERVER_PORT: String(RS_PORTS[0]),
    STAGELINE_HBASE_REGION_SERVERS: '2',
    STAGELINE_HBASE_HEAP_MB: '1536',
  });
  const t0 = Date.now();
  await startHBase(ps.stack.hbase, () => undefined);
  hbaseStartMs = Date.now() - t0;
  expect(online(await control().status())).toBe(2);
  t = await namespaceOn(ps.env, 'regions');
  // The balancer must not move regions on its own: each case decides what moves.
  await op({ op: 'balancer', on: false });
  const ing = await t.cli(['ingest', '-', '--json', '--rejects', '/dev/null'], { input: INPUT, env: ps.env });
  expectOk(ing, 'ingest');
  const night = await t.cli(['nightly', '--day', DAY, '--quiet', '--with-workers', '1'], { env: { ...ps.env, ...RUN_ENV } });
  expectOk(night, 'clean nightly');
  const rep = await t.cli(['report', '--day', DAY, '--json'], { env: ps.env });
  expectOk(rep, 'report');
  cleanReport = rep.stdout;
});

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') {
    ps?.keep();
    if (t) await stopLeftovers(t.ns);
  }
});

afterAll(async () => {
  await session?.close();
  await t?.cleanup().catch(() => undefined);
  await ps?.down();
  console.log(`\nregion motion (private HBase, 2 region servers, started in ${(hbaseStartMs / 1000).toFixed(0)} s)\n${notes.join('\n')}`);
  printWall();
});

it('the clean night on two region servers matches the independent reference', () => {
  expect(diffSummaries(parseLines(cleanReport), referenceReport(LINES, DAY) as unknown as Array<Record<string, unknown>>)).toEqual([]);
});

describe.sequential('a scan while its regions move (client on real HBase)', () => {
  const probe = () => `${t.cfg.hbase.namespace}:probe`;
  let expected: string[] = [];

  beforeAll(async () => {
    // A copy of the raw rows in its own table, so splitting it leaves raw_events whole for the nights below.
    await adminOps([{ op: 'ensureTable', name: probe(), families: ['e'], splits: RAW_SPLITS.map((b) => b.toString('hex')) }]);
    const rows = [];
    for await (const row of t.app.hbase().scan(t.app.tables.raw, { caching: 1000 })) rows.push(row);
    await t.app.hbase().putMany(probe(), rows);
    expected = rows.map((r) => r.key.toString('hex'));
    expect(expected.length).toBeGreaterThan(20_000);
  });

  /** Scans the probe table; after `at` rows the consumer holds the open scanner while `event` runs. */
  async function scanThrough(name: string, event: (lastKey: Buffer) => Promise<string>): Promise<void> {
    const got: string[] = [];
    const t0 = Date.now();
    let what = '';
    for await (const row of t.app.hbase().scan(probe(), { caching: 200 })) {
      got.push(row.key.toString('hex'));
      if (got.length === 3000) what = await event(row.key);
    }
    const distinct = new Set(got).size;
    notes.push(`  scan + ${name}: ${got.length} rows (${distinct} distinct, ${expected.length} stored) in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${what}`);
    expect(got.length).toBe(expected.length);
    expect(got).toEqual(expected);
  }

  it('every region splits', async () => {
    await scanThrough('every region split', async () => {
      const before = (await regionsOf(probe())).length;
      const outcome = await op({ op: 'splitAll', name: probe() });
      const after = (await regionsOf(probe())).length;
      expect(after).toBeGreaterThan(before);
      return `${before} → ${after} regions (${outcome})`;
    });
  });

  it('every region moves to the other region server', async () => {
    await scanThrough('every region moved', async () => {
      const before = await regionsOf(probe());
      await op({ op: 'moveAll', name: probe() });
      const after = await regionsOf(probe());
      const moved = after.filter((r) => before.find((b) => b.encoded === r.encoded)?.server !== r.server).length;
      expect(moved).toBe(after.length);
      return `${moved} regions moved`;
    });
  });

  it('the region server of the scanned region stops and starts again', async () => {
    await scanThrough('region server stop/start', async (lastKey) => {
      const slot = slotOf(holding(await regionsOf(probe()), lastKey));
      const t0 = Date.now();
      await control().stop(slot);
      const stopped = Date.now() - t0;
      await control().start(slot);
      return `slot ${slot} (port ${RS_PORTS[slot]}) stopped in ${stopped} ms, started in ${Date.now() - t0 - stopped} ms`;
    });
  });

  it('the region server of the scanned region aborts (a crash) and starts again', async () => {
    await scanThrough('region server abort/start', async (lastKey) => {
      const slot = slotOf(holding(await regionsOf(probe()), lastKey));
      await control().abort(slot);
      await control().start(slot);
      expect(online(await control().status())).toBe(2);
      return `slot ${slot} aborted and started`;
    });
  });
});

describe.sequential('a night while regions move (nightly --with-workers 1)', () => {
  /** Starts a rerun and waits until split is part-way (some chunks split, merchant-days pending). */
  async function midRun(): Promise<{ night: Promise<CliResult>; epoch: number; at: string }> {
    const epoch = (await runRow(t.app, DAY))!.epoch + 1;
    const night = t.cli(['nightly', '--day', DAY, '--quiet', '--with-workers', '1', '--rerun'], { env: { ...ps.env, ...RUN_ENV } });
    const at = await eventually('split part-way, merchant-days pending', async () => {
      const r = await runRow(t.app, DAY);
      if (!r || r.epoch !== epoch || r.state !== 'running') return false;
      const cs = await chunkRows(t.app, DAY, epoch);
      const split = cs.filter((c) => c.split_done).length;
      const md = await merchantDaysDone(t.app, DAY, epoch);
      return split > 0 && split < cs.length * 0.5 && md.done < md.total ? `${split}/${cs.length} chunks split` : false;
    }, 90_000, 25);
    return { night, epoch, at };
  }

  /** The region server slot holding raw rows of a chunk that is not split yet (so it has work coming). */
  async function slotWithWork(epoch: number): Promise<number> {
    const pending = (await chunkRows(t.app, DAY, epoch)).filter((c) => !c.split_done).at(-1)!;
    const range = pending.ranges[0]!;
    return slotOf(holding(await regionsOf(t.app.tables.raw), rawBucketPrefix(range.merchant_id, DAY, range.bucket_lo)));
  }

  /** Whether the run was still going when the event ended (else it only overlapped its start). */
  async function progress(epoch: number): Promise<string> {
    const r = await runRow(t.app, DAY);
    const cs = await chunkRows(t.app, DAY, epoch);
    return `${r?.state ?? '?'}, ${cs.filter((c) => c.split_done).length}/${cs.length} chunks split`;
  }

  async function finish(name: string, m: { night: Promise<CliResult>; epoch: number; at: string }, eventMs: number, after: string, detail: string): Promise<void> {
    const r = await m.night;
    expectOk(r, `nightly through ${name}`);
    const run = await expectNight(t, DAY, m.epoch, cleanReport, ps.env);
    expect(await deadLetterCount(t.app)).toBe(0);
    notes.push(`  night + ${name}: event at ${m.at}, took ${(eventMs / 1000).toFixed(1)} s, after it the run was ${after}; run ${((run.completed_ms! - run.started_ms) / 1000).toFixed(1)} s; ${detail}`);
  }

  it('every region of raw_events and sessions splits, then every region moves, while split scans and transform writes', async () => {
    const count = async () => (await regionsOf(t.app.tables.raw)).length + (await regionsOf(t.app.tables.sessions)).length;
    const before = await count();
    const m = await midRun();
    const t0 = Date.now();
    const outcomes = [await op({ op: 'splitAll', name: t.app.tables.raw }), await op({ op: 'splitAll', name: t.app.tables.sessions })];
    const splitMs = Date.now() - t0;
    const afterSplit = await progress(m.epoch);
    outcomes.push(await op({ op: 'moveAll', name: t.app.tables.raw }), await op({ op: 'moveAll', name: t.app.tables.sessions }));
    const eventMs = Date.now() - t0;
    const after = await progress(m.epoch);
    const now = await count();
    expect(now).toBeGreaterThan(before);
    await finish('split + move of every region', m, eventMs, after, `splits done in ${(splitMs / 1000).toFixed(1)} s (run then ${afterSplit}); regions ${before} → ${now}; ${outcomes.join('; ')}`);
  });

  it('a region server restarts (stop, start) mid-run', async () => {
    const m = await midRun();
    const t0 = Date.now();
    const slot = await slotWithWork(m.epoch);
    await control().stop(slot);
    await control().start(slot);
    const eventMs = Date.now() - t0;
    await finish(`region server ${RS_PORTS[slot]} stop/start`, m, eventMs, await progress(m.epoch), '');
  });

  it('a region server crashes (abort) mid-run and starts again', async () => {
    const m = await midRun();
    const t0 = Date.now();
    const slot = await slotWithWork(m.epoch);
    await control().abort(slot);
    await control().start(slot);
    const eventMs = Date.now() - t0;
    await finish(`region server ${RS_PORTS[slot]} abort/start`, m, eventMs, await progress(m.epoch), '');
  });
});
