/**
 * `npm run bench -- --scale`: the scale curve of issue 15. For each size (100k and 1M events; 10M
 * with --scale-10m) a fresh namespace gets a realistic big day (generateLines with one merchant at
 * 30 % of the lines and one bot visitor with 100,000 events, or a tenth of the day when the day is
 * smaller), ingested and run with `nightly --with-workers 1`, then measured:
 *   wall time and events/s (ingest, night), CPU-µs per event and peak RSS per process,
 *   MySQL rows and bytes per event (the namespace database's tables: exact row counts, InnoDB
 *   data+index bytes, before/after; plus the server-wide Innodb_rows_* and redo-log deltas, which
 *   include anyone else using the server), HBase bytes per event (logical: key + qualifier + value
 *   of every cell of the namespace's tables, read back by a scan after the night), Kafka bytes per
 *   event (the namespace's topic segment files on disk), and the largest chunk's share of the day's
 *   rows (the ledger records no chunk start time, so a chunk's own duration cannot be read back).
 */
import { readdirSync, rmSync, statSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { App } from '../src/app.js';
import { openNamespace, round, say } from './common.js';
import { generate, ingest, type IngestResult } from './day.js';
import { runNightly, type PipelineResult } from './pipeline.js';

export interface ScaleOptions {
  sizes: number[];
  merchants: number;
  day: string;
  seed: number;
  topShare: number;
  botEvents: number;
}

interface DbFootprint {
  rows: number;
  bytes: number;
  /** server-wide: Handler_write + Handler_update + Handler_delete (MariaDB has no Innodb_rows_*), Innodb_os_log_written */
  serverRowsChanged: number;
  serverRedoBytes: number;
}

export interface ScalePoint {
  events: number;
  lines: number;
  botEvents: number;
  topShare: number;
  ingest: IngestResult;
  night: Omit<PipelineResult, 'processes'>;
  /** per event of the night (valid + invalid stored events) */
  perEvent: {
    cpuUs: Record<string, number>;
    mysqlRows: number;
    mysqlBytes: number;
    mysqlServerRowsChanged: number;
    mysqlServerRedoBytes: number;
    hbaseBytes: Record<string, number>;
    kafkaBytes: Record<string, number>;
  };
  peakRssMb: Record<string, number>;
  /**
   * The largest chunk (planned rows) and its share of the day's rows: with one split replica its
   * share of split's work. The ledger has no per-chunk start time, so its own duration is unknown;
   * `lastSplitDoneMs` (first publish → the last chunk's split done) includes queueing.
   */
  largestChunk: { chunkId: string; estRows: number; shareOfRows: number; lastSplitDoneMs: number; lastSplitShareOfNight: number };
  slowestMerchantDay: { merchantId: string; ms: number; shareOfNight: number; events: number };
  chunks: number;
}

async function dbFootprint(app: App): Promise<DbFootprint> {
  const db = app.db();
  const tables = await db.query<{ t: string; bytes: string | number }>(
    'SELECT table_name AS t, data_length + index_length AS bytes FROM information_schema.tables WHERE table_schema = ?', [app.cfg.mysql.database]);
  let rows = 0;
  let bytes = 0;
  for (const t of tables) {
    const [c] = await db.query<{ n: string | number }>(`SELECT COUNT(*) AS n FROM \`${t.t.replace(/`/g, '')}\``);
    rows += Number(c?.n ?? 0);
    bytes += Number(t.bytes);
  }
  const status = await db.query<{ Variable_name: string; Value: string }>("SHOW GLOBAL STATUS WHERE Variable_name IN ('Handler_write', 'Handler_update', 'Handler_delete', 'Innodb_os_log_written')");
  const v = (n: string) => Number(status.find((s) => s.Variable_name === n)?.Value ?? 0);
  return { rows, bytes, serverRowsChanged: v('Handler_write') + v('Handler_update') + v('Handler_delete'), serverRedoBytes: v('Innodb_os_log_written') };
}

/** Logical bytes of every cell in a table (what the writers sent, after overwrites). */
async function tableBytes(app: App, table: string): Promise<number> {
  let n = 0;
  for await (const row of app.hbase().scan(table, { caching: 1000 })) {
    for (const c of row.cells) n += row.key.length + c.family.length + c.qualifier.length + c.value.length;
  }
  return n;
}

