/**
 * The master: single-threaded, no data work. It takes the day's lease, plans once, publishes every
 * chunk not yet published, then follows the ledger until every merchant-day is done. Each step is
 * a MySQL checkpoint, so a re-spawned master resumes exactly where the dead one stopped: a planned
 * day is never re-planned, and a chunk whose publish was not recorded is published again (split
 * absorbs the duplicate).
 */
import type { App } from '../app.js';
import type { Queryable } from '../adapters/mysql.js';
import { StagelineError } from '../errors.js';
import { planDay, type ChunkRange } from '../domain/plan.js';
import { encode } from '../../schemas/index.js';
import { topicName } from '../../topology/index.js';
import { sleep } from '../retry.js';

export interface MasterOptions {
  day: string;
  /** run a completed day again under a new epoch */
  rerun: boolean;
  /** who holds the lease: host:pid:random */
  owner: string;
  /** new run ids come from the caller (ids passed in, not made up here) */
  newRunId: (epoch: number) => string;
  pollMs?: number;
  leaseSec?: number;
  onProgress?: (p: Progress) => void;
  /** test hook: called after each checkpoint with its name */
  onCheckpoint?: (name: string) => void | Promise<void>;
}

export interface Progress {
  day: string;
  epoch: number;
  state: string;
  chunks: number;
  chunksPublished: number;
  chunksSplit: number;
  merchantDays: number;
  merchantDaysDone: number;
  plannedRows: number;
  eventsDone: number;
  deadLetters: number;
  elapsedMs: number;
}

export type MasterOutcome = 'complete' | 'already-complete' | 'failed';

interface RunRow {
  day: string;
  epoch: number;
  run_id: string;
  state: 'planning' | 'running' | 'complete' | 'failed';
  lock_owner: string | null;
  lock_live: number;
}

/** Takes (or renews) the day's lease inside one transaction; refuses while another live master holds it. */
async function acquire(q: Queryable, o: MasterOptions, leaseSec: number): Promise<RunRow | 'already-complete'> {
  const [run] = await q.query<RunRow>('SELECT day, epoch, run_id, state, lock_owner, (lock_expires_at > NOW(3)) AS lock_live FROM runs WHERE day = ? FOR UPDATE', [o.day]);
  if (!run) {
    const runId = o.newRunId(1);
    await q.execute(`INSERT INTO runs (day, epoch, run_id, state, lock_owner, lock_expires_at) VALUES (?, 1, ?, 'planning', ?, NOW(3) + INTERVAL ? SECOND)`, [o.day, runId, o.owner, leaseSec]);
    return { day: o.day, epoch: 1, run_id: runId, state: 'planning', lock_owner: o.owner, lock_live: 1 };
  }
  if (run.lock_owner && run.lock_owner !== o.owner && Number(run.lock_live) === 1) {
    throw new StagelineError('CONFLICT', `a master for ${o.day} is already running (${run.lock_owner}); its lease expires if it dies`);
  }
  if (run.state === 'complete' && !o.rerun) return 'already-complete';
  if (run.state === 'complete' && o.rerun) {
    const epoch = run.epoch + 1;
    const runId = o.newRunId(epoch);
    await q.execute(`UPDATE runs SET epoch = ?, run_id = ?, state = 'planning', from_stage = 'split', chunks = 0, merchant_days = 0, planned_rows = 0, error = NULL, completed_at = NULL, first_publish_at = NULL, started_at = NOW(3), lock_owner = ?, lock_expires_at = NOW(3) + INTERVAL ? SECOND WHERE day = ?`, [epoch, runId, o.owner, leaseSec, o.day]);
    return { ...run, epoch, run_id: runId, state: 'planning', lock_owner: o.owner };
  }
  // planning, running, or failed: resume the recorded epoch.
  const state = run.state === 'failed' ? 'running' : run.state;
  await q.execute('UPDATE runs SET state = ?, error = NULL, lock_owner = ?, lock_expires_at = NOW(3) + INTERVAL ? SECOND WHERE day = ?', [state, o.owner, leaseSec, o.day]);
  return { ...run, state, lock_owner: o.owner };
}

