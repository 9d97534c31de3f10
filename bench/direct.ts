/**
 * The direct baseline for R1: one Node process scans a day's raw rows from HBase, merchant by
 * merchant over bucket range 0..buckets, and computes the summaries in memory with the same domain
 * functions the stages use. No Kafka, no MySQL ledger, no intermediate rows: what the pipeline's
 * work would cost if it were one loop, so pipeline ÷ direct shows what the staging costs.
 *
 *   node dist/bench/direct.js --namespace NS --day D [--out FILE]
 * prints one JSON stats object on stdout; FILE gets the summaries as `report --json` lines.
 */
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { App } from '../src/app.js';
import { createApp } from '../src/app.js';
import { createLogger } from '../src/log.js';
import { readStoredEvent } from '../stages/split/logic.js';
import { aggregateVisitors, emptyPartial, finalizeSummary, mergePartials } from '../src/domain/aggregate.js';
import { parseRawRowKey, rawBucketPrefix } from '../src/domain/rowkey.js';
import type { DailySummary, PartialAggregate, ValidEvent } from '../src/domain/types.js';
import { canonicalJson } from '../stages/summarize/logic.js';
import { benchConfig } from './common.js';

/** Same scanner caching as split, so the scan side is the same work. */
const SCAN_CACHING = 1000;
/** Visitors aggregated at once; merging is addition, so the size only bounds memory. */
const VISITORS_PER_AGGREGATE = 1000;

export interface DirectStats {
  merchants: number;
  rows: number;
  valid: number;
  invalid: number;
  wallMs: number;
  /** time inside dedupe/validate/aggregate (the rest of wallMs is waiting on and decoding the scan) */
  computeMs: number;
  cpuMs: number;
  eventsPerSec: number;
}

export async function merchantsOfDay(app: App, day: string): Promise<Array<{ merchant_id: string; rows: number }>> {
  const rows = await app.db().query<{ merchant_id: string; rows: number }>('SELECT merchant_id, SUM(rows_stored) AS `rows` FROM raw_buckets WHERE day = ? AND rows_stored > 0 GROUP BY merchant_id ORDER BY merchant_id', [day]);
  return rows.map((r) => ({ merchant_id: r.merchant_id, rows: Number(r.rows) }));
}

export async function directSummaries(app: App, day: string): Promise<{ summaries: DailySummary[]; stats: DirectStats }> {
  const merchants = await merchantsOfDay(app, day);
  const buckets = app.topology.buckets;
  const hbase = app.hbase();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let computeMs = 0;
  let rows = 0;
  let valid = 0;
  let invalidTotal = 0;
  const summaries: DailySummary[] = [];
  for (const { merchant_id } of merchants) {
    let merged: PartialAggregate = emptyPartial();
    let invalid = 0;
    let pending: Array<{ visitor_id: string; events: ValidEvent[] }> = [];
    let visitorId: string | undefined;
    let events: ValidEvent[] = [];
    const closeVisitor = () => {
      if (visitorId !== undefined && events.length > 0) pending.push({ visitor_id: visitorId, events });
      events = [];
      if (pending.length >= VISITORS_PER_AGGREGATE) {
        merged = mergePartials(merged, aggregateVisitors(merchant_id, day, pending).partial);
        pending = [];
      }
    };
    const scan = hbase.scan(app.tables.raw, { startRow: rawBucketPrefix(merchant_id, day, 0), stopRow: rawBucketPrefix(merchant_id, day, buckets), caching: SCAN_CACHING });
    for await (const row of scan) {
      const c0 = performance.now();
      rows++;
      const key = parseRawRowKey(row.key);
      if (key.visitor_id !== visitorId) {
        closeVisitor();
        visitorId = key.visitor_id;
      }
      const { res } = readStoredEvent(row.cells, key);
      if (res.ok) {
        valid++;
        events.push(res.event);
      } else {
        invalid++;
      }
      computeMs += performance.now() - c0;
    }
    const c0 = performance.now();
    closeVisitor();
    if (pending.length > 0) merged = mergePartials(merged, aggregateVisitors(merchant_id, day, pending).partial);
    summaries.push(finalizeSummary(merchant_id, day, merged, invalid));
    invalidTotal += invalid;
    computeMs += performance.now() - c0;
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return {
    summaries,
    stats: { merchants: merchants.length, rows, valid, invalid: invalidTotal, wallMs, computeMs, cpuMs: (cpu.user + cpu.system) / 1000, eventsPerSec: rows / (wallMs / 1000) },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { namespace: { type: 'string' }, day: { type: 'string' }, out: { type: 'string' } } });
  if (!values.namespace || !values.day) throw new Error('usage: direct.js --namespace NS --day D [--out FILE]');
  const cfg = benchConfig(values.namespace);
  const app = createApp(cfg, createLogger(cfg.log));
  try {
    const { summaries, stats } = await directSummaries(app, values.day);
    if (values.out) writeFileSync(values.out, summaries.map((s) => canonicalJson(s) + '\n').join(''));
    process.stdout.write(JSON.stringify(stats) + '\n');
  } finally {
    await app.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then(
    () => setTimeout(() => process.exit(0), 100).unref(),
    (err: unknown) => {
      process.stderr.write(`direct: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
