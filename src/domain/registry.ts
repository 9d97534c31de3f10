/**
 * The merchant registry's pure rules (issue 13): parsing `stageline merchants import FILE` and
 * deciding whether a zone change may be applied. I/O (MySQL, the file) stays with the caller.
 *
 * CSV decisions (a small RFC 4180 subset, hand-written: the grammar is two columns of
 * identifiers, and no CSV library is a dependency of this project):
 * - Lines end in `\n` or `\r\n`; one final line terminator is optional. A UTF-8 byte order mark
 *   before the header is ignored (spreadsheets write one). Any other empty line is refused.
 * - The header is exactly `merchant_id,time_zone` (quoted fields compare unquoted).
 * - A field may be quoted (`"Europe/Berlin"`, `""` for a quote inside); a quoted field cannot
 *   span lines. Nothing is trimmed: ` Europe/Berlin` is an unknown zone, and the error shows it.
 * - All or nothing: either every entry or every error (each naming its 1-based line, the header
 *   is line 1). A merchant listed twice with the same zone is one entry (its first line); with
 *   different spellings, even of one zone, it is refused, since the name is shown as given.
 */
import { StagelineError } from '../errors.js';
import {
  FIRST_DAY,
  addDays,
  createMerchantCalendar,
  isDay,
  isValidZone,
  zoneForDay,
  zoneSpellingHint,
  type DayBounds,
  type ZoneEntry,
  type ZoneHistory,
} from './zones.js';

export const MERCHANTS_CSV_HEADER = 'merchant_id,time_zone';

/** The contract's merchant_id rule (src/domain/event.ts); a unit test keeps the two in step. */
const MERCHANT_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function isMerchantId(id: string): boolean {
  return MERCHANT_ID.test(id);
}

export interface RegistryEntry {
  merchant_id: string;
  time_zone: string;
  /** 1-based line of the file (the header is line 1) */
  line: number;
}

export interface LineError {
  line: number;
  message: string;
}

export type RegistryCsv = { ok: true; entries: RegistryEntry[] } | { ok: false; errors: LineError[] };

type Fields = { ok: true; fields: string[] } | { ok: false; message: string };

/** One line of CSV into fields: unquoted, or quoted with `""` as an escaped quote. */
export function splitCsvLine(line: string): Fields {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let value = '';
      let j = i + 1;
      for (;;) {
        const q = line.indexOf('"', j);
        if (q < 0) return { ok: false, message: `unterminated quoted field starting at column ${i + 1}` };
        value += line.slice(j, q);
        if (line[q + 1] === '"') {
          value += '"';
          j = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      fields.push(value);
      if (i < line.length && line[i] !== ',') return { ok: false, message: `characters after the closing quote at column ${i + 1}` };
    } else {
      const comma = line.indexOf(',', i);
      const value = line.slice(i, comma < 0 ? line.length : comma);
      if (value.includes('"')) return { ok: false, message: `a quote inside an unquoted field at column ${i + 1 + value.indexOf('"')}` };
      fields.push(value);
      i = comma < 0 ? line.length : comma;
    }
    if (i >= line.length) return { ok: true, fields };
    i++; // past the comma; a trailing comma leaves one more (empty) field
    if (i === line.length) {
      fields.push('');
      return { ok: true, fields };
    }
  }
}

function unknownZoneMessage(zone: string): string {
  const hint = zoneSpellingHint(zone);
  return `unknown time zone ${JSON.stringify(zone)}${hint === undefined ? ' (an IANA name such as Europe/Berlin, or UTC)' : `; did you mean ${hint}?`}`;
}