async function renewLease(app: App, o: MasterOptions, leaseSec: number): Promise<void> {
  const r = await app.db().execute('UPDATE runs SET lock_expires_at = NOW(3) + INTERVAL ? SECOND WHERE day = ? AND lock_owner = ?', [leaseSec, o.day, o.owner]);
  if (r.affectedRows === 0) throw new StagelineError('CONFLICT', `lost the lease on ${o.day} to another master`);
}

async function plan(app: App, run: RunRow): Promise<void> {
  const db = app.db();
  const counts = await db.query<{ merchant_id: string; bucket: number; rows: number }>('SELECT merchant_id, bucket, rows_stored AS `rows` FROM raw_buckets WHERE day = ? AND rows_stored > 0', [run.day]);
  const p = planDay(run.day, run.epoch, counts.map((c) => ({ merchant_id: c.merchant_id, bucket: Number(c.bucket), rows: Number(c.rows) })), app.topology.buckets, app.cfg.pipeline.chunkRows);
  await db.tx(async (q) => {
    // INSERT IGNORE throughout: a master that died after part of this transaction? No such thing
    // (it is one transaction), but a re-run of the same plan must still be a no-op.
    for (let i = 0; i < p.chunks.length; i += 200) {
      const part = p.chunks.slice(i, i + 200);
      await q.execute(`INSERT IGNORE INTO run_chunks (day, epoch, chunk_id, seq, ranges, est_rows) VALUES ${part.map(() => '(?, ?, ?, ?, ?, ?)').join(', ')}`,
        part.flatMap((c) => [run.day, run.epoch, c.chunk_id, c.seq, JSON.stringify(c.ranges), c.est_rows]));
      const ledger = part.flatMap((c) => c.ranges.map((r) => [run.day, run.epoch, c.chunk_id, r.merchant_id, r.bucket_lo, r.bucket_hi]));
      await q.execute(`INSERT IGNORE INTO chunk_ledger (day, epoch, chunk_id, merchant_id, bucket_lo, bucket_hi) VALUES ${ledger.map(() => '(?, ?, ?, ?, ?, ?)').join(', ')}`, ledger.flat());
    }
    for (let i = 0; i < p.merchantDays.length; i += 500) {
      const part = p.merchantDays.slice(i, i + 500);
      await q.execute(`INSERT IGNORE INTO merchant_days (day, epoch, merchant_id, chunks, est_rows) VALUES ${part.map(() => '(?, ?, ?, ?, ?)').join(', ')}`, part.flatMap((m) => [run.day, run.epoch, m.merchant_id, m.chunks, m.est_rows]));
    }
    await q.execute("UPDATE runs SET state = 'running', chunks = ?, merchant_days = ?, planned_rows = ? WHERE day = ? AND epoch = ?", [p.chunks.length, p.merchantDays.length, p.totalRows, run.day, run.epoch]);
  });
  const sizes = p.chunks.map((c) => c.est_rows).sort((a, b) => a - b);
  app.log.info({ day: run.day, epoch: run.epoch, chunks: p.chunks.length, merchantDays: p.merchantDays.length, rows: p.totalRows, chunkRowsMin: sizes[0] ?? 0, chunkRowsMedian: sizes[Math.floor(sizes.length / 2)] ?? 0, chunkRowsMax: sizes[sizes.length - 1] ?? 0 }, 'day planned');
}

