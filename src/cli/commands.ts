/**
 * The subcommands. Each is a small function over the Config; the work lives in the modules they call.
 */
import { createReadStream, createWriteStream, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { Config } from '../config.js';
import { redactedConfig, renderSettingsTable } from '../config.js';
import { StagelineError, errorMessage } from '../errors.js';
import { sleep } from '../retry.js';
import { createApp, type App } from '../app.js';
import type { Command, CommandContext } from './types.js';
import { withApp } from './with-app.js';
import type { RunTrigger } from '../ledger/types.js';
import { dayFlag, intFlag, str } from './flags.js';
import { stackDown, stackOptions, stackStatus, stackUp } from '../stack/index.js';
import { provision, provisionKafka, provisionMysql } from '../provision.js';
import { hbaseProvisioner } from '../stack/hbase-provisioner.js';
import { ingest, type IngestSummary } from '../ingest/ingest.js';
import { generateLines, merchantId } from '../seed/generate.js';
import { runMaster } from '../master/master.js';
import { masterPorts } from '../master/wiring.js';
import { runNightly } from '../master/supervisor.js';
import { runStage } from '../worker/stage-process.js';
import { serveMasterMetrics } from '../prometheus.js';
import { frameOfMerchantDay, merchantCalendars } from '../domain/due.js';
import { addDays } from '../domain/zones.js';
import { yesterdayUtc } from '../domain/day.js';
import { statusCommand } from './status-command.js';
import { backfillCommand, deadLettersCommand, purgeCommand } from './ops-commands.js';
import { merchantsCommand } from './merchants-command.js';
import { webCommand, serveWeb } from './web-command.js';
import { countingBytes, progressReporter } from './ingest-progress.js';
import { readReport, readRejects, readProducts, formatReportTable, type ReportRow } from '../report.js';
import { REPORT_FORMATS, daysBetween, formatProductsTable, productsCsv, rejectsCsv, reportCsv, type RejectLine, type ReportFormat } from '../export.js';
import { STAGES, isStageName } from '../../stages/index.js';
import { assertGroupIdle, describeReplay, planReplay, resetOffsets, startReplayEpoch } from '../replay.js';

export type { Command, CommandContext };

const out = (s: string) => process.stdout.write(s + '\n');
const err = (s: string) => process.stderr.write(s + '\n');

/** For children of `nightly`: when the parent dies (we are re-parented), act. */
function exitWithParent(onOrphaned: () => void): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(timer);
      onOrphaned();
    }
  }, 2000);
  timer.unref();
}

/** --format table|json|csv, with --json kept as the alias it always was. */
function formatFlag(ctx: CommandContext): ReportFormat {
  const f = str(ctx.flags, 'format');
  if (f === undefined) return ctx.flags.json ? 'json' : 'table';
  if (!(REPORT_FORMATS as readonly string[]).includes(f)) throw new StagelineError('INPUT_INVALID', `--format takes ${REPORT_FORMATS.join(', ')}, got "${f}"`);
  if (ctx.flags.json && f !== 'json') throw new StagelineError('INPUT_INVALID', `--json and --format ${f} disagree`);
  return f as ReportFormat;
}

/** --day D, or --from D1 --to D2 (inclusive, at most 366 days). */
function dayRange(ctx: CommandContext): string[] {
  const from = str(ctx.flags, 'from');
  const to = str(ctx.flags, 'to');
  if (from === undefined && to === undefined) return [dayFlag(ctx.flags, true)];
  if (str(ctx.flags, 'day') !== undefined) throw new StagelineError('INPUT_INVALID', 'give --day or --from/--to, not both');
  const a = dayFlag({ day: from }, true);
  const b = dayFlag({ day: to ?? from }, true);
  if (b < a) throw new StagelineError('INPUT_INVALID', `--to ${b} is before --from ${a}`);
  const days = daysBetween(a, b);
  if (days.length > 366) throw new StagelineError('INPUT_INVALID', `--from ${a} --to ${b} is ${days.length} days; at most 366 at once`);
  return days;
}

const fmtMs = (ms: number) => (ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);