/** Bytes of the namespace's topics' segment files in the stack's Kafka log directory. */
function kafkaBytes(stackDir: string, ns: string): Record<string, number> {
  const dir = join(stackDir, 'kafka', 'data');
  const out: Record<string, number> = {};
  for (const d of readdirSync(dir)) {
    if (!d.startsWith(`${ns}.`)) continue;
    const topic = d.slice(ns.length + 1).replace(/-\d+$/, '');
    for (const f of readdirSync(join(dir, d))) if (f.endsWith('.log')) out[topic] = (out[topic] ?? 0) + statSync(join(dir, d, f)).size;
  }
  return out;
}

async function point(o: ScaleOptions, events: number): Promise<ScalePoint> {
  const b = await openNamespace(undefined, true);
  const work = join(tmpdir(), `stageline-scale-${b.ns}`);
  mkdirSync(work, { recursive: true });
  try {
    const bot = Math.min(o.botEvents, Math.floor(events / 10));
    const file = join(work, 'events.ndjson');
    say(`scale ${events.toLocaleString('en-US')}: generating (${o.merchants} merchants, merchant 0 at ${o.topShare * 100} %, bot ${bot.toLocaleString('en-US')} events) in ${b.ns}`);
    const g = await generate(file, { day: o.day, events, merchants: o.merchants, seed: o.seed, topShare: o.topShare, botEvents: bot });
    const ing = await ingest(b.ns, file, g);
    rmSync(file, { force: true });
    say(`scale ${events.toLocaleString('en-US')}: ingest ${ing.eventsPerSec} lines/s; night`);
    const db0 = await dbFootprint(b.app);
    const { processes: _p, ...night } = await runNightly(b.app, b.ns, o.day, 1, false);
    const db1 = await dbFootprint(b.app);
    say(`scale ${events.toLocaleString('en-US')}: night ${Math.round(night.eventsPerSec)} events/s; measuring footprints`);
    const ev = Math.max(1, night.events);
    const hb: Record<string, number> = {};
    for (const [k, t] of Object.entries(b.app.tables)) hb[k] = round((await tableBytes(b.app, t)) / ev, 1);
    const kb = Object.fromEntries(Object.entries(kafkaBytes(b.cfg.stack.dir, b.ns)).map(([k, v]) => [k, round(v / ev, 1)]));
    const [chunk] = await b.app.db().query<{ chunk_id: string; est_rows: string | number; total: string | number }>(
      'SELECT chunk_id, est_rows, (SELECT SUM(est_rows) FROM run_chunks WHERE day = ? AND epoch = ?) AS total FROM run_chunks WHERE day = ? AND epoch = ? ORDER BY est_rows DESC LIMIT 1', [o.day, night.epoch, o.day, night.epoch]);
    const [lastSplit] = await b.app.db().query<{ ms: string | number }>(
      'SELECT TIMESTAMPDIFF(MICROSECOND, r.first_publish_at, MAX(c.split_done_at)) / 1000 AS ms FROM run_chunks c JOIN runs r ON r.day = c.day WHERE c.day = ? AND c.epoch = ? GROUP BY r.first_publish_at', [o.day, night.epoch]);
    const [md] = await b.app.db().query<{ merchant_id: string; ms: string | number; ev: string | number }>(
      'SELECT md.merchant_id, TIMESTAMPDIFF(MICROSECOND, r.first_publish_at, md.done_at) / 1000 AS ms, COALESCE(md.events, 0) + COALESCE(md.invalid_events, 0) AS ev FROM merchant_days md JOIN runs r ON r.day = md.day WHERE md.day = ? AND md.epoch = ? ORDER BY ms DESC LIMIT 1', [o.day, night.epoch]);
    const [nChunks] = await b.app.db().query<{ n: number }>('SELECT COUNT(*) AS n FROM run_chunks WHERE day = ? AND epoch = ?', [o.day, night.epoch]);
    const cpuUs: Record<string, number> = { ingest: round((ing.cpuMs * 1000) / Math.max(1, ing.lines), 2) };
    for (const [s, m] of Object.entries(night.stages)) cpuUs[s] = m.usPerEvent;
    cpuUs.master = round((night.master.cpuMs * 1000) / ev, 2);
    const peakRssMb: Record<string, number> = { ingest: ing.peakRssMb, master: night.master.peakRssMb };
    for (const [s, m] of Object.entries(night.stages)) peakRssMb[s] = m.peakRssMb;
    return {
      events, lines: ing.lines, botEvents: bot, topShare: o.topShare, ingest: ing, night,
      perEvent: {
        cpuUs,
        mysqlRows: round((db1.rows - db0.rows) / ev, 3),
        mysqlBytes: round((db1.bytes - db0.bytes) / ev, 1),
        mysqlServerRowsChanged: round((db1.serverRowsChanged - db0.serverRowsChanged) / ev, 3),
        mysqlServerRedoBytes: round((db1.serverRedoBytes - db0.serverRedoBytes) / ev, 1),
        hbaseBytes: hb,
        kafkaBytes: kb,
      },
      peakRssMb,
      largestChunk: {
        chunkId: chunk?.chunk_id ?? '?', estRows: Number(chunk?.est_rows ?? 0), shareOfRows: round(Number(chunk?.est_rows ?? 0) / Math.max(1, Number(chunk?.total ?? 0)), 3),
        lastSplitDoneMs: Math.round(Number(lastSplit?.ms ?? 0)), lastSplitShareOfNight: round(Number(lastSplit?.ms ?? 0) / Math.max(1, night.windowMs), 2),
      },
      slowestMerchantDay: { merchantId: md?.merchant_id ?? '?', ms: Math.round(Number(md?.ms ?? 0)), shareOfNight: round(Number(md?.ms ?? 0) / Math.max(1, night.windowMs), 2), events: Number(md?.ev ?? 0) },
      chunks: Number(nChunks?.n ?? 0),
    };
  } finally {
    say(`scale ${events.toLocaleString('en-US')}: dropping ${b.ns}`);
    await b.cleanup();
    rmSync(work, { recursive: true, force: true });
  }
}

