/**
 * The web page's reads: run state through the ledger's read model (the same `progress.read` and
 * chunk reports `status` uses), results through src/report.ts. Nothing here writes.
 */
import type { App } from '../app.js';
import { buildStatus, readStatusInput } from '../status.js';
import { readReport } from '../report.js';
import { addDays } from '../domain/zones.js';
import { dayItems, merchantsByEvents, throughput, timeline, type DayItem, type DayView, type MerchantView } from './model.js';

/** Every day with a run (newest first), labelled. */
export async function readDays(app: App, today: string): Promise<DayItem[]> {
  const ledger = app.ledger();
  const [runs, late] = await Promise.all([ledger.runs.range('1970-01-01', today), ledger.late.days()]);
  return dayItems(runs, late);
}

export async function readDay(app: App, day: string): Promise<DayView | undefined> {
  const input = await readStatusInput(app, day);
  if (!input) return undefined;
  const status = buildStatus(input);
  const ledger = app.ledger();
  const [chunks, report, deadLetters, late] = await Promise.all([
    ledger.progress.chunkReports(day, status.epoch),
    readReport(app, day),
    ledger.deadLetters.list({ day }, 200),
    ledger.late.ofDay(day),
  ]);
  const bars = timeline(chunks);
  return {
    ...status,
    chunk_reports: chunks,
    timeline: bars,
    throughput: throughput(bars),
    merchants: merchantsByEvents(report.map((r) => JSON.parse(r.json) as Record<string, unknown>)),
    dead_letter_rows: deadLetters,
    late_merchant_days: late.map((l) => ({ merchant_id: l.merchant_id, rows: l.rows })),
  };
}

/** A merchant's day and its 30 days up to it (days without a summary are left out). */
export async function readMerchant(app: App, day: string, merchant: string): Promise<MerchantView> {
  const days = Array.from({ length: 30 }, (_, i) => addDays(day, i - 29));
  const rows = await Promise.all(days.map((d) => readReport(app, d, merchant)));
  const history = rows.flatMap((r) => r.map(({ summary: s }) => ({ day: s.day, events: s.events, revenue_cents: s.revenue_cents, orders: s.orders, conversion_rate: s.conversion_rate })));
  const own = rows.at(-1)?.[0];
  return { day, merchant_id: merchant, report: own ? (JSON.parse(own.json) as Record<string, unknown>) : null, history };
}