async function stackUpCmd(ctx: CommandContext, quiet = false): Promise<void> {
  const o = stackOptions(ctx.cfg);
  const t0 = Date.now();
  const services = await stackUp(o, (m) => err(`  ${m}`));
  for (const s of services) {
    const how = s.state === 'external' ? 'external (not started by stageline)' : s.startedNow ? `started in ${fmtMs(s.ms)}` : 'already running';
    if (!quiet || s.startedNow) err(`${s.name.padEnd(6)} ${s.endpoint.padEnd(28)} ${how}${s.logFile ? `  log: ${s.logFile}` : ''}`);
  }
  const app = createApp(ctx.cfg, ctx.log);
  try {
    const p = await provision(app, hbaseProvisioner(ctx.cfg, ctx.log));
    if (!quiet) err(`provisioned namespace "${ctx.cfg.namespace}": MySQL database ${ctx.cfg.mysql.database} (${p.migrations.length} new migrations), HBase tables ${p.tables.length}, topics created ${p.topicsCreated.length}, raised ${p.topicsRaised.length}`);
  } finally {
    await app.close();
  }
  if (!quiet) err(`stack ready in ${fmtMs(Date.now() - t0)}`);
}

export const COMMANDS: Record<string, Command> = {
  stack: {
    summary: 'up | down | status of the local Kafka, HBase and MySQL',
    help: 'stageline stack up|down|status [--brokers N | --kafka-brokers N]\n  up      start what is not running (idempotent), wait for readiness, provision the namespace\n  down    stop what `up` started (an external MySQL is left alone)\n  status  each service and where it listens\n  --brokers N, --kafka-brokers N  Kafka nodes (STAGELINE_KAFKA_BROKER_COUNT, default 1; 3 = a replicated\n               KRaft cluster). --kafka-brokers with a host:port LIST names bootstrap servers instead.',
    options: { json: { type: 'boolean' }, brokers: { type: 'string' } },
    async run(ctx) {
      const sub = ctx.args[0];
      const o = stackOptions(ctx.cfg);
      if (sub === 'up') {
        await stackUpCmd(ctx);
        return 0;
      }
      if (sub === 'down') {
        for (const s of await stackDown(o)) err(`${s.name.padEnd(6)} ${s.stopped ? 'stopped' : 'was not started by stageline'}`);
        return 0;
      }
      if (sub === 'status') {
        const st = await stackStatus(o);
        if (ctx.flags.json) out(JSON.stringify(st));
        else for (const s of st) out(`${s.name.padEnd(6)} ${s.state.padEnd(9)} ${s.endpoint}${s.pid ? `  pid ${s.pid}` : ''}${s.logFile ? `  log ${s.logFile}` : ''}${s.detail ? `  (${s.detail})` : ''}`);
        return st.every((s) => s.state === 'running' || s.state === 'external') ? 0 : 1;
      }
      throw new StagelineError('INPUT_INVALID', 'usage: stageline stack up|down|status');
    },
  },
  provision: {
    summary: 'create/upgrade the namespace: MySQL migrations, HBase tables, Kafka topics',
    help: 'stageline provision\n  Idempotent. Same as what `stack up` does after the servers are ready.',
    options: {},
    async run(ctx) {
      await withApp(ctx, async (app) => {
        const p = await provision(app, hbaseProvisioner(ctx.cfg, ctx.log));
        out(JSON.stringify(p));
      });
      return 0;
    },
  },
  migrate: {
    summary: 'apply pending MySQL migrations',
    help: 'stageline migrate',
    options: {},
    async run(ctx) {
      await withApp(ctx, async (app) => out(`applied: ${JSON.stringify(await provisionMysql(app))}`));
      return 0;
    },
  },
  topology: {
    summary: 'apply: create topics and raise partition counts from topology/topology.json',
    help: 'stageline topology apply\n  Creates missing topics and raises partitions to the topology\'s counts (never lowers them).',
    options: {},
    async run(ctx) {
      if (ctx.args[0] !== 'apply') throw new StagelineError('INPUT_INVALID', 'usage: stageline topology apply');
      await withApp(ctx, async (app) => {
        const r = await provisionKafka(app);
        out(`topics created: ${r.created.join(', ') || 'none'}; partitions raised: ${r.raised.join(', ') || 'none'}`);
      });
      return 0;
    },
  },
  seed: {
    summary: 'generate a realistic, deterministic day of NDJSON traffic',
    help: 'stageline seed --day D --events N [--merchants M] [--seed S] [--out FILE]\n  Writes NDJSON to stdout (or FILE); pipe it into `stageline ingest -`.',
    options: { day: { type: 'string' }, events: { type: 'string' }, merchants: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' } },
    async run(ctx) {
      const day = dayFlag(ctx.flags, true);
      const o = { day, events: intFlag(ctx.flags, 'events', 200_000, 1), merchants: intFlag(ctx.flags, 'merchants', 50, 1), seed: intFlag(ctx.flags, 'seed', 1) };
      const file = str(ctx.flags, 'out');
      const dest = file ? createWriteStream(file) : process.stdout;
      let buf = '';
      for (const line of generateLines(o)) {
        buf += line + '\n';
        if (buf.length > 1 << 16) {
          if (!dest.write(buf)) await once(dest, 'drain');
          buf = '';
        }
      }
      dest.write(buf);
      if (file) {
        (dest as ReturnType<typeof createWriteStream>).end();
        await once(dest, 'close');
      }
      return 0;
    },
  },
  ingest: {
    needsNamespace: true,
    summary: 'store NDJSON events (file or -) in HBase; refused lines go to a rejects file',
    help: 'stageline ingest <file|-> [--rejects PATH] [--json] [--quiet]\n  Default rejects file: <file>.rejects.ndjson, or ./ingest-rejects-<time>.ndjson for stdin.\n  Progress on stderr: lines, bytes, rate and ETA (a redrawn bar on a terminal, a plain line every 5 s otherwise); --quiet: none.\n  Exit 0 when the input was processed (refusals included); 1 when a server is unreachable.',
    options: { rejects: { type: 'string' }, json: { type: 'boolean' }, quiet: { type: 'boolean' } },
    async run(ctx) {
      const src = ctx.args[0];
      if (!src) throw new StagelineError('INPUT_INVALID', 'usage: stageline ingest <file|->');
      const rejects = str(ctx.flags, 'rejects') ?? (src === '-' ? resolve(`ingest-rejects-${new Date().toISOString().replace(/[:.]/g, '-')}.ndjson`) : `${src}.rejects.ndjson`);
      const input = src === '-' ? process.stdin : createReadStream(src);
      const progress = ctx.flags.quiet ? undefined : { tty: process.stderr.isTTY === true, ...(src === '-' ? {} : { totalBytes: statSync(src).size }) };
      const summary = await withApp(ctx, (app) => runIngest(app, input, rejects, progress, src === '-' ? 'stdin' : resolve(src)));
      if (ctx.flags.json) out(JSON.stringify(summary));
      else printIngest(summary);
      return 0;
    },
  },
  nightly: {
    needsNamespace: true,
    summary: 'the nightly trigger: run (or resume) the master for a day, optionally with workers',
    help: [
      'stageline nightly [--day D] [--with-workers N] [--rerun] [--allow-small-day] [--as-of D] [--wait] [--json] [--quiet]',
      '  --day D            the day to run. Without it: yesterday (UTC), then every earlier day within',
      '                     STAGELINE_LATE_LOOKBACK_DAYS that has late data (rows stored after it was planned)',
      '                     or merchant-days that were not due yet',
      '  --wait             run each day until all its merchant-days are due and done (sleeps in between)',
      '  --json             one JSON object per day when done: state, epoch, the merchant-days not due yet',
      '  --with-workers N   also run N replicas of each stage as child processes',
      '  --rerun            run a completed day again, whole, under a new epoch',
      '  --allow-small-day  plan a day even with no rows, or fewer than STAGELINE_MIN_DAY_FRACTION of its usual',
      '  --as-of D          take D as today when choosing yesterday (catching up after downtime)',
      '  A complete day with late data re-runs only the merchant-days with late data, under a new epoch.',
      '  Only due merchant-days are planned: the merchant\'s local day has ended, plus STAGELINE_DAY_GRACE_MIN.',
      '  The others are listed as not due yet (exit 0); run nightly hourly from cron to complete each zone\'s day.',
      '  The master is supervised: re-spawned with backoff if it dies. A lease left by a dead master is released',
      '  (same host) or waited out. Exit 0 complete, 1 the master kept dying, 3 failed, 4 another live master',
      '  holds the day, 5 the day looks wrong (no rows, or far fewer than usual), 130 interrupted.',
    ].join('\n'),
    options: { day: { type: 'string' }, 'with-workers': { type: 'string' }, rerun: { type: 'boolean' }, quiet: { type: 'boolean' }, 'allow-small-day': { type: 'boolean' }, 'as-of': { type: 'string' }, wait: { type: 'boolean' }, json: { type: 'boolean' } },
    async run(ctx) {
      const day = str(ctx.flags, 'day') !== undefined ? dayFlag(ctx.flags, true) : undefined;
      const asOf = str(ctx.flags, 'as-of') !== undefined ? Date.parse(`${dayFlag({ day: str(ctx.flags, 'as-of') }, true)}T12:00:00Z`) : Date.now();
      return runNightly(ctx, {
        ...(day ? { day } : {}), now: asOf, workers: intFlag(ctx.flags, 'with-workers', 0), rerun: ctx.flags.rerun === true, quiet: ctx.flags.quiet === true,
        allowSmallDay: ctx.flags['allow-small-day'] === true, wait: ctx.flags.wait === true, json: ctx.flags.json === true,
      });
    },
  },
  master: {
    needsNamespace: true,
    summary: '(internal) one master process for a day; `nightly` runs and supervises it',
    help: 'stageline master --day D [--rerun | --late] [--trigger nightly|backfill|replay] [--allow-small-day]\n  Exit 0 complete, 3 failed (stuck or a split conflict), 4 another master holds the day, 5 the day looks wrong.',
    options: { day: { type: 'string' }, rerun: { type: 'boolean' }, late: { type: 'boolean' }, trigger: { type: 'string' }, 'allow-small-day': { type: 'boolean' }, 'exit-with-parent': { type: 'boolean' } },
    async run(ctx) {
      const day = dayFlag(ctx.flags, true);
      if (ctx.flags['exit-with-parent']) exitWithParent(() => process.exit(1));
      const owner = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
      return withApp(ctx, async (app) => {
        const metrics = await serveMasterMetrics(app);
        // Late rows waiting, for the alert: polled apart from the run loop (a slow query must not delay it).
        const since = new Date(Date.parse(`${day}T00:00:00Z`) - ctx.cfg.pipeline.lateLookbackDays * 86_400_000).toISOString().slice(0, 10);
        const feedLate = async () => {
          try {
            const days = await app.ledger().late.days(since);
            metrics.lateRowsWaiting(new Map([[day, 0], ...days.map((d): [string, number] => [d.day, d.rows])]));
          } catch (e) {
            ctx.log.warn({ err: e }, 'late-data gauge not updated');
          }
        };
        await feedLate();
        const lateTimer = setInterval(() => { void feedLate(); }, 15_000);
        lateTimer.unref();
        try {
          const pause = ctx.cfg.faultPause;
          const outcome = await runMaster(masterPorts(app), {
            day, mode: ctx.flags.rerun === true ? 'rerun' : ctx.flags.late === true ? 'late' : 'resume', owner,
            trigger: (['nightly', 'backfill', 'replay'].includes(str(ctx.flags, 'trigger') ?? '') ? str(ctx.flags, 'trigger') : 'nightly') as RunTrigger,
            allowSmallDay: ctx.flags['allow-small-day'] === true, minDayFraction: ctx.cfg.pipeline.minDayFraction, newRunId: (e) => `${day}.e${e}.${randomBytes(4).toString('hex')}`, onProgress: metrics.update, leaseSec: ctx.cfg.pipeline.leaseSec,
            ...(pause ? { onCheckpoint: async (name: string) => { if (name === pause.checkpoint) { ctx.log.warn({ checkpoint: name, ms: pause.ms }, 'fault injection: pausing'); await sleep(pause.ms); } } } : {}),
          });
          ctx.log.info({ day, outcome }, 'master finished');
          return outcome === 'failed' ? 3 : outcome === 'small-day' ? 5 : 0;
        } catch (e) {
          if (e instanceof StagelineError && e.code === 'CONFLICT') {
            err(e.message);
            return 4;
          }
          throw e;
        } finally {
          clearInterval(lateTimer);
          await metrics.close();
        }
      });
    },
  },
  stage: {
    needsNamespace: true,
    summary: 'run one replica of a stage: split | transform | summarize',
    help: `stageline stage <${STAGES.join('|')}>\n  A consumer-group member on the stage's input topic. Start more to scale. SIGTERM drains.`,
    options: { 'exit-with-parent': { type: 'boolean' } },
    async run(ctx) {
      const name = ctx.args[0];
      if (!name || !isStageName(name)) throw new StagelineError('INPUT_INVALID', `usage: stageline stage <${STAGES.join('|')}>`);
      // Drain like on SIGTERM when the supervising `nightly` is gone, instead of running orphaned forever.
      if (ctx.flags['exit-with-parent']) exitWithParent(() => process.kill(process.pid, 'SIGTERM'));
      const app = createApp(ctx.cfg, ctx.log);
      await runStage(app, name);
      return 0;
    },
  },
  replay: {
    needsNamespace: true,
    summary: 'reprocess a day from a stage on, by resetting offsets to the day\'s recorded first offsets',
    help: `stageline replay --day D [--from-stage ${STAGES.join('|')}] [--dry-run] [--with-workers N]
  Starts a new epoch of the day from that stage on and resets the stage's consumer group to the
  first offsets the day's messages occupied (recorded in MySQL). Kafka resets a group only while it
  has no live members: stop that stage's workers first (replay names them and refuses otherwise).
  --dry-run prints the group, partitions, offset ranges and chunks it would touch.`,
    options: { day: { type: 'string' }, 'from-stage': { type: 'string' }, 'dry-run': { type: 'boolean' }, 'with-workers': { type: 'string' }, quiet: { type: 'boolean' } },
    async run(ctx) {
      const day = dayFlag(ctx.flags, true);
      const from = str(ctx.flags, 'from-stage') ?? 'split';
      if (!isStageName(from)) throw new StagelineError('INPUT_INVALID', `--from-stage must be one of ${STAGES.join(', ')}`);
      const workers = intFlag(ctx.flags, 'with-workers', 0);
      const ready = await withApp(ctx, async (app) => {
        const plan = await planReplay(app, day, from);
        out(describeReplay(plan));
        if (ctx.flags['dry-run']) return false;
        await assertGroupIdle(app, plan.group);
        await startReplayEpoch(app, plan);
        await resetOffsets(app, plan);
        err(`epoch ${plan.toEpoch} open, ${plan.group} reset; reprocessing`);
        return true;
      });
      if (!ready) return 0;
      return runNightly(ctx, { day, workers, rerun: false, quiet: ctx.flags.quiet === true, allowSmallDay: true });
    },
  },
  status: statusCommand,
  backfill: backfillCommand,
  'dead-letters': deadLettersCommand,
  merchants: merchantsCommand,
  purge: purgeCommand,
  web: webCommand,
  report: {
    needsNamespace: true,
    summary: 'the daily summaries of a day or a range: a table, JSON lines or CSV; --products for per-product rows',
    help: [
      'stageline report (--day D | --from D1 --to D2) [--merchant M] [--format table|json|csv] [--products]',
      '  --format json  one JSON object per merchant-day per line, sorted by day then merchant_id (--json is the same)',
      '  --format csv   RFC 4180 with a header row; hourly arrays are one field each, `;`-separated; text starting',
      '                 with = + - @ is prefixed with \' so a spreadsheet does not run it as a formula',
      '  --products     the per-product rows (every product of each merchant-day) instead of the summaries',
    ].join('\n'),
    options: { day: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, merchant: { type: 'string' }, json: { type: 'boolean' }, format: { type: 'string' }, products: { type: 'boolean' } },
    async run(ctx) {
      const days = dayRange(ctx);
      const format = formatFlag(ctx);
      const merchant = str(ctx.flags, 'merchant');
      return withApp(ctx, async (app) => {
        const rows: ReportRow[] = [];
        for (const d of days) rows.push(...(await readReport(app, d, merchant)));
        const what = `${days.length === 1 ? days[0] : `${days[0]} to ${days.at(-1)}`}${merchant ? ` and merchant ${merchant}` : ''}`;
        if (ctx.flags.products) {
          const products = await readProducts(app, rows);
          if (format === 'json') for (const p of products) out(JSON.stringify(p));
          else if (format === 'csv') process.stdout.write(productsCsv(products));
          else out(formatProductsTable(products));
          if (products.length === 0) err(`no product rows for ${what}`);
          return 0;
        }
        if (format === 'json') for (const r of rows) out(r.json);
        else if (format === 'csv') process.stdout.write(reportCsv(rows));
        else out(formatReportTable(rows.map((r) => r.summary), days.length > 1));
        if (rows.length === 0) err(`no summaries for ${what}`);
        return 0;
      });
    },
  },
  rejects: {
    needsNamespace: true,
    summary: 'what a day refused: lines ingest refused, and stored events that failed a rule, with reasons',
    help: [
      'stageline rejects --day D [--merchant M] [--limit N] [--format table|json|csv]',
      '  Ingest refusals of the day (the line as received, its first 4 KiB, where it came from) and the',
      '  stored-but-invalid events the night quarantined. json (or --json): one object per line, `kind` "refused" or "invalid".',
      '  csv: one row per refusal or invalid event (kind, day, merchant_id, visitor_id, event_id, source, line_no, reason, detail, raw).',
      '  A refusal is listed under its event\'s day when its merchant and ts could be read, else under the day it was refused.',
    ].join('\n'),
    options: { day: { type: 'string' }, merchant: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' }, format: { type: 'string' } },
    async run(ctx) {
      const day = dayFlag(ctx.flags, true);
      const merchant = str(ctx.flags, 'merchant');
      const format = formatFlag(ctx);
      return withApp(ctx, async (app) => {
        const limit = intFlag(ctx.flags, 'limit', 100, 1);
        const r = await readRejects(app, day, merchant, limit);
        const refused = await app.ledger().ingest.rejects(day, limit);
        const refusedRows = refused.rows.filter((x) => merchant === undefined || x.merchant_id === merchant);
        if (format === 'json') {
          for (const x of refusedRows) out(JSON.stringify({ kind: 'refused', ...x }));
          for (const q of r.rows) out(JSON.stringify({ kind: 'invalid', ...q }));
        } else if (format === 'csv') {
          process.stdout.write(rejectsCsv([
            ...refusedRows.map((x): RejectLine => ({ kind: 'refused', day: x.day, merchant_id: x.merchant_id, source: x.source, line_no: x.line_no, reason: x.reason, detail: x.detail, raw: x.head })),
            ...r.rows.map((q): RejectLine => ({ kind: 'invalid', day, merchant_id: q.merchant_id, visitor_id: q.visitor_id, event_id: q.event_id, reason: q.reason, detail: q.detail, raw: q.raw })),
          ]));
        } else {
          out(`${refused.total} lines refused at ingest, listed under ${day}; by reason: ${Object.entries(refused.byReason).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`);
          for (const x of refusedRows) out(`${x.source}:${x.line_no}\t${x.merchant_id ?? '-'}\t${x.reason}: ${x.detail}\t${x.head.slice(0, 200)}`);
          out(`${r.total} quarantined events on ${day}${r.total > r.rows.length ? ` (showing ${r.rows.length})` : ''}; by reason: ${Object.entries(r.byReason).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`);
          for (const q of r.rows) out(`${q.merchant_id}\t${q.visitor_id}\t${q.event_id}\t${q.reason}: ${q.detail}`);
          out(`dead letters (messages a stage could not handle): ${r.deadLetters}`);
        }
        return 0;
      });
    },
  },
  demo: {
    summary: 'the whole night on this machine: stack up → seed → ingest → nightly → report',
    help: 'stageline demo [--day D] [--events N] [--merchants M] [--workers N] [--web]\n  --web  at the end, serve the web page (`stageline web`) until Ctrl-C\n  Defaults: the day before yesterday (UTC: every zone\'s day is over), 200000 events, 50 merchants in 7 zones\n  (imported from .stack/demo/merchants.csv with `merchants import`), 1 replica per stage.',
    options: { day: { type: 'string' }, events: { type: 'string' }, merchants: { type: 'string' }, workers: { type: 'string' }, web: { type: 'boolean' } },
    async run(ctx) {
      return runDemo(ctx);
    },
  },
  config: {
    summary: 'print the effective configuration (secrets redacted)',
    help: 'stageline config [--table]\n  --table  every setting (env var, flag, default, what) as the README\'s markdown table',
    options: { table: { type: 'boolean' } },
    async run(ctx) {
      if (ctx.flags.table) out(renderSettingsTable());
      else out(JSON.stringify(redactedConfig(ctx.cfg as Config), null, 2));
      return 0;
    },
  },
};

/** Fails within a bound, with the server named, when HBase or MySQL does not answer before any input is read. */
async function preflight(app: App, boundMs = 20_000): Promise<void> {
  const within = <T>(what: string, p: Promise<T>): Promise<T> => Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new StagelineError(what === 'HBase' ? 'HBASE_UNAVAILABLE' : 'MYSQL_UNAVAILABLE', `${what} did not answer within ${boundMs / 1000} s (is the stack up? \`stageline stack status\`)`, { retryable: true })), boundMs).unref()),
  ]);
  await Promise.all([
    within('HBase', app.hbase().get(app.tables.raw, Buffer.from([0]))),
    within('MySQL', app.db().query('SELECT 1')),
  ]);
}

