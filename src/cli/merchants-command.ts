/**
 * `stageline merchants import FILE | set M --tz ZONE [--from-day D] | list [--json]`: the merchant
 * registry (issue 13). The rules (CSV grammar, what a change may touch) are pure, in
 * src/domain/registry.ts; this file reads the registry, asks them, and applies what they allow.
 */
import { readFileSync } from 'node:fs';
import type { App } from '../app.js';
import { StagelineError } from '../errors.js';
import { isMerchantId, parseMerchantsCsv, planImport, planZoneChange, type MerchantZoneState, type ZoneChange } from '../domain/registry.js';
import { createMerchantCalendar, FIRST_DAY, UTC_ZONE, type ZoneHistory } from '../domain/zones.js';
import { str } from './flags.js';
import type { Command } from './types.js';
import { withApp } from './with-app.js';

const out = (s: string) => process.stdout.write(`${s}\n`);

/** Each merchant's history and its latest stored day (what a change must not move). */
async function states(app: App, ids: readonly string[]): Promise<(m: string) => MerchantZoneState> {
  const registry = app.ledger().registry;
  const histories = await registry.histories(ids);
  const stored = await registry.storedDays(ids);
  return (m) => {
    const day = stored.get(m);
    return { history: histories.get(m) ?? [], stored: day === undefined ? null : { maxDay: day } };
  };
}

function describeChange(m: string, c: Extract<ZoneChange, { kind: 'changed' }>): string {
  // From the first day (a merchant with no stored events): there is no day before it to describe.
  if (c.entry.fromDay === FIRST_DAY) return `${m}: ${c.entry.zone} for every day (no events stored yet)`;
  const { before, after } = c.lastDayBefore;
  const moved = before.endMs === after.endMs ? '' : `; ${after.day} now ends ${after.endIso} (${after.hours} h, was ${before.hours} h)`;
  return `${m}: ${c.entry.zone} from ${c.entry.fromDay}${moved}`;
}

/** The zone in force now, for listing: the history's entry for the merchant's current local day. */
function currentZone(history: ZoneHistory, nowMs: number): { zone: string; fromDay: string | null } {
  const today = createMerchantCalendar(history).dayOf(nowMs);
  const e = history.filter((x) => x.fromDay <= today).at(-1);
  return e ? { zone: e.zone, fromDay: e.fromDay } : { zone: UTC_ZONE, fromDay: null };
}

export const merchantsCommand: Command = {
  needsNamespace: true,
  summary: 'the merchant registry: import FILE | set M --tz ZONE [--from-day D] | list [--json]',
  help: [
    'stageline merchants import FILE          CSV with the header merchant_id,time_zone (IANA zone names).',
    '                                          Merchants in the file are added or updated, others left alone;',
    '                                          any bad line refuses the whole file (each error names its line).',
    'stageline merchants set M --tz ZONE [--from-day D]',
    '                                          from D on (default: the merchant\'s next local day, or all its days',
    '                                          when nothing of it is stored yet); refused when it would move stored days.',
    'stageline merchants list [--json]        each merchant\'s zone now, and its history',
    '  A merchant not in the registry is UTC. Days already ingested keep their zone.',
  ].join('\n'),
  options: { tz: { type: 'string' }, 'from-day': { type: 'string' }, json: { type: 'boolean' } },
  async run(ctx) {
    const sub = ctx.args[0];
    const nowMs = Date.now();
    if (sub === 'import') {
      const file = ctx.args[1];
      if (!file) throw new StagelineError('INPUT_INVALID', 'usage: stageline merchants import FILE');
      const parsed = parseMerchantsCsv(readFileSync(file, 'utf8'));
      if (!parsed.ok) throw new StagelineError('INPUT_INVALID', `${file} refused, nothing applied:\n${parsed.errors.map((e) => `  line ${e.line}: ${e.message}`).join('\n')}`);
      return withApp(ctx, async (app) => {
        const plan = planImport(parsed.entries, await states(app, [...new Set(parsed.entries.map((e) => e.merchant_id))]), nowMs);
        if (!plan.ok) throw new StagelineError('INPUT_INVALID', `${file} refused, nothing applied:\n${plan.errors.map((e) => `  line ${e.line}: ${e.message}`).join('\n')}`);
        const changed = plan.changes.flatMap((c) => (c.change.kind === 'changed' ? [{ merchant_id: c.merchant_id, change: c.change }] : []));
        await app.ledger().registry.apply(changed.map((c) => ({ merchant_id: c.merchant_id, history: c.change.history })));
        out(`${file}: ${plan.changes.length} merchant(s), ${changed.length} added or changed, ${plan.changes.length - changed.length} unchanged`);
        for (const c of changed) out(`  ${describeChange(c.merchant_id, c.change)}`);
        return 0;
      });
    }
    if (sub === 'set') {
      const m = ctx.args[1];
      const zone = str(ctx.flags, 'tz');
      if (!m || !zone) throw new StagelineError('INPUT_INVALID', 'usage: stageline merchants set M --tz ZONE [--from-day D]');
      if (!isMerchantId(m)) throw new StagelineError('INPUT_INVALID', `bad merchant id ${JSON.stringify(m)}: [A-Za-z0-9_-]{1,64}`);
      const fromDay = str(ctx.flags, 'from-day');
      return withApp(ctx, async (app) => {
        const change = planZoneChange({ merchant_id: m, zone, nowMs, ...(fromDay !== undefined ? { fromDay } : {}), ...(await states(app, [m]))(m) });
        if (change.kind === 'refused') throw new StagelineError('INPUT_INVALID', change.message);
        if (change.kind === 'unchanged') {
          out(`${m}: already ${zone}; nothing changed`);
          return 0;
        }
        await app.ledger().registry.apply([{ merchant_id: m, history: change.history }]);
        out(describeChange(m, change));
        return 0;
      });
    }
    if (sub === 'list') {
      return withApp(ctx, async (app) => {
        const all = await app.ledger().registry.histories();
        for (const [m, history] of all) {
          const now = currentZone(history, nowMs);
          if (ctx.flags.json) out(JSON.stringify({ merchant_id: m, time_zone: now.zone, from_day: now.fromDay, history: history.map((e) => ({ time_zone: e.zone, from_day: e.fromDay })) }));
          else out(`${m.padEnd(24)} ${now.zone.padEnd(28)} ${history.length > 1 ? `history: ${history.map((e) => `${e.zone} from ${e.fromDay}`).join(', ')}` : `since ${now.fromDay ?? '-'}`}`);
        }
        if (!ctx.flags.json) out(`${all.size} merchant(s) in the registry; every other merchant is UTC`);
        return 0;
      });
    }
    throw new StagelineError('INPUT_INVALID', 'usage: stageline merchants import FILE | set M --tz ZONE [--from-day D] | list [--json]');
  },
};
