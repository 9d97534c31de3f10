/**
 * Reading results back for people and scripts: summaries from HBase (already in merchant order by
 * row key), quarantined events and dead letters from MySQL.
 */
import type { App } from './app.js';
import { dayBytes, prefixEnd, summaryRowKey } from './domain/rowkey.js';
import type { DailySummary } from './domain/types.js';
import type { RejectsView } from './ledger/types.js';

export interface ReportRow {
  summary: DailySummary;
  /** the canonical JSON as stored: what `report --json` prints */
  json: string;
}

export async function readReport(app: App, day: string, merchant?: string): Promise<ReportRow[]> {
  const rows: ReportRow[] = [];
  const hbase = app.hbase();
  const push = (value: Buffer | undefined) => {
    if (!value) return;
    const json = value.toString('utf8');
    rows.push({ json, summary: JSON.parse(json) as DailySummary });
  };
  if (merchant !== undefined) {
    const row = await hbase.get(app.tables.summaries, summaryRowKey(day, merchant));
    push(row?.cells.find((c) => c.qualifier.toString() === 'json')?.value);
    return rows;
  }
  const start = dayBytes(day);
  for await (const row of hbase.scan(app.tables.summaries, { startRow: start, stopRow: prefixEnd(start), caching: 500 })) {
    push(row.cells.find((c) => c.qualifier.toString() === 'json')?.value);
  }
  return rows;
}

const n = (x: number) => x.toLocaleString('en-US');

export function formatReportTable(rows: DailySummary[]): string {
  const head = ['merchant', 'events', 'invalid', 'visitors', 'sessions', 'orders', 'revenue', 'conversion'];
  const body = rows.map((s) => [s.merchant_id.length > 24 ? `${s.merchant_id.slice(0, 21)}...` : s.merchant_id, n(s.events), n(s.invalid_events), n(s.visitors), n(s.sessions), n(s.orders), (s.revenue_cents / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }), `${(s.conversion_rate * 100).toFixed(2)}%`]);
  const total = rows.reduce((a, s) => ({ events: a.events + s.events, invalid: a.invalid + s.invalid_events, visitors: a.visitors + s.visitors, sessions: a.sessions + s.sessions, orders: a.orders + s.orders, revenue: a.revenue + s.revenue_cents, conv: a.conv + s.converting_sessions }), { events: 0, invalid: 0, visitors: 0, sessions: 0, orders: 0, revenue: 0, conv: 0 });
  if (rows.length > 1) body.push([`TOTAL (${rows.length})`, n(total.events), n(total.invalid), n(total.visitors), n(total.sessions), n(total.orders), (total.revenue / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }), `${((total.conv / Math.max(1, total.sessions)) * 100).toFixed(2)}%`]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(fmt)].join('\n');
}

export type { RejectsView };

export async function readRejects(app: App, day: string, merchant: string | undefined, limit: number): Promise<RejectsView & { deadLetters: number }> {
  const ledger = app.ledger();
  const view = await ledger.quarantine.read(day, merchant, limit);
  return { ...view, deadLetters: await ledger.deadLetters.count() };
}