async function runIngest(app: App, input: AsyncIterable<Buffer | string>, rejects: string, progress: { tty: boolean; totalBytes?: number } | undefined, source: string): Promise<IngestSummary> {
  await preflight(app);
  const counter = { bytes: 0 };
  const reporter = progress ? progressReporter({ ...progress, counter, write: (s) => process.stderr.write(s) }) : undefined;
  // Each event's day is its merchant's local day: the registry as of now, with its version (a zone
  // change while this runs makes the batches it touches refuse to commit rather than count wrong).
  const zones = await app.ledger().registry.read();
  const calendarOf = merchantCalendars(zones.histories);
  try {
    return await ingest(reporter ? countingBytes(input, counter) : input, rejects, {
      hbase: app.hbase(),
      ledger: app.ledger().ingest,
      dayOf: (m, ts) => calendarOf(m).dayOf(ts),
      zonesVersion: zones.version,
      source,
      rawTable: app.tables.raw,
      buckets: app.topology.buckets,
      now: Date.now,
      ...(reporter ? { onProgress: (s: IngestSummary) => reporter.update(s) } : {}),
    });
  } finally {
    reporter?.done();
  }
}

function printIngest(s: IngestSummary): void {
  out(`read ${s.read} lines (${s.blank} blank) in ${fmtMs(s.elapsed_ms)}: stored ${s.stored} (${s.new_events} new events, ${s.duplicates} already stored or repeated), refused ${s.refused}`);
  if (s.refused > 0) out(`refused by reason: ${Object.entries(s.refused_by_reason).map(([k, v]) => `${k} ${v}`).join(', ')}; details in ${s.rejects_file}`);
  out(`merchant-days touched: ${s.merchant_days} (days: ${Object.entries(s.days).sort().map(([d, n]) => `${d} ${n}`).join(', ')})`);
}

