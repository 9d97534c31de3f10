/**
 * Fault injection: one seeded day, run clean once, then run again (`--rerun`, a new epoch over the
 * same stored events) under one fault at a time. After every fault the day must complete and
 * `report --json` must equal the clean run's output byte for byte, and every summary row must have
 * been written by the faulty epoch (so an untouched old summary cannot pass for a recovered one).
 *
 * Kill points are read from the ledger (runs, run_chunks, merchant_days), never from a sleep.
 * Each case's recovery time (fault → runs.completed_at) is printed as a table at the end.
 *
 * The infrastructure outages run against a private stack (own data dir and ports: Kafka, HBase and
 * a private mariadbd), so stopping a server never disturbs the shared stack other work uses and the
 * system MariaDB is never touched.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateLines } from '../../src/seed/generate.js';
import { buildConfig } from '../../src/config.js';
import { stackDown, stackOptions, stackUp, type StackOptions } from '../../src/stack/index.js';
import { startKafka, stopKafka } from '../../src/stack/kafka.js';
import { startMysql, stopMysql } from '../../src/stack/mysql.js';
import { startHBase, stopHBase } from '../../src/stack/hbase.js';
import { sleep } from '../../src/retry.js';
import { decodeAs, encode } from '../../schemas/index.js';
import { referenceReport } from '../support/reference.js';
import { diffSummaries, parseLines } from '../support/compare.js';
import { createTestNamespace, eventually, type CliResult, type TestNamespace } from '../support/harness.js';
import {
  chunkRows, deadLetterCount, isAlive, merchantDaysDone, metricsOnly, pidFromOwner, readTopic, recoveryTable, runRow, stagePids, stopLeftovers, summaryEpochs,
  type Recovery,
} from '../support/faults.js';

const DAY = '2026-11-20';
const LINES = [...generateLines({ day: DAY, events: 24_000, merchants: 10, seed: 5 })];
const INPUT = `${LINES.join('\n')}\n`;
/** ~1000 raw rows per chunk: about 30 chunks for this day, so kill points have room. */
const BASE_ENV = { STAGELINE_CHUNK_ROWS: '1000' };

const recoveries: Recovery[] = [];
let cleanReport = '';
let cleanRunMs = 0;
const fileStart = Date.now();

afterAll(() => {
  console.log(`\nfault recovery times (day ${DAY}, ${LINES.length} events, 10 merchants)\n${recoveryTable(recoveries, cleanRunMs)}\nfaults.test.ts wall time ${((Date.now() - fileStart) / 1000).toFixed(0)} s\n`);
});

/** Kills with a signal; a process that is already gone is not an error of the test. */
function signal(pid: number, sig: NodeJS.Signals): void {
  try { process.kill(pid, sig); } catch { /* already exited */ }
}

function expectOk(r: CliResult, what: string): void {
  expect(r.code, `${what} exited ${String(r.code)}\n--- stderr ---\n${r.stderr.slice(-4000)}`).toBe(0);
}

/** The same bytes as the clean run; on a mismatch show the field-level difference first. */
function expectSameReport(stdout: string): void {
  // Only the outage block selected (`-t 7b`): no clean run to compare with, so use the reference.
  if (!cleanReport) {
    expect(diffSummaries(parseLines(stdout), referenceReport(LINES, DAY) as unknown as Array<Record<string, unknown>>)).toEqual([]);
    return;
  }
  if (metricsOnly(stdout) !== metricsOnly(cleanReport)) expect(diffSummaries(parseLines(stdout), parseLines(cleanReport))).toEqual([]);
  // The same bytes, but for the epoch and computed_at that say which computation it is.
  expect(metricsOnly(stdout)).toBe(metricsOnly(cleanReport));
}

/**
 * What every faulty run must end with: the expected epoch complete, the lease released, every
 * summary row rewritten by that epoch, and `report --json` byte-identical to the clean run.
 */
async function expectRecovered(t: TestNamespace, epoch: number, env: Record<string, string> = {}): Promise<NonNullable<Awaited<ReturnType<typeof runRow>>>> {
  const run = (await runRow(t.app, DAY))!;
  expect(run).toMatchObject({ epoch, state: 'complete', lock_owner: null });
  const epochs = await summaryEpochs(t.app, DAY);
  expect(epochs.length).toBe(run.merchant_days);
  expect(epochs.every((e) => e === epoch), `summary epochs ${epochs.join(',')}`).toBe(true);
  const rep = await t.cli(['report', '--day', DAY, '--json'], { env });
  expectOk(rep, 'report');
  expectSameReport(rep.stdout);
  return run;
}