/** Parses the whole file; see the file comment for the rules. */
export function parseMerchantsCsv(text: string): RegistryCsv {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const lines = body.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();

  const header = splitCsvLine(lines[0] ?? '');
  if (!header.ok || header.fields.join(',') !== MERCHANTS_CSV_HEADER || header.fields.length !== 2) {
    const got = lines[0] === undefined || lines[0] === '' ? 'an empty line' : JSON.stringify(lines[0]);
    return { ok: false, errors: [{ line: 1, message: `the header must be exactly ${MERCHANTS_CSV_HEADER}, got ${got}` }] };
  }

  const errors: LineError[] = [];
  const entries: RegistryEntry[] = [];
  const seen = new Map<string, RegistryEntry>();
  for (let i = 1; i < lines.length; i++) {
    const line = i + 1;
    const text = lines[i] ?? '';
    if (text === '') {
      errors.push({ line, message: 'empty line' });
      continue;
    }
    const parsed = splitCsvLine(text);
    if (!parsed.ok) {
      errors.push({ line, message: parsed.message });
      continue;
    }
    if (parsed.fields.length !== 2) {
      errors.push({ line, message: `expected 2 fields (${MERCHANTS_CSV_HEADER}), got ${parsed.fields.length}` });
      continue;
    }
    const [merchant_id = '', time_zone = ''] = parsed.fields;
    let bad = false;
    if (!isMerchantId(merchant_id)) {
      errors.push({ line, message: `bad merchant id ${JSON.stringify(merchant_id)}: 1–64 characters of A–Z a–z 0–9 _ -` });
      bad = true;
    }
    if (!isValidZone(time_zone)) {
      errors.push({ line, message: unknownZoneMessage(time_zone) });
      bad = true;
    }
    if (bad) continue;
    const first = seen.get(merchant_id);
    if (first === undefined) {
      const entry = { merchant_id, time_zone, line };
      seen.set(merchant_id, entry);
      entries.push(entry);
    } else if (first.time_zone !== time_zone) {
      errors.push({
        line,
        message: `merchant ${merchant_id} listed twice with different zones: ${first.time_zone} on line ${first.line}, ${time_zone} here`,
      });
    }
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, entries };
}

// ---------------------------------------------------------------- zone changes

/** What ingest has stored for a merchant: its latest raw-row day, and if known its latest ts. */
export interface StoredEvents {
  maxDay: string;
  /**
   * Latest stored ts. With it, a change to a zone further east from the day after maxDay is
   * allowed when no stored event falls in the part of maxDay that moves; without it such a
   * change is refused until a day later.
   */
  maxTs?: number;
}

export interface MerchantZoneState {
  history: ZoneHistory;
  /** null when the merchant has no stored events at all */
  stored: StoredEvents | null;
}

export interface ZoneChangeRequest extends MerchantZoneState {
  merchant_id: string;
  zone: string;
  /** `--from-day`; default: FIRST_DAY when nothing is stored, else the merchant's next local day at nowMs */
  fromDay?: string;
  nowMs: number;
}

export type ZoneChangeRefusal = 'unknown_zone' | 'bad_from_day' | 'moves_stored_days';

export type ZoneChange =
  | { kind: 'unchanged'; history: ZoneHistory }
  | {
      kind: 'changed';
      history: ZoneHistory;
      entry: ZoneEntry;
      /** the day before the change under the old and the new history: its end (and length) moves */
      lastDayBefore: { before: DayBounds; after: DayBounds };
    }
  | { kind: 'refused'; reason: ZoneChangeRefusal; message: string; earliestFromDay?: string };

/** The history with `zone` from `fromDay` on; entries from that day on are replaced. */
export function withZoneFrom(history: ZoneHistory, zone: string, fromDay: string): ZoneHistory {
  const kept = history.filter((e) => e.fromDay < fromDay);
  // Back to the zone already in force before fromDay: dropping the later entries is the change.
  return kept.at(-1)?.zone === zone ? kept : [...kept, { zone, fromDay }];
}

/**
 * Whether moving to `next` from `fromDay` leaves every stored event in its day. Only instants in
 * [next start of fromDay, old start of fromDay) change day (into fromDay), and that range is empty
 * unless the new zone's fromDay starts earlier, i.e. the new zone is further east.
 */
function keepsStoredDays(old: ZoneHistory, next: ZoneHistory, fromDay: string, stored: StoredEvents): boolean {
  const newStart = createMerchantCalendar(next).bounds(fromDay).startMs;
  const oldCalendar = createMerchantCalendar(old);
  if (stored.maxTs !== undefined) return newStart >= oldCalendar.bounds(fromDay).startMs || stored.maxTs < newStart;
  // Every stored event lies before the end of the last stored day.
  return oldCalendar.bounds(stored.maxDay).endMs <= newStart;
}