/** Zones the demo gives its merchants, by merchant index (index 0 and every 7th stay UTC: not in the registry). */
const DEMO_ZONES = ['', 'America/Los_Angeles', 'Europe/Berlin', 'Asia/Kolkata', 'Australia/Sydney', 'America/Sao_Paulo', 'Asia/Tokyo'];

/**
 * The demo's merchant registry: merchants in several zones, imported like a user would. When the
 * namespace already holds UTC days of these merchants (a demo from before zones), the import is
 * refused and the demo goes on with what the registry says.
 */
async function demoZones(ctx: CommandContext, dir: string, merchants: number): Promise<void> {
  const rows = Array.from({ length: merchants }, (_, i) => [merchantId(i, merchants), DEMO_ZONES[i % DEMO_ZONES.length]!] as const).filter(([, z]) => z !== '');
  const file = join(dir, 'merchants.csv');
  writeFileSync(file, `merchant_id,time_zone\n${rows.map(([m, z]) => `${m},${z}`).join('\n')}\n`);
  try {
    await merchantsCommand.run({ ...ctx, args: ['import', file] });
  } catch (e) {
    err(`merchant zones not applied (${errorMessage(e).split('\n')[0]}); the demo goes on with the registry as it is`);
  }
}

async function runDemo(ctx: CommandContext): Promise<number> {
  // The day before yesterday by default: every zone's day is over (and due) whatever the hour.
  const day = str(ctx.flags, 'day') !== undefined ? dayFlag(ctx.flags, true) : addDays(yesterdayUtc(Date.now()), -1);
  const events = intFlag(ctx.flags, 'events', 200_000, 1);
  const merchants = intFlag(ctx.flags, 'merchants', 50, 1);
  const workers = intFlag(ctx.flags, 'workers', 1, 1);
  const t0 = Date.now();
  err(`== 1/4 stack up (Kafka, HBase, MySQL; first run downloads jars through Maven)`);
  await stackUpCmd(ctx);
  err(`\n== 2/4 seed ${events.toLocaleString('en-US')} events over ${merchants} merchants for ${day}, ingest them`);
  const dir = join(ctx.cfg.stack.dir, 'demo');
  mkdirSync(dir, { recursive: true });
  await demoZones(ctx, dir, merchants);
  // Each zoned merchant's traffic is laid over its own local day.
  const histories = await withApp(ctx, async (app) => app.ledger().registry.histories());
  const dayStartOf = (m: string) => (histories.has(m) ? frameOfMerchantDay(day, histories.get(m)).start_ms : undefined);
  const rejects = join(dir, `ingest-rejects-${day}.ndjson`);
  const lines = (function* () {
    for (const l of generateLines({ day, events, merchants, seed: 1, dayStartOf })) yield l + '\n';
  })();
  async function* chunked() {
    let buf = '';
    for (const l of lines) {
      buf += l;
      if (buf.length > 1 << 16) {
        yield buf;
        buf = '';
      }
    }
    if (buf) yield buf;
  }
  const summary = await withApp(ctx, (app) => runIngest(app, chunked(), rejects, { tty: process.stderr.isTTY === true }, `demo seed ${day}`));
  printIngest(summary);
  err(`\n== 3/4 nightly --day ${day} --with-workers ${workers}`);
  const code = await runNightly(ctx, { day, workers, rerun: true, quiet: false, allowSmallDay: true });
  if (code !== 0) return code;
  err(`\n== 4/4 report --day ${day}`);
  const example = await withApp(ctx, async (app) => {
    const rows = await readReport(app, day);
    out(formatReportTable(rows.map((r) => r.summary)));
    return rows[0]?.summary.merchant_id ?? 'M';
  });
  const bin = 'npx stageline';
  err(`\ndemo finished in ${fmtMs(Date.now() - t0)}. Where to look next:
  ${bin} report --day ${day} --json          every metric, one JSON line per merchant-day
  ${bin} report --day ${day} --merchant ${example}  one merchant
  ${bin} rejects --day ${day}                stored events that failed a rule, with reasons
  ${bin} merchants list                      the merchants' time zones (each merchant-day is its local day)
  ingest refusals:                           ${rejects}
  sessions (intermediate rows):              HBase table ${ctx.cfg.hbase.namespace}:sessions
  ${bin} stack status | stack down`);
  if (!ctx.flags.web) {
    err(`  ${bin} web                                  the web page: http://${ctx.cfg.web.host}:${ctx.cfg.web.port}/days/${day}`);
    return 0;
  }
  const web = await serveWeb(ctx);
  err(`\nweb page: ${web.server.url}days/${day}  (Ctrl-C stops it)`);
  await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
  await web.close();
  return 0;
}