const byOrigin = (a: { partition: number; offset: string }, b: { partition: number; offset: string }) => a.partition - b.partition || Number(a.offset) - Number(b.offset);

function record(c: string, fault: string, faultAt: number, run: { started_ms: number; completed_ms: number | null }, note?: string): void {
  recoveries.push({ case: c, fault, recoveryMs: run.completed_ms! - faultAt, runMs: run.completed_ms! - run.started_ms, ...(note ? { note } : {}) });
}

describe.sequential('faults on one seeded day (shared stack)', () => {
  let t: TestNamespace;
  const night = (args: string[], env: Record<string, string> = {}) => t.cli(['nightly', '--day', DAY, '--quiet', ...args], { env: { ...BASE_ENV, ...env } });
  const epochNow = async () => (await runRow(t.app, DAY))!.epoch;
  /** Waits until a rerun opened epoch `epoch` and its plan is in MySQL. */
  const planned = (epoch: number, timeoutMs = 60_000) => eventually(`epoch ${epoch} planned`, async () => {
    const r = await runRow(t.app, DAY);
    if (!r || r.epoch !== epoch || r.state !== 'running') return false;
    const chunks = await chunkRows(t.app, DAY, epoch);
    return chunks.length > 0 && chunks.length === r.chunks ? { run: r, chunks } : false;
  }, timeoutMs, 50);

  beforeAll(async () => {
    t = await createTestNamespace('faults');
    const ing = await t.cli(['ingest', '-', '--json', '--rejects', '/dev/null'], { input: INPUT });
    expectOk(ing, 'ingest');
    const clean = await night(['--with-workers', '1']);
    expectOk(clean, 'clean nightly');
    const rep = await t.cli(['report', '--day', DAY, '--json']);
    expectOk(rep, 'report');
    cleanReport = rep.stdout;
    const run = (await runRow(t.app, DAY))!;
    cleanRunMs = run.completed_ms! - run.started_ms;
  });
  afterEach(async (ctx) => { if (ctx.task.result?.state === 'fail' && t) await stopLeftovers(t.ns); });
  afterAll(async () => { await t?.cleanup(); });

  it('the clean run matches the independent reference', async () => {
    expect(diffSummaries(parseLines(cleanReport), referenceReport(LINES, DAY) as unknown as Array<Record<string, unknown>>)).toEqual([]);
    expect(parseLines(cleanReport).length).toBeGreaterThanOrEqual(10);
    const run = (await runRow(t.app, DAY))!;
    expect(run.chunks).toBeGreaterThanOrEqual(20);
  });

  it('1. kill -9 of the master right after planning: re-spawned, resumes the same plan; a second nightly meanwhile refuses (exit 4)', async () => {
    const e = (await epochNow()) + 1;
    // The pause only holds the kill point open; the re-spawned master resumes past 'planned'.
    const first = night(['--with-workers', '1', '--rerun'], { STAGELINE_FAULT_PAUSE: 'planned:20000' });
    const { run, chunks } = await planned(e);
    expect(chunks.every((c) => !c.published)).toBe(true);
    expect(run.lock_owner).not.toBeNull();

    // A second trigger while the first master holds the lease: refused, nothing changed.
    const second = await t.cli(['nightly', '--day', DAY, '--quiet'], { env: BASE_ENV });
    expect(second.code, second.stderr).toBe(4);
    expect(second.stderr).toMatch(/held by a live master .* that keeps renewing its lease/);
    const during = (await runRow(t.app, DAY))!;
    expect(during).toMatchObject({ epoch: e, lock_owner: run.lock_owner });

    const pid = pidFromOwner(run.lock_owner!);
    const faultAt = Date.now();
    signal(pid, 'SIGKILL');
    const r = await first;
    expectOk(r, 'nightly after master kill');
    expect(r.stderr).toMatch(/master died \(SIGKILL\)/);
    const after = await chunkRows(t.app, DAY, e);
    // Not re-planned: same chunk ids and ranges in the same epoch, each published exactly once.
    expect(after.map((c) => [c.chunk_id, c.ranges])).toEqual(chunks.map((c) => [c.chunk_id, c.ranges]));
    expect(after.every((c) => c.publish_count === 1)).toBe(true);
    const done = await expectRecovered(t, e);
    record('1', 'kill -9 master after planned', faultAt, done);
  });

  it('a nightly on a completed day without --rerun returns at once with 0 and keeps the epoch', async () => {
    const before = (await runRow(t.app, DAY))!;
    const t0 = Date.now();
    const r = await t.cli(['nightly', '--day', DAY, '--quiet'], { env: BASE_ENV });
    const ms = Date.now() - t0;
    expectOk(r, 'nightly on a completed day');
    expect(ms).toBeLessThan(15_000);
    expect(await runRow(t.app, DAY)).toEqual(before);
  });

  it('2. kill -9 of the master in the middle of publishing (several publish parts)', async () => {
    const e = (await epochNow()) + 1;
    // 150 rows per chunk → well over 100 chunks, so publishing takes several parts of 100.
    const env = { STAGELINE_CHUNK_ROWS: '150', STAGELINE_FAULT_PAUSE: 'published-part:5000' };
    const first = night(['--with-workers', '1', '--rerun'], env);
    const { chunks } = await planned(e);
    expect(chunks.length).toBeGreaterThan(100);
    const run = await eventually('some but not all chunks published', async () => {
      const cs = await chunkRows(t.app, DAY, e);
      const n = cs.filter((c) => c.published).length;
      const r = await runRow(t.app, DAY);
      return n > 0 && n < cs.length && r?.lock_owner ? { r, n } : false;
    }, 60_000, 50);
    const faultAt = Date.now();
    signal(pidFromOwner(run.r.lock_owner!), 'SIGKILL');
    const r = await first;
    expectOk(r, 'nightly after kill mid-publish');
    expect(r.stderr).toMatch(/master died \(SIGKILL\)/);
    const after = await chunkRows(t.app, DAY, e);
    expect(after.map((c) => c.chunk_id)).toEqual(chunks.map((c) => c.chunk_id));
    // The kill fell between parts (in the pause after a recorded part): nothing was published twice.
    expect(after.every((c) => c.publish_count === 1)).toBe(true);
    const done = await expectRecovered(t, e);
    record('2', `kill -9 master mid-publish (${run.n}/${chunks.length} published)`, faultAt, done, 'incl. 5 s injected pause of the re-spawned master');
  });

  it('3. kill -9 of the master while it waits for the merchant-days', async () => {
    const e = (await epochNow()) + 1;
    // Small chunks and one message at a time per worker spread the merchant-days' completions over
    // ~2.5 s instead of ~1 s, so the poll reliably lands between the first and the last.
    const first = night(['--with-workers', '1', '--rerun'], { STAGELINE_CHUNK_ROWS: '150', STAGELINE_CONCURRENCY: '1' });
    await planned(e);
    const at = await eventually('some merchant-days done, not all', async () => {
      const r = await runRow(t.app, DAY);
      const md = await merchantDaysDone(t.app, DAY, e);
      return r?.lock_owner && md.done > 0 && md.done < md.total ? { r, md } : false;
    }, 60_000, 25);
    const faultAt = Date.now();
    signal(pidFromOwner(at.r.lock_owner!), 'SIGKILL');
    const r = await first;
    expectOk(r, 'nightly after kill while waiting');
    expect(r.stderr).toMatch(/master died \(SIGKILL\)/);
    expect((await chunkRows(t.app, DAY, e)).every((c) => c.publish_count === 1)).toBe(true);
    const done = await expectRecovered(t, e);
    record('3', `kill -9 master while waiting (${at.md.done}/${at.md.total} done)`, faultAt, done);
  });

  it('4. kill -9 of one replica of each stage mid-work while the other replica runs', async () => {
    const e = (await epochNow()) + 1;
    const first = night(['--with-workers', '2', '--rerun'], { STAGELINE_CHUNK_ROWS: '150' });
    await planned(e);
    const at = await eventually('split part-way and two replicas of each stage', async () => {
      const cs = await chunkRows(t.app, DAY, e);
      const split = cs.filter((c) => c.split_done).length;
      if (split < 3 || split > cs.length * 0.7) return false;
      const pids = { split: stagePids(t.ns, 'split'), transform: stagePids(t.ns, 'transform'), summarize: stagePids(t.ns, 'summarize') };
      return Object.values(pids).every((p) => p.length === 2) ? { pids, doneBefore: new Set(cs.filter((c) => c.split_done).map((c) => c.chunk_id)), total: cs.length } : false;
    }, 60_000, 25);
    const faultAt = Date.now();
    for (const p of Object.values(at.pids)) signal(p[0]!, 'SIGKILL');
    const r = await first;
    expectOk(r, 'nightly after replica kills');
    expect(r.stderr.match(/worker \w+-\d exited \(SIGKILL\)/g)?.length).toBe(3);
    const after = await chunkRows(t.app, DAY, e);
    expect(after.every((c) => c.split_runs >= 1)).toBe(true);
    // A chunk split before the kill is never split again: its redelivery is absorbed by the ledger.
    const redoneEarly = after.filter((c) => at.doneBefore.has(c.chunk_id) && c.split_runs !== 1);
    expect(redoneEarly.map((c) => c.chunk_id)).toEqual([]);
    const redone = after.filter((c) => c.split_runs > 1).length;
    const done = await expectRecovered(t, e);
    record('4', `kill -9 split+transform+summarize replica (${at.doneBefore.size}/${at.total} split)`, faultAt, done, `${redone} chunk(s) split twice; includes Kafka session timeout (30 s)`);
  });

  it('5. every chunk task published twice: duplicates absorbed, nothing dead-lettered', async () => {
    const dlBefore = await deadLetterCount(t.app);
    const e = (await epochNow()) + 1;
    const first = night(['--with-workers', '1', '--rerun']);
    const { run, chunks } = await planned(e);
    const producer = await t.app.producer();
    const faultAt = Date.now();
    await producer.send(`${t.ns}.chunks`, chunks.map((c) => ({
      key: c.chunk_id,
      value: encode('ChunkTask', { day: DAY, epoch: e, run_id: run.run_id, chunk_id: c.chunk_id, attempt: 1, ranges: c.ranges, published_at: Date.now() }),
    })));
    const r = await first;
    expectOk(r, 'nightly with duplicate chunk tasks');
    expect(await deadLetterCount(t.app)).toBe(dlBefore);
    // A copy that arrives after the chunk was split is absorbed by the ledger. The runtime handles a
    // batch's messages concurrently, so both copies may be in their handler at once and both split
    // (harmless: every write is keyed); more than the two copies' worth of splits would be a bug.
    const after = await chunkRows(t.app, DAY, e);
    expect(after.filter((c) => c.split_runs < 1 || c.split_runs > 2).map((c) => `${c.chunk_id}:${c.split_runs}`)).toEqual([]);
    const done = await expectRecovered(t, e);
    record('5', `${chunks.length} duplicate chunk tasks`, faultAt, done, `${after.filter((c) => c.split_runs === 2).length} chunk(s) split by both copies at once`);
  });

  it('9. SIGTERM to a busy split replica: exits 0 promptly, is restarted, nothing is redone', async () => {
    const e = (await epochNow()) + 1;
    const first = night(['--with-workers', '2', '--rerun'], { STAGELINE_CHUNK_ROWS: '150' });
    await planned(e);
    const at = await eventually('split part-way with two split replicas', async () => {
      const cs = await chunkRows(t.app, DAY, e);
      const split = cs.filter((c) => c.split_done).length;
      const pids = stagePids(t.ns, 'split');
      return split >= 3 && split < cs.length * 0.7 && pids.length === 2 ? { pid: pids[0]!, split, total: cs.length } : false;
    }, 60_000, 25);
    const faultAt = Date.now();
    signal(at.pid, 'SIGTERM');
    const exitMs = await eventually('the signalled replica exits', async () => (isAlive(at.pid) ? false : Date.now() - faultAt), 35_000, 50);
    // The drain bound in stage-main is 30 s; a drained split replica should be far quicker.
    expect(exitMs).toBeLessThan(30_000);
    await eventually('the supervisor restarted it', async () => {
      const pids = stagePids(t.ns, 'split');
      return pids.length === 2 && !pids.includes(at.pid);
    }, 30_000, 100);
    const r = await first;
    expectOk(r, 'nightly after SIGTERM');
    expect(r.stderr).toMatch(/worker split-\d exited \(0\)/);
    expect(r.stderr).not.toMatch(/exited \((SIG\w+|[1-9]\d*)\)/);
    const after = await chunkRows(t.app, DAY, e);
    expect(after.filter((c) => c.split_runs !== 1).map((c) => `${c.chunk_id}:${c.split_runs}`)).toEqual([]);
    const done = await expectRecovered(t, e);
    record('9', `SIGTERM split replica (${at.split}/${at.total} split)`, faultAt, done, `replica exited 0 after ${(exitMs / 1000).toFixed(1)} s`);
  });

  it('8. replay of a completed day, full and from summarize (dry run first), equals the clean run', async () => {
    const e = await epochNow();
    const dry = await t.cli(['replay', '--day', DAY, '--from-stage', 'summarize', '--dry-run']);
    expectOk(dry, 'replay --dry-run');
    expect(dry.stdout).toContain(`replay ${DAY} from summarize: epoch ${e} → ${e + 1}`);
    expect(dry.stdout).toContain(`reset group ${t.ns}.summarize on ${t.ns}.partials:`);
    expect(dry.stdout).toMatch(/partition \d+: offsets \d+\.\.\d+ \(reset to \d+\)/);
    expect(dry.stdout).toMatch(/chunks \(\d+\): /);
    expect(await epochNow()).toBe(e);

    // Kafka resets a group only without members: a worker of the previous case may still be leaving it.
    const idle = (stage: string) => eventually(`group ${stage} without members`, async () => (await (await t.app.admin()).describeGroup(`${t.ns}.${stage}`)).members.length === 0, 60_000, 250);
    await idle('split');
    let t0 = Date.now();
    const full = await t.cli(['replay', '--day', DAY, '--with-workers', '1', '--quiet'], { env: BASE_ENV });
    expectOk(full, 'replay from split');
    let done = await expectRecovered(t, e + 1);
    // Replay keeps the chunk ids of the epoch it replays and splits each again, once.
    expect((await chunkRows(t.app, DAY, e + 1)).every((c) => c.split_runs === 1 && c.chunk_id.includes(`.e${e}.`))).toBe(true);
    record('8a', 'replay --from-stage split', t0, done, 'no fault: command start → complete');

    await idle('summarize');
    t0 = Date.now();
    const fromSummarize = await t.cli(['replay', '--day', DAY, '--from-stage', 'summarize', '--with-workers', '1', '--quiet'], { env: BASE_ENV });
    expectOk(fromSummarize, 'replay from summarize');
    done = await expectRecovered(t, e + 2);
    // Summarize-only replay keeps split's work: no chunk is split in the new epoch.
    expect((await chunkRows(t.app, DAY, e + 2)).every((c) => c.split_runs === 0 && c.split_done)).toBe(true);
    record('8b', 'replay --from-stage summarize', t0, done, 'no fault: command start → complete');
  });

  it('6. garbage and unknown-schema messages on every stage topic are dead-lettered; the run completes', async () => {
    const e = (await epochNow()) + 1;
    const dlBefore = await deadLetterCount(t.app);
    const first = night(['--with-workers', '1', '--rerun']);
    await planned(e);
    const producer = t.app.kafka().producer();
    await producer.connect();
    const sent: Array<{ stage: string; topic: string; partition: number; offset: string; code: string; value: Buffer }> = [];
    const faultAt = Date.now();
    try {
      for (const [stage, key] of [['split', 'chunks'], ['transform', 'batches'], ['summarize', 'partials']] as const) {
        const topic = `${t.ns}.${key}`;
        const garbage = Buffer.from(`not avro \u0000\u00ff ${stage}`, 'latin1');
        const unknown = Buffer.concat([Buffer.from([0xc3, 0x01]), Buffer.from('f00dfacecafebeef', 'hex'), Buffer.from('payload')]);
        for (const [value, code] of [[garbage, 'DECODE_FAILED'], [unknown, 'SCHEMA_UNKNOWN']] as const) {
          const [meta] = await producer.send({ topic, acks: -1, messages: [{ key: `poison-${stage}`, value, partition: sent.length % 6 }] });
          sent.push({ stage, topic, partition: meta!.partition, offset: meta!.baseOffset!, code, value });
        }
      }
    } finally {
      await producer.disconnect();
    }
    const r = await first;
    expectOk(r, 'nightly with poison messages');
    const done = await expectRecovered(t, e);
    expect(await deadLetterCount(t.app)).toBe(dlBefore + sent.length);

    for (const stage of ['split', 'transform', 'summarize']) {
      const mine = sent.filter((s) => s.stage === stage);
      const msgs = await readTopic(t.app, `${t.ns}.${stage}.dlq`, mine.length);
      const letters = msgs.map((m) => decodeAs('DeadLetter', m.value!));
      expect(letters.map((l) => ({ stage: l.stage, topic: l.source_topic, partition: l.partition, offset: l.offset, code: l.error_code, payload: l.payload.toString('hex') })).sort(byOrigin))
        .toEqual(mine.map((s) => ({ stage, topic: s.topic, partition: s.partition, offset: s.offset, code: s.code, payload: s.value.toString('hex') })).sort(byOrigin));
    }
    const rej = await t.cli(['rejects', '--day', DAY]);
    expectOk(rej, 'rejects');
    expect(rej.stdout).toMatch(new RegExp(`dead letters \\(messages a stage could not handle\\): ${dlBefore + sent.length}\\b`));
    record('6', `${sent.length} poison messages (2 per stage topic)`, faultAt, done);
  });
});

