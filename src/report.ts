/**
 * Reading results back for people and scripts: summaries from HBase (already in merchant order by
 * row key), quarantined events and dead letters from MySQL.
 */
import type { App } from './app.js';
import { prefixEnd, productEpochPrefix, summaryRowKey } from './domain/rowkey.js';
import type { ProductLine } from './export.js';
import { utcDayFrame } from './domain/zones.js';
import { canonicalJson } from '../stages/summarize/logic.js';
import type { DailySummary } from './domain/types.js';
import type { RejectsView } from './ledger/types.js';

export interface ReportRow {
  summary: DailySummary;
  /** the epoch whose summary this is, and when that epoch was planned (its numbers are as of then) */
  epoch: number;
  computed_at: string | null;
  /** what `report --json` prints: the stored summary with epoch and computed_at, keys sorted */
  json: string;
}

/**
 * The summaries of a day: for each merchant-day the newest epoch that finished (the ledger says
 * which), read from its own epoch's row. A re-run in progress shows the previous result until its
 * own is written; an older epoch's row is never read once a newer one is done.
 */
export async function readReport(app: App, day: string, merchant?: string): Promise<ReportRow[]> {
  const epochs = (await app.ledger().merchantDays.epochs(day)).filter((e) => e.done_epoch !== undefined && (merchant === undefined || e.merchant_id === merchant));
  const rows = await app.hbase().getMany(app.tables.summaries, epochs.map((e) => summaryRowKey(day, e.merchant_id, e.done_epoch!)));
  const out: ReportRow[] = [];
  epochs.forEach((e, i) => {
    const value = rows[i]?.cells.find((c) => c.qualifier.toString() === 'json')?.value;
    if (!value) return;
    // A summary written before zones carries no zone: its day was a UTC day.
    const utc = utcDayFrame(day);
    const summary = { time_zone: utc.time_zone, day_start: utc.start_iso, day_end: utc.end_iso, ...(JSON.parse(value.toString('utf8')) as Partial<DailySummary>) } as DailySummary;
    const computed_at = e.computed_at === undefined ? null : new Date(e.computed_at).toISOString();
    out.push({ summary, epoch: e.done_epoch!, computed_at, json: canonicalJson({ ...summary, epoch: e.done_epoch!, computed_at }) });
  });
  return out;
}

/**
 * The per-product rows (every product, not only the top 10) of the report's merchant-days, read
 * from each one's shown epoch; in merchant order, then product id (the row key's order).
 */
export async function readProducts(app: App, rows: readonly ReportRow[]): Promise<ProductLine[]> {
  const out: ProductLine[] = [];
  for (const r of rows) {
    const prefix = productEpochPrefix(r.summary.day, r.summary.merchant_id, r.epoch);
    for await (const row of app.hbase().scan(app.tables.products, { startRow: prefix, stopRow: prefixEnd(prefix), caching: 1000 })) {
      const value = row.cells.find((c) => c.qualifier.toString() === 'd')?.value;
      if (!value) continue;
      const p = JSON.parse(value.toString('utf8')) as Omit<ProductLine, 'day' | 'merchant_id' | 'epoch'>;
      out.push({ day: r.summary.day, merchant_id: r.summary.merchant_id, epoch: r.epoch, product_id: p.product_id, views: p.views, add_to_carts: p.add_to_carts, units_sold: p.units_sold, revenue_cents: p.revenue_cents });
    }
  }
  return out;
}

const n = (x: number) => x.toLocaleString('en-US');

export function formatReportTable(rows: DailySummary[], withDay = false): string {
  if (withDay) {
    // A range: one table per day, so each day keeps its own total.
    const days = [...new Set(rows.map((r) => r.day))];
    return days.map((d) => `${d}\n${formatReportTable(rows.filter((r) => r.day === d))}`).join('\n\n');
  }
  const head = ['merchant', 'zone', 'events', 'invalid', 'visitors', 'sessions', 'orders', 'revenue', 'conversion'];
  const body = rows.map((s) => [s.merchant_id.length > 24 ? `${s.merchant_id.slice(0, 21)}...` : s.merchant_id, s.time_zone, n(s.events), n(s.invalid_events), n(s.visitors), n(s.sessions), n(s.orders), (s.revenue_cents / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }), `${(s.conversion_rate * 100).toFixed(2)}%`]);
  const total = rows.reduce((a, s) => ({ events: a.events + s.events, invalid: a.invalid + s.invalid_events, visitors: a.visitors + s.visitors, sessions: a.sessions + s.sessions, orders: a.orders + s.orders, revenue: a.revenue + s.revenue_cents, conv: a.conv + s.converting_sessions }), { events: 0, invalid: 0, visitors: 0, sessions: 0, orders: 0, revenue: 0, conv: 0 });
  if (rows.length > 1) body.push([`TOTAL (${rows.length})`, '', n(total.events), n(total.invalid), n(total.visitors), n(total.sessions), n(total.orders), (total.revenue / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }), `${((total.conv / Math.max(1, total.sessions)) * 100).toFixed(2)}%`]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((c, i) => (i <= 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(fmt)].join('\n');
}

export type { RejectsView };

export async function readRejects(app: App, day: string, merchant: string | undefined, limit: number): Promise<RejectsView & { deadLetters: number }> {
  const ledger = app.ledger();
  const view = await ledger.quarantine.read(day, merchant, limit);
  return { ...view, deadLetters: await ledger.deadLetters.count() };
}
