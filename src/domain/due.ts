/**
 * Merchant-days in their merchants' zones, as the pipeline uses them (issue 13): which local day an
 * event is on (ingest), each merchant-day's frame (the plan fixes it), and when a merchant-day is
 * due. Pure: the registry's histories and the clock come in as arguments.
 *
 * The due rule: merchant-day D is due once D has ended in the merchant's zone, plus a grace
 * (STAGELINE_DAY_GRACE_MIN) for the last events to arrive. A nightly run of D plans the due
 * merchant-days and leaves the others for a later run of D; a run from cron every hour completes
 * each merchant's day soon after it ends.
 */
import { createMerchantCalendar, frameOf, type MerchantCalendar, type MerchantFrame, type ZoneHistory } from './zones.js';

/** Histories by merchant; a merchant absent is UTC (an empty history). */
export type Histories = ReadonlyMap<string, ZoneHistory>;

const UTC_CALENDAR = createMerchantCalendar([]);

/**
 * One calendar per merchant, built on first use: ingest's `dayOf(merchant, ts)`. Merchants not in
 * the registry share the UTC calendar (no Intl on their hot path).
 */
export function merchantCalendars(histories: Histories): (merchantId: string) => MerchantCalendar {
  const cache = new Map<string, MerchantCalendar>();
  return (m) => {
    let c = cache.get(m);
    if (c === undefined) {
      const h = histories.get(m);
      c = h === undefined || h.length === 0 ? UTC_CALENDAR : createMerchantCalendar(h);
      cache.set(m, c);
    }
    return c;
  };
}

export interface MerchantDayDue {
  merchant_id: string;
  frame: MerchantFrame;
  /** when it becomes due: the end of its local day plus the grace (ms) */
  due_at: number;
  due: boolean;
}

/** The frame and due time of each merchant's day `day`, at `nowMs`, in merchant order. */
export function merchantDaysDue(day: string, merchants: readonly string[], histories: Histories, nowMs: number, graceMs: number): MerchantDayDue[] {
  const calendarOf = merchantCalendars(histories);
  return [...merchants].sort().map((m) => {
    const frame = frameOf(calendarOf(m).bounds(day));
    const due_at = frame.end_ms + graceMs;
    return { merchant_id: m, frame, due_at, due: nowMs >= due_at };
  });
}

/** The frame of one merchant's day (what the plan stores). */
export function frameOfMerchantDay(day: string, history: ZoneHistory | undefined): MerchantFrame {
  return frameOf((history === undefined || history.length === 0 ? UTC_CALENDAR : createMerchantCalendar(history)).bounds(day));
}
