/**
 * Exact under every retry (issue 11), on the real stack. Each case ends with the whole result of
 * the day (summaries, product rows, what split's seals read and emitted, the quarantine) equal to a
 * clean run's, and the clean run equal to the independent reference:
 *
 * - a split replica killed after a range's batches went out but before its seal, while late rows
 *   land in that range, the chunk taken over by a replica with another batch size;
 * - a zombie master (SIGSTOP past its lease, a new master takes the day, SIGCONT): it changes nothing;
 * - `replay --from-stage transform` with a backlog of old partials still waiting for summarize;
 * - a summarize replica killed (SIGKILL), and one stopped (SIGTERM), in the middle of a merge;
 * - the whole `nightly` process group killed, and `nightly` run again at once;
 * - a bot visitor with 100,000 events and 1,000 purchases of 1,000 items each (messages over the limit).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateLines } from '../../src/seed/generate.js';
import { bucketOf } from '../../src/domain/rowkey.js';
import { referenceReport } from '../support/reference.js';
import { diffSummaries, parseLines } from '../support/compare.js';
import { createTestNamespace, eventually, type CliResult, type TestNamespace } from '../support/harness.js';
import { dayResult, logLines, startCli, type DayResult, type Running } from '../support/results.js';
import { isAlive, pidFromOwner, runRow, stagePids, stopLeftovers } from '../support/faults.js';

const DAY = '2026-11-21';
const LINES = [...generateLines({ day: DAY, events: 12_000, merchants: 6, seed: 41 })];
const INPUT = `${LINES.join('\n')}\n`;
/** Small chunks (several per day) and a short lease, so a dead holder's lease lapses in seconds. */
const ENV = { STAGELINE_CHUNK_ROWS: '1500', STAGELINE_LEASE_SEC: '6' };

const signal = (pid: number, sig: NodeJS.Signals) => { try { process.kill(pid, sig); } catch { /* gone already */ } };
const expectOk = (r: CliResult, what: string) => expect(r.code, `${what} exited ${String(r.code)}\n${r.stderr.slice(-3000)}`).toBe(0);

let clean: DayResult;
const started: Running[] = [];
/** A worker or trigger the test starts itself (not a child of nightly); stopped after each case. */
const start = (t: TestNamespace, args: string[], env: Record<string, string> = {}, detached = false): Running => {
  const r = startCli([...args, '--namespace', t.ns], { ...ENV, ...env }, { detached });
  started.push(r);
  return r;
};

afterEach(async () => {
  for (const r of started.splice(0)) {
    if (r.child.exitCode === null && r.child.signalCode === null) {
      signal(r.child.pid!, 'SIGTERM');
      await Promise.race([r.done, new Promise((res) => setTimeout(res, 20_000))]);
      signal(r.child.pid!, 'SIGKILL');
    }
  }
});

/** A day's result without how split cut it (ranges and batches follow the chunk size a run planned with). */
const numbersOf = (r: DayResult) => ({ report: r.report, products: r.products, quarantine: r.quarantine, rows: { read: r.seals.rows_read, valid: r.seals.valid } });

async function result(t: TestNamespace): Promise<DayResult> {
  const rep = await t.cli(['report', '--day', DAY, '--json']);
  expectOk(rep, 'report');
  return dayResult(t.app, DAY, rep.stdout);
}

async function newDay(prefix: string, input = INPUT): Promise<TestNamespace> {
  const t = await createTestNamespace(prefix);
  const ing = await t.cli(['ingest', '-', '--json', '--rejects', '/dev/null'], { input });
  expectOk(ing, 'ingest');
  return t;
}

