/**
 * Exports people load into spreadsheets and scripts: CSV per RFC 4180 of the report's merchant-day
 * rows, its per-product rows and the rejects. Pure functions over plain rows; the reads live in
 * src/report.ts.
 */
import type { DailySummary } from './domain/types.js';

export type ReportFormat = 'table' | 'json' | 'csv';
export const REPORT_FORMATS: readonly ReportFormat[] = ['table', 'json', 'csv'];

/**
 * Text cells that a spreadsheet would run as a formula (OWASP "CSV injection": a leading = + - @,
 * tab or CR) get a leading single quote. Only text that came from merchants' input (merchant and
 * product ids, reasons, raw lines) is guarded; numbers are written by us and left as numbers, so a
 * spreadsheet still sums them. The quote is visible in the cell: we prefer a visible mark to a
 * merchant id like `=HYPERLINK(...)` that runs on the analyst's machine.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

export type CsvCell = string | number | boolean | null | undefined;

/** One field: numbers as they are, text guarded against formulas and quoted when RFC 4180 needs it. */
export function csvField(v: CsvCell): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  const text = FORMULA_START.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Rows as CSV: a header row, CRLF line ends (RFC 4180), every row the header's width. */
export function toCsv(header: readonly string[], rows: ReadonlyArray<readonly CsvCell[]>): string {
  const lines = [header.map(csvField).join(','), ...rows.map((r) => header.map((_, i) => csvField(r[i])).join(','))];
  return lines.join('\r\n') + '\r\n';
}

/** The scalar columns of a merchant-day row; hourly arrays are one field each, `;`-separated. */
export const REPORT_COLUMNS = [
  'day', 'merchant_id', 'time_zone', 'day_start', 'day_end', 'epoch', 'computed_at',
  'events', 'invalid_events', 'visitors', 'sessions', 'bounced_sessions', 'session_duration_ms_total',
  'page_views', 'product_views', 'add_to_carts', 'remove_from_carts', 'purchases', 'orders',
  'revenue_cents', 'units_sold', 'converting_sessions', 'cart_abandoned_sessions', 'conversion_rate',
  'avg_order_value_cents', 'hourly_events', 'hourly_revenue_cents',
] as const;

export interface ReportLine {
  summary: DailySummary;
  epoch: number;
  computed_at: string | null;
}

export function reportCsv(rows: readonly ReportLine[]): string {
  return toCsv(REPORT_COLUMNS, rows.map(({ summary: s, epoch, computed_at }) => REPORT_COLUMNS.map((c): CsvCell => {
    if (c === 'epoch') return epoch;
    if (c === 'computed_at') return computed_at;
    const v = (s as unknown as Record<string, unknown>)[c];
    if (Array.isArray(v)) return v.join(';');
    return v as CsvCell;
  })));
}

/** One per-product row of a merchant-day (daily_products), as summarize wrote it. */
export interface ProductLine {
  day: string;
  merchant_id: string;
  epoch: number;
  product_id: string;
  views: number;
  add_to_carts: number;
  units_sold: number;
  revenue_cents: number;
}

export const PRODUCT_COLUMNS = ['day', 'merchant_id', 'epoch', 'product_id', 'views', 'add_to_carts', 'units_sold', 'revenue_cents'] as const;

export function productsCsv(rows: readonly ProductLine[]): string {
  return toCsv(PRODUCT_COLUMNS, rows.map((p) => PRODUCT_COLUMNS.map((c) => p[c])));
}

export function formatProductsTable(rows: readonly ProductLine[]): string {
  const head = ['day', 'merchant', 'product', 'views', 'carts', 'units', 'revenue'];
  const body = rows.map((p) => [p.day, p.merchant_id, p.product_id, String(p.views), String(p.add_to_carts), String(p.units_sold), (p.revenue_cents / 100).toFixed(2)]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((c, i) => (i <= 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(fmt)].join('\n');
}

/** One line of `rejects`: a line refused at ingest or a stored event the night quarantined. */
export interface RejectLine {
  kind: 'refused' | 'invalid';
  day: string;
  merchant_id: string | null;
  visitor_id?: string;
  event_id?: string;
  source?: string;
  line_no?: number;
  reason: string;
  detail: string;
  /** the raw line (quarantine) or its first bytes (ingest refusal) */
  raw: string;
}

export const REJECT_COLUMNS = ['kind', 'day', 'merchant_id', 'visitor_id', 'event_id', 'source', 'line_no', 'reason', 'detail', 'raw'] as const;

export function rejectsCsv(rows: readonly RejectLine[]): string {
  return toCsv(REJECT_COLUMNS, rows.map((r) => REJECT_COLUMNS.map((c) => r[c])));
}

/** Every day from `from` to `to` (inclusive), UTC calendar arithmetic. */
export function daysBetween(from: string, to: string): string[] {
  const out: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += 86_400_000) out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}