/**
 * Servers stopped and restarted mid-run. A private stack (own data dir, ports 19092/19093 for
 * Kafka, 12181/16100/16120 for HBase, a private mariadbd on 3317; jars from the shared cache) so the
 * outage hits only this namespace's run: other work on the shared stack and the system MariaDB are
 * never disturbed. The day's events are ingested into it again; the result must still equal the
 * clean run on the shared stack byte for byte (other chunking too: 300 rows per chunk). Each case
 * runs in a fresh namespace, so a case that fails leaves nothing the next one could trip on.
 */
describe.sequential('server outages mid-run (private stack)', () => {
  const shared = buildConfig(process.env);
  // Made in beforeAll, so a run that skips this block (`-t`) creates and leaves nothing.
  let dir = '';
  let ENV: Record<string, string> = {};
  let stack: StackOptions;
  let t: TestNamespace | undefined;
  let stackMs = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stageline-faults-'));
    ENV = {
      STAGELINE_DATA_DIR: dir,
      STAGELINE_CACHE_DIR: shared.stack.cacheDir,
      STAGELINE_KAFKA_PORT: '19092',
      STAGELINE_KAFKA_BROKERS: '127.0.0.1:19092',
      STAGELINE_KAFKA_HEAP_MB: '384',
      STAGELINE_HBASE_ZK_PORT: '12181',
      STAGELINE_HBASE_ZK: '127.0.0.1:12181',
      STAGELINE_HBASE_MASTER_PORT: '16100',
      STAGELINE_HBASE_REGIONSERVER_PORT: '16120',
      STAGELINE_HBASE_HEAP_MB: '768',
      STAGELINE_MYSQL_URL: 'mysql://root@127.0.0.1:3317',
      STAGELINE_CHUNK_ROWS: '300',
    };
    stack = stackOptions(buildConfig({ ...process.env, ...ENV }));
    const t0 = Date.now();
    await stackUp(stack, () => undefined);
    stackMs = Date.now() - t0;
  });
  // On a failure the private data dir (server logs, nightly child logs) is kept for reading.
  let keep = false;
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail') keep = true;
    // Each case has its own namespace: a run a failed case left behind is stopped and removed,
    // so it can neither disturb nor be mistaken for the next case's run.
    if (t) {
      await stopLeftovers(t.ns);
      await t.cleanup().catch(() => undefined);
      t = undefined;
    }
  });
  afterAll(async () => {
    if (!dir) return;
    await stackDown(stack);
    if (keep) console.log(`private stack logs kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh namespace on the private stack with the day's events ingested. */
  async function freshNamespace(): Promise<TestNamespace> {
    const saved = { ...process.env };
    Object.assign(process.env, ENV);
    let ns: TestNamespace;
    try { ns = await createTestNamespace('outage'); } finally {
      for (const k of Object.keys(ENV)) if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k];
    }
    const ing = await ns.cli(['ingest', '-', '--json', '--rejects', '/dev/null'], { input: INPUT, env: ENV });
    expectOk(ing, 'ingest (private stack)');
    return ns;
  }

  /**
   * In a fresh namespace: starts a night, stops a server once split is part-way (some chunks
   * split, merchant-days still pending), keeps it down for `downMs` from the moment the stop
   * began, starts it again, and checks the run recovers to the clean result.
   */
  async function outage(name: string, stop: () => Promise<unknown>, start: () => Promise<unknown>, downMs: number, o: { env?: Record<string, string> } = {}): Promise<void> {
    const ns = await freshNamespace();
    t = ns;
    const e = 1;
    const night = ns.cli(['nightly', '--day', DAY, '--quiet', '--with-workers', '1'], { env: { ...ENV, ...o.env } });
    const at = await eventually('split part-way, merchant-days pending', async () => {
      const r = await runRow(ns.app, DAY);
      if (!r || r.epoch !== e || r.state !== 'running') return false;
      const cs = await chunkRows(ns.app, DAY, e);
      const split = cs.filter((c) => c.split_done).length;
      const md = await merchantDaysDone(ns.app, DAY, e);
      return split > 0 && split < cs.length && md.done < md.total ? `${split}/${cs.length} split` : false;
    }, 60_000, 25);
    const faultAt = Date.now();
    await stop();
    const stoppedMs = Date.now() - faultAt;
    const left = downMs - (Date.now() - faultAt);
    if (left > 0) await sleep(left);
    const downFor = Date.now() - faultAt;
    const s0 = Date.now();
    await start();
    const startMs = Date.now() - s0;
    // Bounded well inside the test timeout, so a run that never recovers fails here with its stderr.
    const r = await Promise.race([night, sleep(200_000).then((): CliResult => ({ code: null, stdout: '', stderr: `(still running 200 s after the ${name} server was started again)` }))]);
    writeFileSync(join(dir, `nightly-${name}.stderr`), r.stderr);
    expectOk(r, `nightly through the ${name} outage`);
    const done = await expectRecovered(ns, e, ENV);
    const dead = await deadLetterCount(ns.app);
    // Shown, not failed on: the master's stuck-work check is the designed answer to work that
    // stalls (see the 7b note), and the report was just checked against the reference.
    const again = (await chunkRows(ns.app, DAY, e)).filter((c) => c.publish_count > 1).length;
    record('7', `${name} stopped ${(downFor / 1000).toFixed(0)} s (at ${at})`, faultAt, done, `stop took ${(stoppedMs / 1000).toFixed(1)} s, restart ${(startMs / 1000).toFixed(1)} s${dead ? `; ${dead} DEAD LETTERS` : ''}${again ? `; ${again} chunks re-published` : ''}; private stack up in ${(stackMs / 1000).toFixed(0)} s`);
    // A server that comes back is a transient failure: retried, never dead-lettered.
    expect(dead, 'messages dead-lettered during the outage').toBe(0);
  }

  it('7a. MySQL (private mariadbd) stopped and restarted mid-run', async () => {
    await outage('MySQL', () => stopMysql(stack.mysql), () => startMysql(stack.mysql, () => undefined), 30_000);
  });

  // Before producers retired a failed kafkajs producer (src/adapters/kafka.ts createProducer),
  // this case dead-lettered good chunks (out-of-order sequence numbers) in some runs. In about
  // one run of eight a merchant-day also stalled after the outage with nothing dead-lettered and
  // every stage idle, until the master re-published its chunks (not seen since, cause not found; see
  // docs/cluster.md, Open): a shorter stuck-work time than the 120 s default keeps that stall
  // inside the bound below.
  it('7b. Kafka broker stopped and restarted mid-run', async () => {
    await outage('Kafka', () => stopKafka(stack.kafka), () => startKafka(stack.kafka, () => undefined), 30_000, { env: { STAGELINE_STUCK_AFTER_SEC: '60' } });
  });

  it('7c. HBase stopped and restarted mid-run', async () => {
    await outage('HBase', () => stopHBase(stack.hbase), () => startHBase(stack.hbase, () => undefined), 30_000);
  });
});
