/**
 * Late data, catching up, backfills, small days, dead letters and retention (issue 12), on the
 * real stack. Every day's result is compared with the independent reference over all the rows the
 * day has, late ones included.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLines } from '../../src/seed/generate.js';
import { prefixEnd, productEpochPrefix, sessionEpochPrefix } from '../../src/domain/rowkey.js';
import { topicName } from '../../topology/index.js';
import { referenceReport } from '../support/reference.js';
import { diffSummaries, parseLines } from '../support/compare.js';
import { createTestNamespace, eventually, type CliResult, type TestNamespace } from '../support/harness.js';
import { startCli } from '../support/results.js';
import { stopLeftovers } from '../support/faults.js';

const DAY_MS = 86_400_000;
const addDays = (day: string, n: number): string => new Date(Date.parse(`${day}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10);
const expectOk = (r: CliResult, what: string) => expect(r.code, `${what} exited ${String(r.code)}\n${r.stderr.slice(-3000)}`).toBe(0);
const merchantOf = (line: string): string | undefined => {
  try {
    const m = (JSON.parse(line) as { merchant_id?: unknown }).merchant_id;
    return typeof m === 'string' ? m : undefined;
  } catch {
    return undefined;
  }
};
const ENV = { STAGELINE_CHUNK_ROWS: '2000', STAGELINE_LEASE_SEC: '6' };

interface ReportRow { merchant_id: string; epoch: number; computed_at: string; [k: string]: unknown }

async function report(t: TestNamespace, day: string): Promise<ReportRow[]> {
  const r = await t.cli(['report', '--day', day, '--json']);
  expectOk(r, `report ${day}`);
  return parseLines(r.stdout) as ReportRow[];
}

/** The report without the fields that say which computation it was, against the reference. */
function expectReference(rows: ReportRow[], lines: readonly string[], day: string): void {
  const plain = rows.map(({ epoch: _e, computed_at: _c, ...rest }) => rest);
  expect(diffSummaries(plain, referenceReport(lines, day) as unknown as Array<Record<string, unknown>>)).toEqual([]);
}

async function ingest(t: TestNamespace, lines: readonly string[]): Promise<{ late_rows: number; late_merchant_days: number; new_events: number }> {
  const r = await t.cli(['ingest', '-', '--json', '--rejects', '/dev/null'], { input: `${lines.join('\n')}\n` });
  expectOk(r, 'ingest');
  return JSON.parse(r.stdout) as { late_rows: number; late_merchant_days: number; new_events: number };
}

async function hbaseRows(t: TestNamespace, table: string, prefix: Buffer): Promise<number> {
  let n = 0;
  for await (const _row of t.app.hbase().scan(table, { startRow: prefix, stopRow: prefixEnd(prefix), caching: 1000 })) n++;
  return n;
}