/** Publishes the given chunks (one Kafka request per 100), then records them as published. */
export async function publishChunks(app: App, run: RunRow, chunks: Array<{ chunk_id: string; ranges: ChunkRange[]; publish_count: number }>, onCheckpoint?: (name: string) => void | Promise<void>): Promise<void> {
  if (chunks.length === 0) return;
  const producer = await app.producer();
  const topic = topicName(app.cfg.namespace, 'chunks');
  for (let i = 0; i < chunks.length; i += 100) {
    const part = chunks.slice(i, i + 100);
    await producer.send(topic, part.map((c) => ({
      key: c.chunk_id,
      value: encode('ChunkTask', { day: run.day, epoch: run.epoch, run_id: run.run_id, chunk_id: c.chunk_id, attempt: c.publish_count + 1, ranges: c.ranges, published_at: Date.now() }),
    })));
    await app.db().execute(`UPDATE run_chunks SET published_at = NOW(3), publish_count = publish_count + 1 WHERE day = ? AND epoch = ? AND chunk_id IN (${part.map(() => '?').join(', ')})`, [run.day, run.epoch, ...part.map((c) => c.chunk_id)]);
    await app.db().execute('UPDATE runs SET first_publish_at = COALESCE(first_publish_at, NOW(3)) WHERE day = ?', [run.day]);
    await onCheckpoint?.('published-part');
  }
}

export async function readProgress(app: App, day: string, epoch: number, startedAt: number): Promise<Progress> {
  const db = app.db();
  const [r] = await db.query<{ state: string; chunks: number; merchant_days: number; planned_rows: number }>('SELECT state, chunks, merchant_days, planned_rows FROM runs WHERE day = ?', [day]);
  const [c] = await db.query<{ published: number; split: number }>('SELECT SUM(published_at IS NOT NULL) AS published, SUM(split_done_at IS NOT NULL) AS split FROM run_chunks WHERE day = ? AND epoch = ?', [day, epoch]);
  const [m] = await db.query<{ done: number; events: number }>("SELECT SUM(state = 'done') AS done, SUM(COALESCE(events, 0) + COALESCE(invalid_events, 0)) AS events FROM merchant_days WHERE day = ? AND epoch = ?", [day, epoch]);
  const [d] = await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM dead_letters WHERE failed_at >= (SELECT started_at FROM runs WHERE day = ?)', [day]);
  return {
    day, epoch, state: r?.state ?? 'unknown', chunks: Number(r?.chunks ?? 0), chunksPublished: Number(c?.published ?? 0), chunksSplit: Number(c?.split ?? 0),
    merchantDays: Number(r?.merchant_days ?? 0), merchantDaysDone: Number(m?.done ?? 0), plannedRows: Number(r?.planned_rows ?? 0), eventsDone: Number(m?.events ?? 0), deadLetters: Number(d?.n ?? 0), elapsedMs: Date.now() - startedAt,
  };
}

export async function runMaster(app: App, o: MasterOptions): Promise<MasterOutcome> {
  const leaseSec = o.leaseSec ?? 30;
  const pollMs = o.pollMs ?? 500;
  const db = app.db();
  const t0 = Date.now();
  const got = await db.tx((q) => acquire(q, o, leaseSec));
  if (got === 'already-complete') return 'already-complete';
  const run = got;
  const log = app.log.child({ component: 'master', day: run.day, epoch: run.epoch, runId: run.run_id });
  await o.onCheckpoint?.('acquired');

  if (run.state === 'planning') {
    await plan(app, run);
    await o.onCheckpoint?.('planned');
  } else {
    log.info('resuming: the day is planned already');
  }

  const unpublished = await db.query<{ chunk_id: string; ranges: string | ChunkRange[]; publish_count: number }>('SELECT chunk_id, ranges, publish_count FROM run_chunks WHERE day = ? AND epoch = ? AND published_at IS NULL ORDER BY seq', [run.day, run.epoch]);
  await publishChunks(app, run, unpublished.map((c) => ({ ...c, ranges: typeof c.ranges === 'string' ? (JSON.parse(c.ranges) as ChunkRange[]) : c.ranges })), o.onCheckpoint);
  await o.onCheckpoint?.('published');

  let lastSignature = '';
  let lastChange = Date.now();
  for (;;) {
    await renewLease(app, o, leaseSec);
    const p = await readProgress(app, run.day, run.epoch, t0);
    o.onProgress?.(p);
    if (p.merchantDaysDone >= p.merchantDays) break;
    const [pc] = await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM partials WHERE day = ? AND epoch = ?', [run.day, run.epoch]);
    const signature = `${p.chunksSplit}/${p.merchantDaysDone}/${pc?.n ?? 0}`;
    if (signature !== lastSignature) {
      lastSignature = signature;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > app.cfg.pipeline.stuckAfterSec * 1000) {
      const outcome = await republishStuck(app, run, log);
      if (outcome === 'failed') return 'failed';
      lastChange = Date.now();
    }
    await sleep(pollMs);
  }
  await db.execute("UPDATE runs SET state = 'complete', completed_at = NOW(3), lock_owner = NULL, lock_expires_at = NULL WHERE day = ? AND epoch = ?", [run.day, run.epoch]);
  await o.onCheckpoint?.('complete');
  log.info({ elapsedMs: Date.now() - t0 }, 'run complete');
  return 'complete';
}

