/**
 * Local days and hours of a merchant's time zone (issue 13), on the platform's time-zone data
 * (`Intl.DateTimeFormat` with `timeZone`, i.e. Node's ICU); no zone rules or offset tables here.
 * The rules are in docs/zones.md; in short:
 *
 * - The day of an instant is the latest local date its zone's clock has shown up to and including
 *   that instant. That is the calendar date of the instant except in the few historical zones
 *   whose clock went back across midnight (America/St_Johns 1987–2010 fell back at 00:01, so for
 *   59 minutes the date went back), where it keeps every day one contiguous interval.
 * - A day starts at the first instant whose local date is that day or later: local midnight, or
 *   the transition where midnight is skipped, and it ends where the next day starts. A day the
 *   clock skipped entirely (Pacific/Apia 2011-12-30) is empty: start = end, 0 hours.
 * - hours = ceil(length / 1 h); an instant's hour index is floor((ms − start) / 1 h).
 * - ISO strings are the local wall time with the zone's offset at that instant, the way Python's
 *   datetime.isoformat() prints them: `2026-03-08T00:00:00-08:00`, `+00:00` for a zero offset
 *   (UTC too, never `Z`), and `±HH:MM:SS` for an offset with seconds (Africa/Monrovia until 1972).
 * - A merchant's zone history [{zone, fromDay}] decides each day's zone (UTC before the first
 *   entry); days start at min(their own zone's start, every later entry's start), so switching
 *   zones never leaves a gap or an overlap: see createMerchantCalendar.
 *
 * Cost: Intl is slow (≈3–11 µs a call), so everything is memoised per zone and the calendars
 * answer "which day?" with two comparisons when instants arrive in order (docs/zones.md).
 */
import { StagelineError } from '../errors.js';

export const UTC_ZONE = 'UTC';
/** Earliest local day of any contract instant (ts 0 is 1969-12-31 west of UTC); "from the start". */
export const FIRST_DAY = '1969-12-31';
/** Latest day a raw row key (YYYYMMDD) can hold; the contract's last instants are on 10000-01-01 east of UTC. */
export const LAST_DAY = '9999-12-31';

export const MS_PER_HOUR = 3_600_000;
const MS_PER_SECOND = 1000;
const MS_PER_DAY = 86_400_000;
/**
 * Widest distance from UTC any zone has had, with room: LMT of Asia/Manila was −15:56 before 1845;
 * since 1970 the range is −12:00…+14:00. Day starts are searched inside ±this of local midnight.
 */
const MAX_ABS_OFFSET_MS = 16 * MS_PER_HOUR;
/**
 * Offsets are sampled this far apart when looking for transitions; a change and its reversal
 * closer together than this would be missed. tzdata has none (the closest are days apart).
 */
const SAMPLE_STEP_MS = MS_PER_HOUR;

function invalid(message: string): StagelineError {
  return new StagelineError('INPUT_INVALID', message);
}

// ---------------------------------------------------------------- days

const DAY_TEXT = /^(\d{4})-(\d{2})-(\d{2})$/;
const MIN_DAY_NUMBER = Date.UTC(1000, 0, 1) / MS_PER_DAY;

/** Days since 1970-01-01 of a YYYY-MM-DD in 1000-01-01…9999-12-31, or undefined. */
function parseDayNumber(day: string): number | undefined {
  const m = DAY_TEXT.exec(day);
  if (m === null) return undefined;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  const n = ms / MS_PER_DAY;
  // Date.UTC rolls 2026-02-30 over into March; the round trip catches it.
  return n >= MIN_DAY_NUMBER && dayString(n) === day ? n : undefined;
}

/** YYYY-MM-DD between 1000-01-01 and 9999-12-31 (the days the registry and row keys hold). */
export function isDay(day: string): boolean {
  return parseDayNumber(day) !== undefined;
}