describe.sequential('late data: only the merchant-days it touches are run again', () => {
  // D is the day under test; OLD is beyond the 7-day lookback as of D+4; Y is "yesterday" then.
  const D = '2026-11-20';
  const OLD = addDays(D, -10);
  const Y = addDays(D, 3);
  const main = [...generateLines({ day: D, events: 9_000, merchants: 12, seed: 71 })];
  const other = [...generateLines({ day: D, events: 9_000, merchants: 12, seed: 72 })];
  // Chosen from the first report: three merchants get late rows (new identities, and new
  // occurrences: another seed reuses event ids; their D-1/D+1 spill lands on unplanned days), one
  // gets its lines re-sent exactly.
  let merchants: string[] = [];
  let lateFor: string[] = [];
  let resent = '';
  let late: string[] = [];
  let resend: string[] = [];
  const oldLines = [...generateLines({ day: OLD, events: 3_000, merchants: 3, seed: 73 })];
  const yLines = [...generateLines({ day: Y, events: 6_000, merchants: 4, seed: 74 })];
  let t: TestNamespace;
  let first: ReportRow[];

  beforeAll(async () => {
    t = await createTestNamespace('late');
    await ingest(t, oldLines);
    expectOk(await t.cli(['nightly', '--day', OLD, '--with-workers', '1', '--quiet'], { env: ENV }), `nightly ${OLD}`);
    await ingest(t, main);
    expectOk(await t.cli(['nightly', '--day', D, '--with-workers', '1', '--quiet'], { env: ENV }), `nightly ${D}`);
    first = await report(t, D);
    merchants = first.map((r) => r.merchant_id);
    expect(merchants).toHaveLength(12);
    expectReference(first, main, D);
    // Three merchants with sessions (the generator makes one merchant all-invalid), one to re-send.
    const active = first.filter((r) => Number(r.sessions) > 0).map((r) => r.merchant_id);
    lateFor = [active[1]!, active[4]!, active[7]!];
    resent = active[5]!;
    late = other.filter((l) => lateFor.includes(merchantOf(l) ?? ''));
    resend = main.filter((l) => merchantOf(l) === resent);
  }, 900_000);
  afterAll(async () => {
    await stopLeftovers(t.ns).catch(() => undefined);
    await t?.cleanup();
  });

  it('late rows for 3 of 12 merchant-days are counted (an exact re-send is not); nightly --day re-runs exactly those 3', async () => {
    const lateIngest = await ingest(t, late);
    expect(lateIngest.new_events).toBeGreaterThan(100);
    expect(lateIngest.late_merchant_days).toBe(3);
    const again = await ingest(t, resend);
    expect(again).toMatchObject({ new_events: 0, late_rows: 0, late_merchant_days: 0 });

    const st = await t.cli(['status', '--day', D, '--json']);
    expectOk(st, 'status');
    const lateData = (JSON.parse(st.stdout) as { late_data: Array<{ day: string; merchant_days: number; rows: number }> }).late_data;
    expect(lateData.find((d) => d.day === D)).toEqual({ day: D, merchant_days: 3, rows: lateIngest.late_rows });

    const e1 = first[0]!.epoch;
    const staleSessions = await Promise.all(lateFor.map((m) => hbaseRows(t, t.app.tables.sessions, sessionEpochPrefix(m, D, e1))));
    expect(staleSessions.every((n) => n > 0)).toBe(true);

    const night = await t.cli(['nightly', '--day', D, '--with-workers', '1'], { env: ENV });
    expectOk(night, 'late nightly');
    expect(night.stderr).toContain('late data of 3 merchant-day(s) re-run');
    const after = await report(t, D);
    expectReference(after, [...main, ...late, ...resend], D);
    const before = new Map(first.map((r) => [r.merchant_id, r]));
    for (const r of after) {
      const was = before.get(r.merchant_id)!;
      if (lateFor.includes(r.merchant_id)) {
        expect(r.epoch, r.merchant_id).toBeGreaterThan(was.epoch);
        expect(Date.parse(r.computed_at)).toBeGreaterThan(Date.parse(was.computed_at));
      } else {
        expect({ epoch: r.epoch, computed_at: r.computed_at }, r.merchant_id).toEqual({ epoch: was.epoch, computed_at: was.computed_at });
      }
    }
    // The re-run merchant-days' stale intermediates are gone; the others' are where they were.
    for (const m of lateFor) {
      expect(await hbaseRows(t, t.app.tables.sessions, sessionEpochPrefix(m, D, e1)), `${m} old sessions`).toBe(0);
      expect(await hbaseRows(t, t.app.tables.products, productEpochPrefix(D, m, e1)), `${m} old products`).toBe(0);
    }
    expect(await hbaseRows(t, t.app.tables.sessions, sessionEpochPrefix(resent, D, e1))).toBeGreaterThan(0);
    const stAfter = JSON.parse((await t.cli(['status', '--day', D, '--json'])).stdout) as { late_data: Array<{ day: string }> };
    expect(stAfter.late_data.map((d) => d.day)).not.toContain(D);
    first = after;
  }, 600_000);

  it('nightly with no --day runs yesterday, then a late day within the lookback, and leaves one beyond it', async () => {
    const m = lateFor[0]!;
    const more = [...generateLines({ day: D, events: 4_000, merchants: 12, seed: 75 })].filter((l) => merchantOf(l) === m);
    // And a merchant new to the completed day: late too, or nothing would ever plan it.
    const t0 = Date.parse(`${D}T10:00:00Z`);
    const newcomer = Array.from({ length: 40 }, (_, i) => JSON.stringify({ event_id: `n${i}`, merchant_id: 'newcomer-13', visitor_id: `v${i % 7}`, type: i % 10 === 9 ? 'add_to_cart' : 'page_view', ts: t0 + i * 60_000, url: `https://newcomer.example/p/${i}`, product_id: `p${i % 3}` }));
    expect((await ingest(t, [...more, ...newcomer])).late_merchant_days).toBe(2);
    const oldMerchant = oldLines.map(merchantOf).find((x) => x !== undefined)!;
    const oldLate = [...generateLines({ day: OLD, events: 2_000, merchants: 3, seed: 76 })].filter((l) => merchantOf(l) === oldMerchant);
    expect((await ingest(t, oldLate)).late_merchant_days).toBe(1);
    await ingest(t, yLines);
    const oldBefore = await report(t, OLD);

    const night = await t.cli(['nightly', '--as-of', addDays(D, 4), '--with-workers', '1'], { env: ENV });
    expectOk(night, 'nightly without --day');
    expect(night.stderr).toContain(`days to run: ${Y} (yesterday), then ${D} (late data within 7 days)`);
    expectReference(await report(t, Y), yLines, Y);
    const after = await report(t, D);
    expectReference(after, [...main, ...late, ...more, ...newcomer], D);
    const changed = after.filter((r) => r.epoch !== first.find((x) => x.merchant_id === r.merchant_id)?.epoch).map((r) => r.merchant_id);
    expect(changed.sort()).toEqual([m, 'newcomer-13'].sort());
    // OLD is beyond the lookback: untouched, its late data still waiting.
    expect(await report(t, OLD)).toEqual(oldBefore);
    const st = JSON.parse((await t.cli(['status', '--day', OLD, '--json'])).stdout) as { late_data: Array<{ day: string; merchant_days: number }> };
    expect(st.late_data).toContainEqual(expect.objectContaining({ day: OLD, merchant_days: 1 }));

    // Asked for by name, OLD catches up too; then purge removes its bookkeeping and its superseded rows, not its numbers.
    expectOk(await t.cli(['nightly', '--day', OLD, '--with-workers', '1', '--quiet'], { env: ENV }), `nightly ${OLD}`);
    expectReference(await report(t, OLD), [...oldLines, ...oldLate], OLD);
  }, 900_000);

  it('purge --older-than leaves recent days and every report intact; --dry-run changes nothing', async () => {
    const reports = new Map<string, ReportRow[]>();
    for (const d of [OLD, D, Y]) reports.set(d, await report(t, d));
    const oldRow = reports.get(OLD)!.find((r) => r.epoch > 1)!;
    const count = async (table: string, day: string) => Number((await t.app.db().query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table} WHERE day = ?`, [day]))[0]!.n);
    const counts = async (day: string) => ({ partials: await count('partials', day), chunk_work: await count('chunk_work', day), run_offsets: await count('run_offsets', day) });
    const recentBefore = await counts(D);
    expect(recentBefore.partials).toBeGreaterThan(0);
    expect((await counts(OLD)).partials).toBeGreaterThan(0);
    // The re-run replaced OLD's superseded sessions already; a straggler of the old epoch (a writer
    // still running when the new epoch finished) is what purge sweeps, with the old epoch's bookkeeping.
    const superseded = sessionEpochPrefix(oldRow.merchant_id, OLD, 1);
    expect(await hbaseRows(t, t.app.tables.sessions, superseded)).toBe(0);
    await t.app.hbase().put(t.app.tables.sessions, { key: Buffer.concat([superseded, Buffer.from('straggler')]), cells: [{ family: 's', qualifier: Buffer.from('d'), value: Buffer.from('{}') }] });
    const oldEpochRows = async () => Number((await t.app.db().query<{ n: number }>('SELECT COUNT(*) AS n FROM merchant_days WHERE day = ? AND merchant_id = ? AND epoch = 1', [OLD, oldRow.merchant_id]))[0]!.n);
    expect(await oldEpochRows()).toBe(1);
    // The cutoff falls between OLD and D, whatever today's date is.
    const days = Math.floor((Date.now() - Date.parse(`${D}T00:00:00Z`)) / DAY_MS) + 3;

    const dry = await t.cli(['purge', '--older-than', `${days}d`, '--dry-run']);
    expectOk(dry, 'purge --dry-run');
    expect(dry.stdout).toMatch(/would remove/);
    expect(await counts(OLD)).not.toEqual({ partials: 0, chunk_work: 0, run_offsets: 0 });
    expect(await hbaseRows(t, t.app.tables.sessions, superseded)).toBe(1);
    expect(await oldEpochRows()).toBe(1);

    const purge = await t.cli(['purge', '--older-than', `${days}d`, '--batch', '50']);
    expectOk(purge, 'purge');
    expect(await counts(OLD)).toEqual({ partials: 0, chunk_work: 0, run_offsets: 0 });
    expect(await counts(D)).toEqual(recentBefore);
    expect(await hbaseRows(t, t.app.tables.sessions, superseded), 'the straggler of OLD\'s superseded epoch').toBe(0);
    expect(await oldEpochRows(), 'the superseded merchant-day of OLD').toBe(0);
    for (const d of [OLD, D, Y]) expect(await report(t, d), d).toEqual(reports.get(d));
    // A second purge has nothing left to do.
    const again = await t.cli(['purge', '--older-than', `${days}d`]);
    expectOk(again, 'purge again');
    expect(again.stdout).not.toMatch(/ [1-9][\d,]*\n/);
  }, 300_000);
});

describe.sequential('backfill, small days, dead letters, replay past retention', () => {
  const FIRST = '2026-10-05';
  const DAYS = Array.from({ length: 5 }, (_, i) => addDays(FIRST, i));
  const byDay = new Map(DAYS.map((d, i) => [d, [...generateLines({ day: d, events: 4_000, merchants: 3, seed: 80 + i })]]));
  const all = [...byDay.values()].flat();
  let t: TestNamespace;

  beforeAll(async () => {
    t = await createTestNamespace('backfill');
    await ingest(t, all);
  }, 300_000);
  afterAll(async () => {
    await stopLeftovers(t.ns).catch(() => undefined);
    await t?.cleanup();
  });

  const runsTable = async () => t.app.db().query<{ day: string; epoch: number; state: string; run_id: string }>('SELECT day, epoch, state, run_id FROM runs ORDER BY day');

  it('--dry-run prints what would run and why, and changes nothing', async () => {
    const before = await runsTable();
    const dry = await t.cli(['backfill', '--from', DAYS[0]!, '--to', DAYS[4]!, '--dry-run', '--json']);
    expectOk(dry, 'backfill --dry-run');
    expect(parseLines(dry.stdout)).toEqual(DAYS.map((day) => ({ day, action: 'run', why: 'never run' })));
    expect(await runsTable()).toEqual(before);
  });

  it('a 5-day backfill at concurrency 2, killed mid-way and run again, resumes and matches the reference per day', async () => {
    const bf = startCli(['backfill', '--from', DAYS[0]!, '--to', DAYS[4]!, '--concurrency', '2', '--with-workers', '1', '--namespace', t.ns], ENV, { detached: true });
    let sawTwo = false;
    const doneAtKill = await eventually('a day finished', async () => {
      const active = await t.app.db().query<{ n: number }>("SELECT COUNT(*) AS n FROM runs WHERE state NOT IN ('complete', 'failed')");
      if (Number(active[0]!.n) >= 2) sawTwo = true;
      const done = (await runsTable()).filter((r) => r.state === 'complete').map((r) => r.day);
      return done.length >= 1 ? done : undefined;
    }, 600_000, 100);
    process.kill(-bf.child.pid!, 'SIGKILL');
    await bf.done;
    expect(sawTwo, 'two days in flight at once').toBe(true);
    expect(doneAtKill.length, 'killed before the end').toBeLessThan(5);
    await stopLeftovers(t.ns).catch(() => undefined);

    const again = await t.cli(['backfill', '--from', DAYS[0]!, '--to', DAYS[4]!, '--concurrency', '2', '--with-workers', '1'], { env: ENV });
    expectOk(again, 'backfill again');
    const table = again.stdout.split('\n');
    for (const d of doneAtKill) expect(table.find((l) => l.startsWith(d)), `${d} was done`).toMatch(/\bskip\b.*skipped/);
    expect(table.filter((l) => / ok$/.test(l)).length).toBeGreaterThanOrEqual(1);
    expect((await runsTable()).map((r) => [r.day, r.state])).toEqual(DAYS.map((d) => [d, 'complete']));
    for (const d of DAYS) expectReference(await report(t, d), all, d);
  }, 900_000);

  it('an empty day exits 5 naming the numbers; --allow-small-day completes it', async () => {
    const empty = addDays(DAYS[4]!, 3);
    const r = await t.cli(['nightly', '--day', empty, '--with-workers', '1'], { env: ENV });
    expect(r.code, r.stderr.slice(-2000)).toBe(5);
    expect(r.stderr).toMatch(new RegExp(`day ${empty} has no ingested rows \\(the 7 days before: median [\\d,]+ rows\\)`));
    const ok = await t.cli(['nightly', '--day', empty, '--with-workers', '1', '--allow-small-day'], { env: ENV });
    expectOk(ok, 'nightly --allow-small-day');
    expect((await runsTable()).find((x) => x.day === empty)?.state).toBe('complete');
    expect(await report(t, empty)).toEqual([]);
    // The day after the last one holds only the few events that spill over midnight: a small day, refused with its share.
    const spill = addDays(DAYS[4]!, 1);
    const small = await t.cli(['nightly', '--day', spill, '--with-workers', '1'], { env: ENV });
    expect(small.code, small.stderr.slice(-2000)).toBe(5);
    expect(small.stderr).toMatch(/has [\d,]+ rows, [\d.]+% of the median of the 7 days before \([\d,]+; below 20% is refused\)/);
  }, 300_000);

  it('a poison message is dead-lettered and the day fails; after the fix, redrive completes it with the right numbers', async () => {
    const d = addDays(FIRST, 20);
    const lines = [...generateLines({ day: d, events: 5_000, merchants: 3, seed: 90 })];
    await ingest(t, lines);
    const poisoned = await t.cli(['nightly', '--day', d, '--with-workers', '1', '--allow-small-day'], {
      env: { ...ENV, STAGELINE_FAULT_POISON: 'transform:c00002', STAGELINE_STUCK_AFTER_SEC: '25', STAGELINE_MAX_REPUBLISH: '1' },
    });
    expect(poisoned.code, poisoned.stderr.slice(-2000)).toBe(3);
    expect(poisoned.stderr).toContain('STAGELINE_FAULT_POISON');

    const list = await t.cli(['dead-letters', 'list', '--day', d, '--stage', 'transform', '--json']);
    expectOk(list, 'dead-letters list');
    const letters = parseLines(list.stdout) as Array<{ id: number; day: string; stage: string; topic: string; redriven_at: unknown }>;
    expect(letters.length).toBeGreaterThanOrEqual(1);
    expect(letters.every((l) => l.day === d && l.stage === 'transform' && l.topic === topicName(t.ns, 'batches') && l.redriven_at === null)).toBe(true);
    const show = await t.cli(['dead-letters', 'show', String(letters[0]!.id), '--json']);
    expectOk(show, 'dead-letters show');
    const shown = JSON.parse(show.stdout) as { error: string; partition: number; offset: string; message?: { name: string; value: { chunk_id?: string } } };
    expect(shown.error).toContain('refuses chunk');
    expect(shown.message?.name).toBe('VisitorBatch');
    expect(shown.message?.value.chunk_id).toContain('c00002');
    expect(typeof shown.partition).toBe('number');

    const dry = await t.cli(['dead-letters', 'redrive', '--day', d, '--dry-run']);
    expectOk(dry, 'redrive --dry-run');
    expect(dry.stdout).toContain(`would put back ${letters.length} dead letter(s)`);
    const redrive = await t.cli(['dead-letters', 'redrive', '--day', d]);
    expectOk(redrive, 'redrive');
    expect(redrive.stdout).toContain(`put back ${letters.length} of ${letters.length}`);
    // Idempotent: a letter put back once is not put back again.
    expect((await t.cli(['dead-letters', 'redrive', '--day', d])).stdout).toContain('put back 0 of 0');

    const night = await t.cli(['nightly', '--day', d, '--with-workers', '1'], { env: ENV });
    expectOk(night, 'nightly after redrive');
    expectReference(await report(t, d), lines, d);
    const after = parseLines((await t.cli(['dead-letters', 'list', '--day', d, '--json'])).stdout) as Array<{ redriven_at: unknown }>;
    expect(after.every((l) => l.redriven_at !== null)).toBe(true);
  }, 600_000);

  it('replay refuses when the day\'s messages are past Kafka\'s retention, and suggests --rerun', async () => {
    const topic = topicName(t.ns, 'chunks');
    const admin = t.app.kafka().admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      // What retention does to old segments: the earliest kept offset moves past the day's.
      await admin.deleteTopicRecords({ topic, partitions: offsets.map((o) => ({ partition: o.partition, offset: o.high })) });
    } finally {
      await admin.disconnect();
    }
    const r = await t.cli(['replay', '--day', DAYS[0]!, '--dry-run']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('past Kafka\'s retention');
    expect(r.stderr).toContain(`stageline nightly --day ${DAYS[0]} --rerun`);
  });
});
