/** The operating commands around nights: backfill, dead letters, purge. */
import { StagelineError } from '../errors.js';
import { decode } from '../../schemas/index.js';
import { topicName, dlqTopicName } from '../../topology/index.js';
import { isStageName, stageOf, STAGES } from '../../stages/index.js';
import { productEpochPrefix, sessionEpochPrefix, summaryRowKey } from '../domain/rowkey.js';
import type { DeadLetterRow } from '../ledger/types.js';
import { renderBackfill, runBackfill, type Reprocess } from '../master/backfill.js';
import { deleteAll } from '../../stages/summarize/wiring.js';
import { dayFlag, intFlag, str } from './flags.js';
import type { Command } from './types.js';
import { withApp } from './with-app.js';

const out = (s: string) => process.stdout.write(s + '\n');
const err = (s: string) => process.stderr.write(s + '\n');

const REPROCESS: readonly Reprocess[] = ['missing', 'failed', 'late', 'all'];

export const backfillCommand: Command = {
  needsNamespace: true,
  summary: 'run many days: those never run, failed or with late data (a few at a time), resumable',
  help: [
    'stageline backfill --from D1 --to D2 [--concurrency N] [--reprocess missing,failed,late|all] [--with-workers N] [--dry-run] [--json]',
    '  --concurrency N   days in flight at once (default 2)',
    '  --reprocess WHAT  which days to run: missing (never run), failed (failed or interrupted), late (complete',
    '                    with late data: only those merchant-days), all (every day again, whole); default missing,failed,late',
    '  --with-workers N  also run N replicas of each stage for the whole backfill',
    '  --dry-run         print what would run and why; change nothing',
    '  --json            one JSON object per day as it finishes (and per day with --dry-run)',
    '  One line per day as it finishes, then a table. Exit 0 only when every day succeeded. Killed and run',
    '  again, it resumes: finished days are not redone. A fresh `nightly` goes first: new backfill days wait',
    '  while a nightly-triggered run is in progress.',
  ].join('\n'),
  options: { from: { type: 'string' }, to: { type: 'string' }, concurrency: { type: 'string' }, reprocess: { type: 'string' }, 'with-workers': { type: 'string' }, 'dry-run': { type: 'boolean' }, json: { type: 'boolean' }, 'allow-small-day': { type: 'boolean' } },
  async run(ctx) {
    const from = dayFlag({ day: str(ctx.flags, 'from') }, true);
    const to = dayFlag({ day: str(ctx.flags, 'to') }, true);
    if (to < from) throw new StagelineError('INPUT_INVALID', `--to ${to} is before --from ${from}`);
    const asked = (str(ctx.flags, 'reprocess') ?? 'missing,failed,late').split(',').map((x) => x.trim()).filter(Boolean);
    const bad = asked.filter((x) => !(REPROCESS as readonly string[]).includes(x));
    if (bad.length > 0 || asked.length === 0) throw new StagelineError('INPUT_INVALID', `--reprocess takes ${REPROCESS.join(', ')} (comma-separated), got "${bad.join(',')}"`);
    const json = ctx.flags.json === true;
    const { code, results } = await runBackfill(ctx, {
      from, to, concurrency: intFlag(ctx.flags, 'concurrency', 2, 1), reprocess: new Set(asked as Reprocess[]), workers: intFlag(ctx.flags, 'with-workers', 0),
      dryRun: ctx.flags['dry-run'] === true, json, quiet: true, allowSmallDay: ctx.flags['allow-small-day'] === true,
    });
    if (ctx.flags['dry-run']) {
      for (const r of results) out(json ? JSON.stringify({ day: r.day, action: r.action, why: r.why }) : `${r.day}  ${r.action.padEnd(6)}  ${r.why}`);
      return 0;
    }
    if (!json) {
      out(renderBackfill(results));
      const ran = results.filter((r) => r.result !== 'skipped');
      const events = ran.reduce((a, r) => a + r.events, 0);
      const waiting = results.filter((r) => r.result === 'waiting').map((r) => r.day);
      out(`${ran.length} day(s) run, ${results.length - ran.length} skipped; ${events.toLocaleString('en-US')} events`
        + (waiting.length ? `; waiting (merchant-days not due yet, a later nightly or backfill plans them): ${waiting.join(', ')}` : ''));
    }
    return code;
  },
};