export function dayNumber(day: string): number {
  const n = parseDayNumber(day);
  if (n === undefined) throw invalid(`not a day (YYYY-MM-DD, 1000-01-01..9999-12-31): ${JSON.stringify(day)}`);
  return n;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** YYYY-MM-DD of a day number; year 10000 (a local day east of UTC at the contract's end) prints 5 digits. */
export function dayString(n: number): string {
  const d = new Date(n * MS_PER_DAY);
  return `${String(d.getUTCFullYear()).padStart(4, '0')}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
}

export function addDays(day: string, n: number): string {
  return dayString(dayNumber(day) + n);
}

// ---------------------------------------------------------------- zone names

/** Components of IANA names: ASCII letters, digits, `_ + -`, separated by `/`. */
const ZONE_SHAPE = /^[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+)*$/;
/** tzdb spells every component with a capital first letter (America/Port-au-Prince, Etc/GMT+5). */
const IANA_COMPONENT = /^[A-Z]/;

function resolveZone(name: string): string | undefined {
  if (!ZONE_SHAPE.test(name)) return undefined;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

/**
 * An IANA name the platform knows, spelt as tzdb spells it: `UTC`, `Europe/Berlin`, and also links
 * like `Asia/Calcutta`, `US/Pacific` or `Etc/GMT+5`. Intl itself accepts any letter case; a case
 * variant of a name Intl resolves to itself (`america/los_angeles`) is refused because the name is
 * shown to people exactly as given. A link Intl resolves to another name (`Asia/Kolkata` →
 * `Asia/Calcutta`) can only be checked for tzdb's capitalisation, so `ASIA/KOLKATA` passes.
 * Offsets (`+05:30`) are not zone names and are refused.
 */
export function isValidZone(name: string): boolean {
  const canonical = resolveZone(name);
  if (canonical === undefined) return false;
  if (canonical.toLowerCase() === name.toLowerCase()) return canonical === name;
  return name.split('/').every((component) => IANA_COMPONENT.test(component));
}

/**
 * ICU's canonical id of a valid zone; equal for names of the same zone (`Asia/Kolkata` and
 * `Asia/Calcutta` both give `Asia/Calcutta`, ICU keeps the older CLDR ids). For comparing and
 * caching only, never for display: people see the name they gave.
 */
export function canonicalZone(name: string): string {
  const canonical = isValidZone(name) ? resolveZone(name) : undefined;
  if (canonical === undefined) throw invalid(`unknown time zone ${JSON.stringify(name)}`);
  return canonical;
}

/** A spelling the platform would accept for a name only its letter case got wrong, if any. */
export function zoneSpellingHint(name: string): string | undefined {
  const canonical = resolveZone(name);
  return canonical !== undefined && canonical !== name && canonical.toLowerCase() === name.toLowerCase() ? canonical : undefined;
}

// ---------------------------------------------------------------- zone rules (Intl, memoised)

/** What a calendar needs of a zone: the offset of an instant and where each local day starts. */
interface ZoneRules {
  offsetAt(ms: number): number;
  /** The running-max day number of an instant (see the file comment). */
  dayOf(ms: number): number;
  dayStart(n: number): number;
}

/** UTC needs no Intl: day n is [n·24 h, (n+1)·24 h), exactly today's utcDay/utcHour. */
const UTC_RULES: ZoneRules = {
  offsetAt: () => 0,
  dayOf: (ms) => Math.floor(ms / MS_PER_DAY),
  dayStart: (n) => n * MS_PER_DAY,
};

const WALL_CLOCK_OPTIONS: Intl.DateTimeFormatOptions = {
  hourCycle: 'h23',
  year: 'numeric',
  month: 'numeric',
  day: 'numeric',
  hour: 'numeric',
  minute: 'numeric',
  second: 'numeric',
};
/** en-US numeric h23 prints "3/8/2026, 00:00:00"; format() is ~3× cheaper than formatToParts(). */
const WALL_CLOCK = /^(\d+)\/(\d+)\/(\d+), (\d+):(\d+):(\d+)$/;

/** Wall-clock ms (as if UTC) of a formatter's text, or NaN when the text is not in that layout. */
function wallClockOf(text: string): number {
  const m = WALL_CLOCK.exec(text);
  if (m === null) return NaN;
  return Date.UTC(Number(m[3]), Number(m[1]) - 1, Number(m[2]), Number(m[4]), Number(m[5]), Number(m[6]));
}

// Checked once at load: should ICU ever print en-US differently, fail loudly rather than misread.
const PROBE = Date.UTC(2001, 1, 3, 4, 5, 6);
if (wallClockOf(new Intl.DateTimeFormat('en-US', { ...WALL_CLOCK_OPTIONS, timeZone: 'UTC' }).format(PROBE)) !== PROBE) {
  throw new StagelineError('INTERNAL', 'Intl.DateTimeFormat en-US no longer prints M/D/YYYY, HH:MM:SS; src/domain/zones.ts needs updating');
}

class IntlZoneRules implements ZoneRules {
  private readonly format: Intl.DateTimeFormat;
  private readonly starts = new Map<number, number>();

  constructor(zone: string) {
    this.format = new Intl.DateTimeFormat('en-US', { ...WALL_CLOCK_OPTIONS, timeZone: zone });
  }

  /** Local wall time minus the instant; transitions fall on whole seconds, so ms share their second's. */
  offsetAt(ms: number): number {
    const second = Math.floor(ms / MS_PER_SECOND) * MS_PER_SECOND;
    const text = this.format.format(second);
    const wall = wallClockOf(text);
    if (Number.isNaN(wall)) throw new StagelineError('INTERNAL', `unexpected wall clock text ${JSON.stringify(text)}`);
    return wall - second;
  }

  dayOf(ms: number): number {
    let n = Math.floor((ms + this.offsetAt(ms)) / MS_PER_DAY);
    // Only where the clock went back across midnight has a later date already begun.
    while (this.dayStart(n + 1) <= ms) n++;
    return n;
  }

  dayStart(n: number): number {
    let start = this.starts.get(n);
    if (start === undefined) {
      start = this.computeDayStart(n);
      this.starts.set(n, start);
    }
    return start;
  }

  /**
   * The first instant whose wall time is at or after local midnight of day n. Inside the search
   * window the offset is piecewise constant; on each piece wall time is instant + offset, so the
   * earliest instant of a piece at or after midnight is max(piece start, midnight − offset).
   */
  private computeDayStart(n: number): number {
    const midnight = n * MS_PER_DAY;
    const from = midnight - MAX_ABS_OFFSET_MS;
    const to = midnight + MAX_ABS_OFFSET_MS;
    const pieces = this.pieces(from, to);
    const first = pieces[0];
    // Wall time already past midnight at the window's start: an offset beyond the window.
    if (first !== undefined && midnight - first.offset >= from) {
      for (let i = 0; i < pieces.length; i++) {
        const piece = pieces[i];
        if (piece === undefined) break;
        const candidate = Math.max(piece.from, midnight - piece.offset);
        if (candidate < (pieces[i + 1]?.from ?? to + 1)) return candidate;
      }
    }
    throw new StagelineError('INTERNAL', `no start found for ${dayString(n)}: an offset beyond ±${MAX_ABS_OFFSET_MS / MS_PER_HOUR} h`);
  }

  /** Constant-offset pieces covering [from, to], found by sampling and bisecting to the second. */
  private pieces(from: number, to: number): Array<{ from: number; offset: number }> {
    const pieces = [{ from, offset: this.offsetAt(from) }];
    let at = from;
    let offset = pieces[0]?.offset ?? 0;
    while (at < to) {
      const next = Math.min(at + SAMPLE_STEP_MS, to);
      const nextOffset = this.offsetAt(next);
      // Several transitions may share one step (A→B→C); find each in turn.
      let lo = at;
      while (nextOffset !== offset) {
        const t = this.firstChange(lo, next, offset);
        offset = this.offsetAt(t);
        pieces.push({ from: t, offset });
        lo = t;
      }
      at = next;
    }
    return pieces;
  }

  /** The first whole second in (lo, hi] whose offset differs from `offset` (offsetAt(hi) does). */
  private firstChange(lo: number, hi: number, offset: number): number {
    let a = Math.floor(lo / MS_PER_SECOND);
    let b = Math.ceil(hi / MS_PER_SECOND);
    while (b - a > 1) {
      const mid = Math.floor((a + b) / 2);
      if (this.offsetAt(mid * MS_PER_SECOND) === offset) a = mid;
      else b = mid;
    }
    return b * MS_PER_SECOND;
  }
}

/** Rules are shared by every name of one zone (keyed by canonical id), for the process's life. */
const rulesByCanonical = new Map<string, ZoneRules>();
/** Names already resolved: resolving builds a DateTimeFormat (tens of µs), formatting must not. */
const rulesByName = new Map<string, ZoneRules>();

function rulesOf(zone: string): ZoneRules {
  let rules = rulesByName.get(zone);
  if (rules !== undefined) return rules;
  const canonical = canonicalZone(zone);
  rules = rulesByCanonical.get(canonical);
  if (rules === undefined) {
    rules = canonical === UTC_ZONE ? UTC_RULES : new IntlZoneRules(canonical);
    rulesByCanonical.set(canonical, rules);
  }
  rulesByName.set(zone, rules);
  return rules;
}

/** Offset from UTC in ms of a zone at an instant (local wall time − instant). */
export function offsetAt(ms: number, zone: string): number {
  return rulesOf(zone).offsetAt(ms);
}

// ---------------------------------------------------------------- ISO strings

function formatOffset(offsetMs: number): string {
  const sign = offsetMs < 0 ? '-' : '+';
  const total = Math.abs(offsetMs) / MS_PER_SECOND;
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${sign}${pad2(h)}:${pad2(m)}${s === 0 ? '' : `:${pad2(s)}`}`;
}

function formatLocal(ms: number, offsetMs: number): string {
  const local = ms + offsetMs;
  const n = Math.floor(local / MS_PER_DAY);
  const inDay = local - n * MS_PER_DAY;
  const h = Math.floor(inDay / MS_PER_HOUR);
  const m = Math.floor((inDay % MS_PER_HOUR) / 60_000);
  const s = Math.floor((inDay % 60_000) / MS_PER_SECOND);
  const frac = inDay % MS_PER_SECOND;
  const fraction = frac === 0 ? '' : `.${String(frac).padStart(3, '0')}`;
  return `${dayString(n)}T${pad2(h)}:${pad2(m)}:${pad2(s)}${fraction}${formatOffset(offsetMs)}`;
}

/** ISO-8601 local time of an instant with the zone's offset then, e.g. 2026-03-08T03:00:00-07:00. */
export function formatInstant(ms: number, zone: string): string {
  return formatLocal(ms, offsetAt(ms, zone));
}

// ---------------------------------------------------------------- day bounds and hours

export interface DayBounds {
  readonly day: string;
  /** the zone name the bounds were computed for, as the caller spelt it */
  readonly zone: string;
  readonly startMs: number;
  /** the next day's start, exclusive */
  readonly endMs: number;
  /** ceil((end − start) / 1 h): 24, 23 on spring-forward, 25 on fall-back, 0 for a skipped day */
  readonly hours: number;
  readonly startIso: string;
  readonly endIso: string;
}

function makeBounds(day: string, zone: string, startMs: number, endMs: number): DayBounds {
  return {
    day,
    zone,
    startMs,
    endMs,
    hours: Math.ceil((endMs - startMs) / MS_PER_HOUR),
    startIso: formatInstant(startMs, zone),
    endIso: formatInstant(endMs, zone),
  };
}

/** Elapsed whole hours since the day's start: the index into hourly_events / hourly_revenue_cents. */
export function hourIndex(ms: number, bounds: DayBounds): number {
  if (!(ms >= bounds.startMs && ms < bounds.endMs)) {
    throw new RangeError(`instant ${ms} outside ${bounds.day} in ${bounds.zone} [${bounds.startIso}, ${bounds.endIso})`);
  }
  return Math.floor((ms - bounds.startMs) / MS_PER_HOUR);
}

/**
 * A merchant-day's frame as a plan stores it and carries to every stage, fixed once so that all
 * stages and every retry agree (a tzdata update mid-run cannot split them): its zone (the
 * registry's spelling, 'UTC' for a merchant not listed), [start, end) in ms, the number of hourly
 * entries, and the ISO strings the report prints.
 */
export interface MerchantFrame {
  time_zone: string;
  start_ms: number;
  end_ms: number;
  hours: number;
  start_iso: string;
  end_iso: string;
}

export function frameOf(b: DayBounds): MerchantFrame {
  return { time_zone: b.zone, start_ms: b.startMs, end_ms: b.endMs, hours: b.hours, start_iso: b.startIso, end_iso: b.endIso };
}

/** The frame of a UTC day: a merchant not in the registry. */
export function utcDayFrame(day: string): MerchantFrame {
  return frameOf(dayBounds(day, UTC_ZONE));
}

// ---------------------------------------------------------------- calendars (the hot path)

/** Answers "which local day?" for one zone, from memoised day intervals. */
export interface ZoneCalendar {
  readonly zone: string;
  /** The local day of an instant (see the file comment). */
  dayOf(ms: number): string;
  /** Start of a day in this zone (no history involved). */
  startOf(day: string): number;
  bounds(day: string): DayBounds;
}

interface DayInterval {
  readonly n: number;
  readonly day: string;
  readonly startMs: number;
  readonly endMs: number;
}

class MemoZoneCalendar implements ZoneCalendar {
  // The interval of the last answer: in-order events hit it with two comparisons.
  private hitStart = 0;
  private hitEnd = 0;
  private hitDay = '';
  /** local midnight (as if UTC) − start of the last hit: a guess at the offset for the next miss */
  private hitOffset = 0;
  private readonly intervals = new Map<number, DayInterval>();
  private readonly boundsByDay = new Map<string, DayBounds>();

  constructor(
    readonly zone: string,
    private readonly rules: ZoneRules,
  ) {}

  dayOf(ms: number): string {
    if (ms >= this.hitStart && ms < this.hitEnd) return this.hitDay;
    return this.lookup(ms);
  }

  private lookup(ms: number): string {
    // Out-of-order events usually land in a day already seen: try the guessed day and its neighbours.
    const guess = Math.floor((ms + this.hitOffset) / MS_PER_DAY);
    const found = this.cached(guess, ms) ?? this.cached(guess - 1, ms) ?? this.cached(guess + 1, ms) ?? this.interval(this.rules.dayOf(ms));
    this.hitStart = found.startMs;
    this.hitEnd = found.endMs;
    this.hitDay = found.day;
    this.hitOffset = found.n * MS_PER_DAY - found.startMs;
    return found.day;
  }

  private cached(n: number, ms: number): DayInterval | undefined {
    const iv = this.intervals.get(n);
    return iv !== undefined && ms >= iv.startMs && ms < iv.endMs ? iv : undefined;
  }

  private interval(n: number): DayInterval {
    let iv = this.intervals.get(n);
    if (iv === undefined) {
      iv = { n, day: dayString(n), startMs: this.rules.dayStart(n), endMs: this.rules.dayStart(n + 1) };
      this.intervals.set(n, iv);
    }
    return iv;
  }

  startOf(day: string): number {
    return this.rules.dayStart(dayNumber(day));
  }

  bounds(day: string): DayBounds {
    let b = this.boundsByDay.get(day);
    if (b === undefined) {
      const iv = this.interval(dayNumber(day));
      b = makeBounds(day, this.zone, iv.startMs, iv.endMs);
      this.boundsByDay.set(day, b);
    }
    return b;
  }
}

const calendarsByName = new Map<string, ZoneCalendar>();

/** A fresh calendar (its own memo; the zone's Intl rules are shared). Throws on an unknown zone. */
export function createZoneCalendar(zone: string): ZoneCalendar {
  return new MemoZoneCalendar(zone, rulesOf(zone));
}

/** The process-wide calendar of a zone name (created on first use, kept for the process's life). */
export function zoneCalendar(zone: string): ZoneCalendar {
  let cal = calendarsByName.get(zone);
  if (cal === undefined) {
    cal = createZoneCalendar(zone);
    calendarsByName.set(zone, cal);
  }
  return cal;
}

/** The local day (YYYY-MM-DD) of an instant in a zone. */
export function localDayOf(ms: number, zone: string): string {
  return zoneCalendar(zone).dayOf(ms);
}

/** Start, end, hours and ISO strings of a local day in a zone. */
export function dayBounds(day: string, zone: string): DayBounds {
  return zoneCalendar(zone).bounds(day);
}

// ---------------------------------------------------------------- zone history

/** From `fromDay` on (until the next entry) the merchant's days are in `zone`. */
export interface ZoneEntry {
  readonly zone: string;
  readonly fromDay: string;
}

/** Sorted by fromDay, strictly increasing; before the first entry a merchant is in UTC. */
export type ZoneHistory = readonly ZoneEntry[];

/** Problems of a stored history (unknown zone, bad day, not strictly increasing); empty when fine. */
export function historyProblems(history: ZoneHistory): string[] {
  const problems: string[] = [];
  history.forEach((e, i) => {
    if (!isValidZone(e.zone)) problems.push(`entry ${i}: unknown time zone ${JSON.stringify(e.zone)}`);
    if (!isDay(e.fromDay)) problems.push(`entry ${i}: bad day ${JSON.stringify(e.fromDay)}`);
    const prev = history[i - 1];
    if (prev !== undefined && !(prev.fromDay < e.fromDay)) problems.push(`entry ${i}: from ${e.fromDay} not after ${prev.fromDay}`);
  });
  return problems;
}

/** The zone in force on a day: the last entry with fromDay ≤ day; UTC before any entry. */
export function zoneForDay(history: ZoneHistory, day: string): string {
  let zone = UTC_ZONE;
  for (const e of history) {
    if (e.fromDay > day) break;
    zone = e.zone;
  }
  return zone;
}

/** One zone's stretch of a history: days [fromDay, toDay] (either end open), instants [boundary, …). */
interface Segment {
  readonly zone: string;
  readonly calendar: ZoneCalendar;
  readonly fromDay: string | undefined;
  /** the last day of the segment, undefined for the last segment */
  readonly toDay: string | undefined;
  /** the first instant of the segment's first day (−∞ for the UTC stretch before the first entry) */
  readonly boundary: number;
}

/** A merchant's days under its zone history: what ingest keys rows by and stages bound days by. */
export interface MerchantCalendar {
  readonly history: ZoneHistory;
  /** The merchant-day of an instant. */
  dayOf(ms: number): string;
  zoneOf(day: string): string;
  /** Bounds of a merchant-day; ISO strings in that day's zone. */
  bounds(day: string): DayBounds;
}

/**
 * Days under a history, so that every instant is in exactly one merchant-day and days neither
 * overlap nor leave gaps, also where the zone changes:
 *
 *   start(D) = min(start of D in zoneForDay(D), start of F in its zone for every entry F > D)
 *   day(t)   = the D with start(D) ≤ t < start(D + 1)
 *
 * This is the one-zone rule ("first instant whose day is D or later") applied to the merchant's
 * sequence of days. At a switch from zone A to zone B on day F, day F − 1 ends where F starts in
 * B: it is shorter when B is east of A, longer when west. Where B's F starts even before A's F − 1
 * (Pacific/Pago_Pago −11 → Pacific/Kiritimati +14, 25 h apart), F − 1 is empty, as when a zone
 * skips a day. Computing it: find the segment whose boundary is the last ≤ t, take the day of t in
 * that segment's zone, and cap it at the segment's last day.
 */
export function createMerchantCalendar(history: ZoneHistory): MerchantCalendar {
  const problems = historyProblems(history);
  if (problems.length > 0) throw invalid(`bad zone history: ${problems.join('; ')}`);
  const raw: Array<Omit<Segment, 'boundary'>> = [
    { zone: UTC_ZONE, calendar: zoneCalendar(UTC_ZONE), fromDay: undefined, toDay: history[0] === undefined ? undefined : addDays(history[0].fromDay, -1) },
    ...history.map((e, i) => {
      const next = history[i + 1];
      return { zone: e.zone, calendar: zoneCalendar(e.zone), fromDay: e.fromDay, toDay: next === undefined ? undefined : addDays(next.fromDay, -1) };
    }),
  ];
  // Boundaries from the last segment back: each is min(own start, the next boundary).
  const boundaries: number[] = new Array<number>(raw.length);
  let later = Infinity;
  for (let k = raw.length - 1; k >= 0; k--) {
    const seg = raw[k];
    const own = seg?.fromDay === undefined ? -Infinity : seg.calendar.startOf(seg.fromDay);
    later = Math.min(own, later);
    boundaries[k] = later;
  }
  const segments: Segment[] = raw.map((s, k) => ({ ...s, boundary: boundaries[k] ?? -Infinity }));
  const last = segments[segments.length - 1];
  if (last === undefined) throw new StagelineError('INTERNAL', 'merchant calendar without segments');

  /** start(D) per the rule above. */
  const startOf = (day: string): number => {
    let start = zoneCalendar(zoneForDay(history, day)).startOf(day);
    for (const seg of segments) {
      if (seg.fromDay !== undefined && seg.fromDay > day) {
        start = Math.min(start, seg.boundary);
        break; // boundaries are already minima over everything later
      }
    }
    return start;
  };

  const segmentIndexOf = (ms: number): number => {
    let found = 0;
    for (let k = 1; k < segments.length && (segments[k]?.boundary ?? Infinity) <= ms; k++) found = k;
    return found;
  };
  let hit = 0;

  const boundsByDay = new Map<string, DayBounds>();
  return {
    history,
    dayOf(ms: number): string {
      // Nearly every event is in the current zone (the last segment, which has no last day).
      if (ms >= last.boundary) return last.calendar.dayOf(ms);
      // Otherwise the last-hit segment first: a backfill stays in one segment.
      let seg = segments[hit];
      if (seg === undefined || ms < seg.boundary || ms >= (segments[hit + 1]?.boundary ?? Infinity)) {
        hit = segmentIndexOf(ms);
        seg = segments[hit];
        if (seg === undefined) throw new StagelineError('INTERNAL', 'merchant calendar without segments');
      }
      const day = seg.calendar.dayOf(ms);
      return seg.toDay !== undefined && day > seg.toDay ? seg.toDay : day;
    },
    zoneOf: (day: string): string => zoneForDay(history, day),
    bounds(day: string): DayBounds {
      let b = boundsByDay.get(day);
      if (b === undefined) {
        b = makeBounds(day, zoneForDay(history, day), startOf(day), startOf(addDays(day, 1)));
        boundsByDay.set(day, b);
      }
      return b;
    },
  };
}