/**
 * No progress for stuckAfterSec: the chunks of unfinished merchant-days are split again (their
 * seal is cleared so split redoes them; every downstream write absorbs what was already done).
 * After maxRepublish rounds the run is marked failed with the list of what is stuck.
 */
async function republishStuck(app: App, run: RunRow, log: App['log']): Promise<'republished' | 'failed'> {
  const db = app.db();
  const stuck = await db.query<{ chunk_id: string; ranges: string | ChunkRange[]; publish_count: number; split_done_at: string | null }>(
    `SELECT DISTINCT rc.chunk_id, rc.ranges, rc.publish_count, rc.split_done_at FROM run_chunks rc
     JOIN chunk_ledger cl ON cl.day = rc.day AND cl.epoch = rc.epoch AND cl.chunk_id = rc.chunk_id
     JOIN merchant_days md ON md.day = cl.day AND md.epoch = cl.epoch AND md.merchant_id = cl.merchant_id
     WHERE rc.day = ? AND rc.epoch = ? AND md.state = 'pending' ORDER BY rc.chunk_id`, [run.day, run.epoch]);
  const exhausted = stuck.filter((c) => c.publish_count > app.cfg.pipeline.maxRepublish);
  if (exhausted.length > 0) {
    const [dl] = await db.query<{ stage: string; error: string }>('SELECT stage, error FROM dead_letters ORDER BY failed_at DESC LIMIT 1');
    const report = `stuck after ${app.cfg.pipeline.maxRepublish} re-publications: chunks ${exhausted.map((c) => `${c.chunk_id} (${c.split_done_at ? 'split done; waiting on transform/summarize' : 'waiting on split'})`).join(', ')}${dl ? `; last dead letter: ${dl.stage}: ${dl.error}` : ''}`;
    await db.execute("UPDATE runs SET state = 'failed', error = ?, lock_owner = NULL, lock_expires_at = NULL WHERE day = ? AND epoch = ?", [report, run.day, run.epoch]);
    log.error({ report }, 'run failed');
    return 'failed';
  }
  log.warn({ chunks: stuck.map((c) => c.chunk_id) }, 'no progress: re-publishing chunks of unfinished merchant-days');
  await db.execute(`UPDATE run_chunks SET split_done_at = NULL WHERE day = ? AND epoch = ? AND chunk_id IN (${stuck.map(() => '?').join(', ') || "''"})`, [run.day, run.epoch, ...stuck.map((c) => c.chunk_id)]);
  await publishChunks(app, run, stuck.map((c) => ({ chunk_id: c.chunk_id, ranges: typeof c.ranges === 'string' ? (JSON.parse(c.ranges) as ChunkRange[]) : c.ranges, publish_count: c.publish_count })));
  return 'republished';
}