/** The first day from which the change keeps every stored event in its day. */
function earliestFromDay(old: ZoneHistory, zone: string, stored: StoredEvents): string {
  let day = addDays(stored.maxDay, 1);
  // Offsets span −12…+14 h, so a new zone's day starts after the last stored day ends two days on.
  for (let tries = 0; !keepsStoredDays(old, withZoneFrom(old, zone, day), day, stored); tries++) {
    if (tries === 7) throw new StagelineError('INTERNAL', `no from-day within a week after ${stored.maxDay} keeps the stored days of ${zone}`);
    day = addDays(day, 1);
  }
  return day;
}

/**
 * Decides a `merchants set M --tz ZONE [--from-day D]` (and each line of an import): a change
 * takes effect only from a day after every stored day, and never moves a stored event into
 * another day. Setting the zone already in force (same spelling) with nothing scheduled later
 * changes nothing, so re-importing a file is a no-op even once events are stored. A merchant with
 * no stored events gets its zone from FIRST_DAY, i.e. for everything it will send (the brief's
 * "next local day" default would put a freshly imported merchant's backfill in UTC).
 */
export function planZoneChange(req: ZoneChangeRequest): ZoneChange {
  const { merchant_id, zone, history, stored } = req;
  if (!isValidZone(zone)) return { kind: 'refused', reason: 'unknown_zone', message: `merchant ${merchant_id}: ${unknownZoneMessage(zone)}` };
  const fromDay =
    req.fromDay ?? (stored === null ? FIRST_DAY : addDays(createMerchantCalendar(history).dayOf(req.nowMs), 1));
  if (!isDay(fromDay) || fromDay < FIRST_DAY) {
    return { kind: 'refused', reason: 'bad_from_day', message: `merchant ${merchant_id}: bad --from-day ${JSON.stringify(fromDay)} (YYYY-MM-DD, ${FIRST_DAY} or later)` };
  }
  // Only an explicit entry counts: a merchant not in the registry is added even when it asks for UTC.
  const inForce = history.filter((e) => e.fromDay <= fromDay).at(-1);
  if (inForce?.zone === zone && !history.some((e) => e.fromDay > fromDay)) return { kind: 'unchanged', history };

  const next = withZoneFrom(history, zone, fromDay);
  if (stored !== null) {
    const earliest = earliestFromDay(history, zone, stored);
    if (fromDay < earliest) {
      const why =
        fromDay <= stored.maxDay
          ? `events are stored up to ${stored.maxDay}, and days already ingested keep their zone`
          : `${zone}'s ${fromDay} starts before ${stored.maxDay} ends in ${zoneForDay(history, stored.maxDay)}, so stored events would move into ${fromDay}`;
      return {
        kind: 'refused',
        reason: 'moves_stored_days',
        message: `merchant ${merchant_id}: cannot switch to ${zone} from ${fromDay}: ${why}; the earliest day it can take effect is ${earliest}`,
        earliestFromDay: earliest,
      };
    }
  }
  const dayBefore = addDays(fromDay, -1);
  return {
    kind: 'changed',
    history: next,
    entry: { zone, fromDay },
    lastDayBefore: { before: createMerchantCalendar(history).bounds(dayBefore), after: createMerchantCalendar(next).bounds(dayBefore) },
  };
}

export type ImportPlan =
  | { ok: true; changes: Array<{ merchant_id: string; line: number; change: Extract<ZoneChange, { kind: 'changed' | 'unchanged' }> }> }
  | { ok: false; errors: LineError[] };

/**
 * All or nothing over a parsed file: every entry is planned with the default from-day, and any
 * refusal refuses the file. `stateOf` must know every merchant of the file (history and stored).
 */
export function planImport(entries: readonly RegistryEntry[], stateOf: (merchant_id: string) => MerchantZoneState, nowMs: number): ImportPlan {
  const errors: LineError[] = [];
  const changes: Extract<ImportPlan, { ok: true }>['changes'] = [];
  for (const e of entries) {
    const change = planZoneChange({ merchant_id: e.merchant_id, zone: e.time_zone, nowMs, ...stateOf(e.merchant_id) });
    if (change.kind === 'refused') errors.push({ line: e.line, message: change.message });
    else changes.push({ merchant_id: e.merchant_id, line: e.line, change });
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, changes };
}