export async function runScale(o: ScaleOptions): Promise<ScalePoint[]> {
  const out: ScalePoint[] = [];
  for (const n of o.sizes) out.push(await point(o, n));
  return out;
}

const fmt = (r: Record<string, number>): string => Object.entries(r).map(([k, v]) => `${k} ${v}`).join(', ');

export function scaleTable(points: readonly ScalePoint[]): string[] {
  const lines: string[] = [];
  for (const p of points) {
    const ingestS = p.ingest.wallMs / 1000;
    const nightS = p.night.wallMs / 1000;
    lines.push(`${p.events.toLocaleString('en-US')} events requested (${p.lines.toLocaleString('en-US')} lines, ${p.night.events.toLocaleString('en-US')} stored events of the day, merchant 0 at ${p.topShare * 100} %, bot ${p.botEvents.toLocaleString('en-US')} events, ${p.chunks} chunks):`);
    lines.push(`  wall: ingest ${round(ingestS, 1)} s = ${p.ingest.eventsPerSec.toLocaleString('en-US')} lines/s; nightly ${round(nightS, 1)} s (publish→done ${round(p.night.windowMs / 1000, 1)} s = ${Math.round(p.night.eventsPerSec).toLocaleString('en-US')} events/s); machine busy in the night ${Math.round(p.night.machineBusy * 100)} %`);
    lines.push(`  CPU µs/event: ${fmt(p.perEvent.cpuUs)} (ingest per line; stages over their life)`);
    lines.push(`  peak RSS MB: ${fmt(p.peakRssMb)}`);
    lines.push(`  MySQL per event (night): ${p.perEvent.mysqlRows} rows, ${p.perEvent.mysqlBytes} B in the namespace's tables; server-wide ${p.perEvent.mysqlServerRowsChanged} rows changed, ${p.perEvent.mysqlServerRedoBytes} B redo (shared server)`);
    lines.push(`  HBase B/event (logical cells): ${fmt(p.perEvent.hbaseBytes)}`);
    lines.push(`  Kafka B/event (segments on disk): ${fmt(p.perEvent.kafkaBytes)}`);
    const c = p.largestChunk;
    lines.push(`  largest chunk: ${c.chunkId}, ${c.estRows.toLocaleString('en-US')} rows = ${round(c.shareOfRows * 100, 1)} % of the day's rows (of split's work with 1 replica); split's last chunk done ${round(c.lastSplitDoneMs / 1000, 1)} s after the first publish = ${Math.round(c.lastSplitShareOfNight * 100)} % of the night; last merchant-day done: ${p.slowestMerchantDay.merchantId} (${p.slowestMerchantDay.events.toLocaleString('en-US')} events) after ${round(p.slowestMerchantDay.ms / 1000, 1)} s`);
  }
  return lines;
}
