/**
 * What the web page shows, as plain data: built from the ledger's read model and the report's
 * HBase reads (./read.ts), turned into HTML by ./views.ts. The pure arithmetic (a day's label, the
 * chunk timeline, throughput over time) is here, unit-tested without servers.
 */
import type { ChunkReport, DeadLetterRow, RunRecord } from '../ledger/types.js';
import type { RunStatus } from '../status.js';
import { STAGES, type StageName } from '../../stages/index.js';

/** complete, running, failed, late data waiting, not due yet (the words of issue 16). */
export type DayLabel = 'complete' | 'running' | 'failed' | 'late data waiting' | 'not due yet';

export interface DayItem {
  day: string;
  epoch: number;
  /** the run's state as `status --json` says it */
  state: string;
  label: DayLabel;
  chunks: number;
  merchant_days: number;
  planned_rows: number;
  started_at: string | null;
  completed_at: string | null;
  late_data: { merchant_days: number; rows: number } | null;
  error: string | null;
}

export function dayLabel(state: string, late: boolean): DayLabel {
  if (state === 'failed') return 'failed';
  if (state === 'running' || state === 'planning') return 'running';
  // Late rows wait for the next run whatever the day's state was: that is what someone must know.
  if (late) return 'late data waiting';
  if (state === 'waiting') return 'not due yet';
  return 'complete';
}

const isoOrNull = (ms: number | null): string | null => (ms === null || ms === 0 ? null : new Date(ms).toISOString());

/** The days, newest first. */
export function dayItems(runs: readonly RunRecord[], late: ReadonlyArray<{ day: string; merchantDays: number; rows: number }>): DayItem[] {
  const lateOf = new Map(late.map((l) => [l.day, l]));
  return [...runs].sort((a, b) => (a.day < b.day ? 1 : a.day > b.day ? -1 : 0)).map((r) => {
    const l = lateOf.get(r.day);
    return {
      day: r.day, epoch: r.epoch, state: r.state, label: dayLabel(r.state, l !== undefined), chunks: r.chunks, merchant_days: r.merchant_days, planned_rows: r.planned_rows,
      started_at: isoOrNull(r.started_at), completed_at: isoOrNull(r.completed_at), late_data: l ? { merchant_days: l.merchantDays, rows: l.rows } : null, error: r.error,
    };
  });
}

/** One bar of the chunk timeline: a chunk's time in one stage, from the work reports. */
export interface TimelineBar {
  chunk_id: string;
  stage: StageName;
  start_ms: number;
  end_ms: number;
  messages: number;
  events: number;
}

export function timeline(chunks: readonly ChunkReport[]): TimelineBar[] {
  const out: TimelineBar[] = [];
  for (const c of chunks) {
    for (const stage of STAGES) {
      const w = c.stages[stage];
      if (!w || w.first_at <= 0) continue;
      out.push({ chunk_id: c.chunk_id, stage, start_ms: w.first_at, end_ms: Math.max(w.first_at, w.last_at), messages: w.messages, events: w.events });
    }
  }
  return out;
}

/** Events per second of each stage in equal time buckets: x (seconds since the epoch) and one series per stage. */
export interface Throughput {
  bucket_sec: number;
  x: number[];
  series: Record<StageName, number[]>;
}

/**
 * Spreads each chunk's events evenly over its [first, last] span in the stage and sums them into
 * `buckets` equal slices of the run's whole span. A chunk's work report has only totals and its two
 * ends, so within a chunk the rate is a flat average; across chunks the shape is real. The sum over
 * the buckets times the bucket length is each stage's event count (tested).
 */
export function throughput(bars: readonly TimelineBar[], buckets = 40): Throughput {
  const series = Object.fromEntries(STAGES.map((s) => [s, new Array<number>(buckets).fill(0)])) as Record<StageName, number[]>;
  if (bars.length === 0) return { bucket_sec: 0, x: [], series: Object.fromEntries(STAGES.map((s) => [s, []])) as unknown as Record<StageName, number[]> };
  const t0 = Math.min(...bars.map((b) => b.start_ms));
  const t1 = Math.max(...bars.map((b) => b.end_ms), t0 + 1000);
  const width = (t1 - t0) / buckets;
  for (const b of bars) {
    const span = b.end_ms - b.start_ms;
    for (let i = 0; i < buckets; i++) {
      const lo = t0 + i * width;
      const hi = lo + width;
      // The share of the chunk's span inside the bucket (a zero-length span falls in one bucket).
      const share = span === 0 ? (b.start_ms >= lo && (b.start_ms < hi || i === buckets - 1) ? 1 : 0) : Math.max(0, Math.min(hi, b.end_ms) - Math.max(lo, b.start_ms)) / span;
      series[b.stage][i]! += b.events * share;
    }
  }
  const sec = width / 1000;
  for (const s of STAGES) series[s] = series[s].map((e) => e / sec);
  return { bucket_sec: sec, x: Array.from({ length: buckets }, (_, i) => (t0 + (i + 0.5) * width) / 1000), series };
}

/** A merchant of the day, as the merchants table lists it. */
export interface MerchantItem {
  merchant_id: string;
  events: number;
  orders: number;
  revenue_cents: number;
  conversion_rate: number;
  time_zone: string;
}

/** Everything the page of one day shows; its JSON is `status --json --chunks` plus the rest. */
export interface DayView extends RunStatus {
  chunk_reports: ChunkReport[];
  timeline: TimelineBar[];
  throughput: Throughput;
  /** the day's summaries as `report --json` prints them, by events (most first) */
  merchants: Array<Record<string, unknown>>;
  dead_letter_rows: DeadLetterRow[];
  /** this day's late rows per merchant-day, waiting for a re-run */
  late_merchant_days: Array<{ merchant_id: string; rows: number }>;
}

/** One merchant's day (`report --json --merchant M`'s object) and its last 30 days. */
export interface MerchantView {
  day: string;
  merchant_id: string;
  report: Record<string, unknown> | null;
  history: Array<{ day: string; events: number; revenue_cents: number; orders: number; conversion_rate: number }>;
}

/** The merchants of a day by events, most first (equal: merchant order). */
export function merchantsByEvents(rows: ReadonlyArray<Record<string, unknown>>): Array<Record<string, unknown>> {
  return [...rows].sort((a, b) => Number(b.events) - Number(a.events) || (String(a.merchant_id) < String(b.merchant_id) ? -1 : 1));
}