describe.sequential('exact under every retry', () => {
  let t: TestNamespace;
  beforeAll(async () => {
    t = await newDay('exact');
    const night = await t.cli(['nightly', '--day', DAY, '--with-workers', '1', '--quiet'], { env: ENV });
    expectOk(night, 'clean nightly');
    clean = await result(t);
    expect(diffSummaries(clean.report.map((l) => JSON.parse(l) as Record<string, unknown>), referenceReport(LINES, DAY) as unknown as Array<Record<string, unknown>>)).toEqual([]);
    expect(clean.products.length).toBeGreaterThan(50);
    expect(clean.quarantine.total).toBeGreaterThan(0);
  }, 600_000);
  afterAll(async () => {
    await stopLeftovers(t.ns).catch(() => undefined);
    await t?.cleanup();
  });

  it('a split replica killed before its seal, late rows landing in its range, the chunk taken over by a replica with another batch size: the same result; the late rows wait as late data', async () => {
    const u = await newDay('exact1');
    try {
      // Workers of our own: the kill has to hit split alone. The master plans with 200 visitors per batch.
      start(u, ['stage', 'transform']);
      start(u, ['stage', 'summarize']);
      const splitA = start(u, ['stage', 'split'], { STAGELINE_BATCH_VISITORS: '200', STAGELINE_FAULT_PAUSE: 'split-range:60000', STAGELINE_CONCURRENCY: '1', STAGELINE_CONCURRENCY_MAX: '1' });
      const night = start(u, ['nightly', '--day', DAY, '--quiet'], { STAGELINE_BATCH_VISITORS: '200' });
      const paused = await eventually('split A paused after a range\'s batches, before its seal', async () => logLines(splitA.stderr()).find((l) => l.msg === 'fault injection: pausing'), 120_000, 100);
      const m = String(paused.merchantId);
      const lo = Number(paused.bucketLo);
      const hi = Number(paused.bucketHi);
      signal(splitA.child.pid!, 'SIGKILL');

      // Late rows of the same merchant-day, in the same bucket range, stored while the chunk is half done.
      const late: string[] = [];
      for (let i = 0; late.length < 25; i++) {
        const v = `late-visitor-${i}`;
        const b = bucketOf(v, 64);
        if (b < lo || b >= hi) continue;
        late.push(JSON.stringify({ merchant_id: m, visitor_id: v, event_id: `late-${i}`, ts: `${DAY}T12:00:00Z`, type: 'page_view' }));
      }
      const ing = await u.cli(['ingest', '-', '--json', '--rejects', '/dev/null'], { input: `${late.join('\n')}\n` });
      expectOk(ing, 'late ingest');
      expect(JSON.parse(ing.stdout)).toMatchObject({ new_events: 25, late_rows: 25, late_merchant_days: 1 });

      // Another replica, another batch size: it cuts by the plan's shape and reads the plan's snapshot.
      start(u, ['stage', 'split'], { STAGELINE_BATCH_VISITORS: '50' });
      const r = await night.done;
      expectOk(r, 'nightly');
      expect(await result(u)).toEqual(clean);
      expect(await u.app.ledger().late.ofDay(DAY)).toEqual([{ day: DAY, merchant_id: m, rows: 25 }]);
      const p = (await u.app.ledger().progress.read(DAY, 3600))!;
      expect(p.conflicts).toEqual([]);
      // The half-done split's batches were the same batches (same content, same ids): none refused.
      expect(p.merchantDays.refusedPartials).toBe(0);
    } finally {
      await u.cleanup();
    }
  });

  it('a zombie master (stopped past its lease, the day taken over, then woken) changes nothing', async () => {
    const first = start(t, ['nightly', '--day', DAY, '--with-workers', '1', '--rerun', '--quiet'], { STAGELINE_CONCURRENCY: '1', STAGELINE_CONCURRENCY_MAX: '1', STAGELINE_CHUNK_ROWS: '600' });
    const run = await eventually('epoch 2 planned and published', async () => {
      const r = await runRow(t.app, DAY);
      const p = await t.app.ledger().progress.read(DAY, 3600);
      return r && r.epoch === 2 && r.lock_owner && p && p.chunks.published === p.run.chunks && p.run.chunks > 0 && p.merchantDays.done < p.run.merchant_days ? r : false;
    }, 120_000, 50);
    const zombie = pidFromOwner(run.lock_owner!);
    signal(zombie, 'SIGSTOP');
    try {
      // The trigger run again: the lease is not renewed, it lapses, the day resumes under a new master.
      const second = await t.cli(['nightly', '--day', DAY, '--quiet'], { env: ENV });
      expectOk(second, 'nightly taking over');
      expect(second.stderr).toMatch(/waiting up to \d+ s for it to lapse/);
      const done = (await t.app.ledger().runs.get(DAY))!;
      expect(done).toMatchObject({ epoch: 2, state: 'complete', lock_owner: null, error: null });
      const chunksBefore = await t.app.ledger().plan.chunks(DAY, 2);
      signal(zombie, 'SIGCONT');
      const r = await first.done;
      expect(r.code, r.stderr).toBe(4);
      // Woken up, its lease gone: every write refused; the run is as the new master left it.
      expect(await t.app.ledger().runs.get(DAY)).toEqual(done);
      expect(await t.app.ledger().plan.chunks(DAY, 2)).toEqual(chunksBefore);
      expect(numbersOf(await result(t))).toEqual(numbersOf(clean));
    } finally {
      signal(zombie, 'SIGCONT');
    }
  });

  it('replay --from-stage transform while a backlog of old partials waits for summarize: the old ones are dropped, the result is the same', async () => {
    start(t, ['stage', 'split']);
    const transform = start(t, ['stage', 'transform']);
    const night = start(t, ['nightly', '--day', DAY, '--rerun', '--quiet']);
    // Epoch 3 without summarize: every batch transformed, its partial waiting on the topic.
    await eventually('epoch 3 sealed and transformed, nothing summarized', async () => {
      const p = await t.app.ledger().progress.read(DAY, 3600);
      return p && p.run.epoch === 3 && p.ledger.ranges > 0 && p.ledger.sealed === p.ledger.ranges && (p.work.transform?.messages ?? 0) >= p.ledger.batches && p.merchantDays.done === 0;
    }, 180_000, 200);
    signal(night.child.pid!, 'SIGTERM');
    await night.done;
    signal(transform.child.pid!, 'SIGTERM');
    await transform.done;
    await eventually('the transform group empty', async () => (await (await t.app.admin()).describeGroup(`${t.ns}.transform`)).members.length === 0, 60_000);

    const replay = await t.cli(['replay', '--day', DAY, '--from-stage', 'transform', '--with-workers', '1', '--quiet'], { env: ENV });
    expectOk(replay, 'replay from transform');
    expect((await t.app.ledger().runs.get(DAY))!).toMatchObject({ epoch: 4, state: 'complete' });
    const p = (await t.app.ledger().progress.read(DAY, 3600))!;
    expect(p.dropped.summarize ?? 0).toBeGreaterThan(0);
    expect(await result(t)).toEqual(clean);
  });

  it.each(['SIGKILL', 'SIGTERM'] as const)('a summarize replica stopped with %s in the middle of a merge: the same result', async (sig) => {
    const before = (await runRow(t.app, DAY))!.epoch;
    // 4 visitors per batch: hundreds of partials per merchant-day, so a merge runs over several pages.
    const night = start(t, ['nightly', '--day', DAY, '--with-workers', '1', '--rerun', '--quiet'], { STAGELINE_BATCH_VISITORS: '4', STAGELINE_FAULT_PAUSE: 'summarize-merge:4000' });
    const pid = await eventually('summarize in the middle of a merge', async () => {
      const r = await runRow(t.app, DAY);
      if (r?.epoch !== before + 1) return false;
      const log = await import('node:fs').then((fs) => { try { return fs.readFileSync(`${t.cfg.stack.dir}/logs/${DAY}/summarize-1.log`, 'utf8'); } catch { return ''; } });
      const pausing = logLines(log).filter((l) => l.msg === 'fault injection: pausing' && Number(l.time) > r.started_ms);
      const [p] = stagePids(t.ns, 'summarize');
      return pausing.length > 0 && p !== undefined ? p : false;
    }, 180_000, 100);
    signal(pid, sig);
    const r = await night.done;
    expectOk(r, `nightly after ${sig} of summarize`);
    // A SIGTERMed replica drains (finishes the merge) and exits 0; the night may end before its
    // exit is seen, so only the killed one is sure to be reported as restarted.
    if (sig === 'SIGKILL') expect(r.stderr).toMatch(/worker summarize-1 exited/);
    expect(isAlive(pid)).toBe(false);
    expect(await result(t)).toEqual({ ...clean, seals: { ...clean.seals, batches: expect.any(Number) as unknown as number } });
    expect((await t.app.ledger().progress.read(DAY, 3600))!.merchantDays.refusedPartials).toBe(0);
  });

  it('the whole nightly process group killed, nightly run again at once: it resumes and exits 0', async () => {
    const night = start(t, ['nightly', '--day', DAY, '--with-workers', '1', '--rerun', '--quiet'], { STAGELINE_CONCURRENCY: '1', STAGELINE_CONCURRENCY_MAX: '1', STAGELINE_CHUNK_ROWS: '600' }, true);
    const e = (await runRow(t.app, DAY))!.epoch + 1;
    await eventually('some merchant-days done, not all', async () => {
      const p = await t.app.ledger().progress.read(DAY, 3600);
      return p && p.run.epoch === e && p.merchantDays.done > 0 && p.merchantDays.done < p.run.merchant_days;
    }, 180_000, 50);
    signal(-night.child.pid!, 'SIGKILL');
    await night.done;
    const t0 = Date.now();
    const again = await t.cli(['nightly', '--day', DAY, '--with-workers', '1', '--quiet'], { env: ENV });
    expectOk(again, 'nightly right after the kill');
    expect(again.stderr).toMatch(/is gone; released the lease, resuming/);
    expect((await t.app.ledger().runs.get(DAY))!).toMatchObject({ epoch: e, state: 'complete' });
    expect(numbersOf(await result(t))).toEqual(numbersOf(clean));
    console.log(`nightly re-run after a killed process group: complete in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });
});

describe('messages bigger than the broker takes', () => {
  it('a bot visitor with 100,000 events and 1,000 purchases of 1,000 items each is sessionized exactly, nothing dead-lettered', async () => {
    const day = DAY;
    const lines = [...generateLines({ day, events: 3000, merchants: 3, seed: 9 })];
    const t0 = Date.parse(`${day}T00:00:10Z`);
    for (let i = 0; i < 100_000; i++) {
      // 0.8 s apart, a 40-minute pause every 20,000 events: five long sessions.
      const ts = t0 + i * 800 + Math.floor(i / 20_000) * 2_400_000;
      lines.push(JSON.stringify({ merchant_id: 'crawl', visitor_id: 'bot-1', event_id: `e${i}`, ts, type: i % 2 ? 'product_view' : 'page_view', product_id: `p${i % 4000}` }));
    }
    for (let i = 0; i < 1000; i++) {
      const items = Array.from({ length: 1000 }, (_, k) => ({ product_id: `sku-${(i * 7 + k) % 5000}`, quantity: 1 + (k % 3), price_cents: 100 + (k % 900) }));
      lines.push(JSON.stringify({ merchant_id: 'crawl', visitor_id: 'buyer-1', event_id: `o${i}`, ts: t0 + i * 60_000, type: 'purchase', order_id: `order-${i % 900}`, order_total_cents: 50_000 + i, items }));
    }
    const t = await newDay('bigmsg', `${lines.join('\n')}\n`);
    try {
      const night = await t.cli(['nightly', '--day', day, '--with-workers', '1', '--quiet'], { env: ENV });
      expectOk(night, 'nightly');
      const rep = await t.cli(['report', '--day', day, '--json']);
      expectOk(rep, 'report');
      expect(diffSummaries(parseLines(rep.stdout), referenceReport(lines, day) as unknown as Array<Record<string, unknown>>)).toEqual([]);
      expect(await t.app.ledger().deadLetters.count()).toBe(0);
      const batches = (await t.app.ledger().progress.read(day, 3600))!.ledger.batches;
      expect(batches).toBeGreaterThan(20); // the two big visitors went out in fragments
    } finally {
      await t.cleanup();
    }
  }, 900_000);
});