function describeDeadLetter(d: DeadLetterRow): string {
  return `${String(d.id).padStart(5)}  ${d.stage.padEnd(9)}  ${d.day ?? '-'}  e${d.epoch ?? '?'}  ${d.topic}/${d.partition}@${d.offset}  ${d.code}: ${d.error.slice(0, 120)}${d.redriven_at ? `  (redriven ${d.redrive_count}×)` : ''}`;
}

export const deadLettersCommand: Command = {
  needsNamespace: true,
  summary: 'list | show ID | redrive: messages a stage could not handle',
  help: [
    'stageline dead-letters list [--day D] [--stage S] [--json]',
    'stageline dead-letters show ID [--json]      error, origin topic/partition/offset, the decoded payload (its bytes when it does not decode)',
    'stageline dead-letters redrive [--day D] [--stage S] [--dry-run]',
    '  Puts the dead letters back on their stage\'s input topic (after the cause is fixed); a letter already',
    '  redriven is left alone. Handling a message twice changes nothing, so a redrive is safe to repeat.',
    '  Then `stageline nightly --day D` resumes the day.',
  ].join('\n'),
  options: { day: { type: 'string' }, stage: { type: 'string' }, json: { type: 'boolean' }, 'dry-run': { type: 'boolean' } },
  async run(ctx) {
    const sub = ctx.args[0];
    const day = str(ctx.flags, 'day') !== undefined ? dayFlag(ctx.flags, true) : undefined;
    const stage = str(ctx.flags, 'stage');
    if (stage !== undefined && !isStageName(stage)) throw new StagelineError('INPUT_INVALID', `--stage must be one of ${STAGES.join(', ')}`);
    const filter = { ...(day ? { day } : {}), ...(stage ? { stage } : {}) };
    return withApp(ctx, async (app) => {
      const dl = app.ledger().deadLetters;
      if (sub === 'list') {
        const rows = await dl.list(filter, 10_000);
        if (ctx.flags.json) for (const r of rows) out(JSON.stringify(r));
        else {
          out(`${rows.length} dead letter(s)${day ? ` of ${day}` : ''}${stage ? ` in ${stage}` : ''}`);
          for (const r of rows) out(describeDeadLetter(r));
        }
        return 0;
      }
      if (sub === 'show') {
        const id = Number(ctx.args[1]);
        if (!Number.isInteger(id) || id < 1) throw new StagelineError('INPUT_INVALID', 'usage: stageline dead-letters show ID');
        const d = await dl.get(id);
        if (!d) {
          err(`no dead letter ${id}`);
          return 1;
        }
        let decoded: unknown;
        let decodeError: string | undefined;
        try {
          decoded = d.payload ? decode(d.payload) : undefined;
        } catch (e) {
          decodeError = (e as Error).message;
        }
        const view = {
          ...d, key: d.key?.toString('utf8') ?? null, payload: undefined,
          ...(decoded !== undefined ? { message: decoded } : { payload_hex: d.payload?.subarray(0, 4096).toString('hex') ?? null, decode_error: decodeError ?? null }),
        };
        out(ctx.flags.json ? JSON.stringify(view) : JSON.stringify(view, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : Buffer.isBuffer(v) ? v.toString('hex') : v), 2));
        return 0;
      }
      if (sub === 'redrive') {
        const rows = (await dl.list({ ...filter, pending: true }, 100_000));
        if (ctx.flags['dry-run']) {
          out(`would put back ${rows.length} dead letter(s):`);
          for (const r of rows) out(describeDeadLetter(r));
          return 0;
        }
        const producer = await app.producer();
        let sent = 0;
        for (const r of rows) {
          const full = await dl.get(r.id);
          if (!full?.payload || (full.payload_bytes !== null && full.payload.length < full.payload_bytes)) {
            err(`dead letter ${r.id}: its payload was not kept whole (${full?.payload_bytes ?? '?'} bytes); read it from ${dlqTopicName(ctx.cfg.namespace, r.stage)} to put it back`);
            continue;
          }
          const input = topicName(ctx.cfg.namespace, stageOf(app.topology, r.stage as never).input);
          await producer.send(input, [{ key: full.key, value: full.payload }]);
          await dl.markRedriven([r.id]);
          sent++;
        }
        out(`put back ${sent} of ${rows.length} dead letter(s) on their stages' input topics${day ? `; now \`stageline nightly --day ${day}\` resumes the day` : ''}`);
        return sent === rows.length ? 0 : 1;
      }
      throw new StagelineError('INPUT_INVALID', 'usage: stageline dead-letters list|show ID|redrive');
    });
  },
};

const addDays = (day: string, n: number): string => new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);

export const purgeCommand: Command = {
  needsNamespace: true,
  summary: 'remove run bookkeeping of old days (bounded batches); --dry-run counts',
  help: [
    'stageline purge --older-than Nd [--dry-run] [--batch N]',
    '  For days older than N days: partials, sealed batches, work reports, offsets, the plans and merchant-days',
    '  of superseded epochs, late-data marks, and the sessions, products and summaries of superseded epochs.',
    '  Quarantine, ingest refusals and dead letters go after STAGELINE_QUARANTINE_RETENTION_DAYS instead.',
    '  What `report` shows for a day is kept. Deletes at most --batch rows per statement (default 5000).',
  ].join('\n'),
  options: { 'older-than': { type: 'string' }, 'dry-run': { type: 'boolean' }, batch: { type: 'string' } },
  async run(ctx) {
    const m = /^(\d+)d$/.exec(str(ctx.flags, 'older-than') ?? '');
    if (!m) throw new StagelineError('INPUT_INVALID', '--older-than takes days, e.g. 30d');
    const today = new Date().toISOString().slice(0, 10);
    const before = addDays(today, -Number(m[1]));
    const quarantineBefore = addDays(today, -Math.max(Number(m[1]), ctx.cfg.pipeline.quarantineRetentionDays));
    const dryRun = ctx.flags['dry-run'] === true;
    return withApp(ctx, async (app) => {
      const ledger = app.ledger();
      // HBase first: which epochs are superseded is read from the merchant-days the SQL purge removes.
      let hbaseRows = 0;
      for (const run of await ledger.runs.range('1970-01-01', addDays(before, -1))) {
        for (const { merchant_id, epoch } of await ledger.retention.superseded(run.day)) {
          if (dryRun) {
            hbaseRows++;
            continue;
          }
          hbaseRows += await deleteAll(app.hbase(), app.tables.sessions, sessionEpochPrefix(merchant_id, run.day, epoch));
          hbaseRows += await deleteAll(app.hbase(), app.tables.products, productEpochPrefix(run.day, merchant_id, epoch));
          await app.hbase().deleteRow(app.tables.summaries, summaryRowKey(run.day, merchant_id, epoch));
        }
      }
      const counts = await ledger.retention.purge({ before, quarantineBefore, batch: intFlag(ctx.flags, 'batch', 5000, 1), dryRun });
      out(`${dryRun ? 'would remove' : 'removed'} (run bookkeeping before ${before}, quarantine before ${quarantineBefore}):`);
      for (const [table, n] of Object.entries(counts)) out(`  ${table.padEnd(16)} ${n.toLocaleString('en-US')}`);
      out(`  ${'hbase rows'.padEnd(16)} ${hbaseRows.toLocaleString('en-US')}${dryRun ? ' (superseded merchant-day epochs)' : ''}`);
      return 0;
    });
  },
};
