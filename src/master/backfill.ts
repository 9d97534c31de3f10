/**
 * `stageline backfill --from D1 --to D2`: many days in one command, a few at a time, each day's
 * master supervised like nightly's. What each day needs is decided from the ledger (planBackfill,
 * pure): a day never run is run, a failed or interrupted one resumed, a complete one with late data
 * re-runs those merchant-days, a complete one is left alone unless asked (`--reprocess all`).
 * Killed and run again, it resumes: finished days are complete and are skipped.
 *
 * A fresh night goes first: before it starts a day, backfill waits while a run started by `nightly`
 * holds its lease, so the night's chunks are not queued behind a week of old ones (days already
 * started go on; at most `concurrency` of them).
 */
import { join } from 'node:path';
import type { Ledger, RunRecord, AcquireMode } from '../ledger/types.js';
import { sleep } from '../retry.js';
import { startNightEnv, superviseDay, type NightlyContext } from './supervisor.js';

export type Reprocess = 'missing' | 'failed' | 'late' | 'all';

export interface BackfillOptions {
  from: string;
  to: string;
  concurrency: number;
  reprocess: ReadonlySet<Reprocess>;
  workers: number;
  dryRun: boolean;
  json: boolean;
  quiet: boolean;
  allowSmallDay: boolean;
}

export interface BackfillDay {
  day: string;
  /** run: never run; resume: failed or interrupted; late: re-run the late merchant-days; rerun: all again; skip */
  action: 'run' | 'resume' | 'late' | 'rerun' | 'skip';
  why: string;
}

export interface BackfillResult extends BackfillDay {
  /** waiting: what was due ran; some merchant-days of the day are not due yet (exit 0, as nightly) */
  result: 'ok' | 'waiting' | 'failed' | 'skipped';
  code: number;
  merchant_days: number;
  events: number;
  seconds: number;
}

export function daysBetween(from: string, to: string): string[] {
  const out: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += 86_400_000) out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

/** What each day needs, from its run and its late data. Pure. */
export function planBackfill(days: readonly string[], runs: ReadonlyMap<string, RunRecord>, late: ReadonlyMap<string, number>, reprocess: ReadonlySet<Reprocess>): BackfillDay[] {
  const all = reprocess.has('all');
  return days.map((day): BackfillDay => {
    const r = runs.get(day);
    if (!r) return all || reprocess.has('missing') ? { day, action: 'run', why: 'never run' } : { day, action: 'skip', why: 'never run (missing not asked)' };
    if (r.state === 'failed') return all || reprocess.has('failed') ? { day, action: 'resume', why: `failed: ${(r.error ?? '').slice(0, 80)}` } : { day, action: 'skip', why: 'failed (failed not asked)' };
    if (r.state === 'waiting') return all || reprocess.has('missing') || reprocess.has('late') ? { day, action: 'late', why: 'merchant-days without a plan yet (not due when it ran, or new)' } : { day, action: 'skip', why: 'waiting (not asked)' };
    if (r.state !== 'complete') return all || reprocess.has('missing') || reprocess.has('failed') ? { day, action: 'resume', why: `${r.state}, not finished` } : { day, action: 'skip', why: `${r.state} (not asked)` };
    const rows = late.get(day) ?? 0;
    if (all) return { day, action: 'rerun', why: 'complete; all asked' };
    if (rows > 0 && reprocess.has('late')) return { day, action: 'late', why: `${rows} late rows` };
    return { day, action: 'skip', why: rows > 0 ? `complete; ${rows} late rows (late not asked)` : 'complete' };
  });
}

const MODE: Record<BackfillDay['action'], AcquireMode> = { run: 'late', resume: 'late', late: 'late', rerun: 'rerun', skip: 'resume' };

export async function inspect(ledger: Ledger, o: Pick<BackfillOptions, 'from' | 'to' | 'reprocess'>): Promise<BackfillDay[]> {
  const runs = new Map((await ledger.runs.range(o.from, o.to)).map((r) => [r.day, r]));
  const late = new Map((await ledger.late.days(o.from)).filter((d) => d.day <= o.to).map((d) => [d.day, d.rows]));
  return planBackfill(daysBetween(o.from, o.to), runs, late, o.reprocess);
}

export function renderBackfill(results: readonly BackfillResult[]): string {
  const head = ['day', 'action', 'merchant-days', 'events', 'seconds', 'result'];
  const rows = results.map((r) => [r.day, r.action, String(r.merchant_days), r.events.toLocaleString('en-US'), r.seconds.toFixed(1), r.result === 'failed' ? `FAILED (exit ${r.code})` : r.result]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i]!.length)));
  const line = (x: string[]) => x.map((c, i) => (i >= 2 && i <= 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export async function runBackfill(ctx: NightlyContext, o: BackfillOptions): Promise<{ code: number; results: BackfillResult[] }> {
  const say = (m: string) => process.stderr.write(`${m}\n`);
  const env = await startNightEnv(ctx, { workers: o.dryRun ? 0 : o.workers, quiet: true, logDir: join(ctx.cfg.stack.dir, 'logs', `backfill-${o.from}-${o.to}`) });
  try {
    const plan = await inspect(env.app.ledger(), o);
    if (o.dryRun) {
      return { code: 0, results: plan.map((d) => ({ ...d, result: 'skipped', code: 0, merchant_days: 0, events: 0, seconds: 0 })) };
    }
    const results: BackfillResult[] = [];
    const queue = plan.filter((d) => d.action !== 'skip');
    for (const d of plan.filter((x) => x.action === 'skip')) results.push({ ...d, result: 'skipped', code: 0, merchant_days: 0, events: 0, seconds: 0 });
    let waitedSaid = false;
    const workerLoop = async (): Promise<void> => {
      for (;;) {
        if (env.interrupted) return;
        const d = queue.shift();
        if (!d) return;
        // The fresh night first: hold back a new day while a nightly-triggered run is in progress.
        for (;;) {
          const fresh = (await env.app.ledger().runs.active()).filter((r) => r.trigger === 'nightly' && !plan.some((p) => p.day === r.day));
          if (fresh.length === 0 || env.interrupted) break;
          if (!waitedSaid) say(`a fresh night is running (${fresh.map((r) => r.day).join(', ')}): backfill holds its next days back until it is done`);
          waitedSaid = true;
          await sleep(2000);
        }
        const t0 = Date.now();
        const code = await superviseDay(env, { day: d.day, mode: MODE[d.action], trigger: 'backfill', allowSmallDay: o.allowSmallDay });
        const p = await env.app.ledger().progress.read(d.day, ctx.cfg.pipeline.stuckAfterSec);
        const result = code !== 0 ? 'failed' : p?.run.state === 'waiting' ? 'waiting' : 'ok';
        const r: BackfillResult = { ...d, result, code, merchant_days: p?.run.merchant_days ?? 0, events: p?.merchantDays.events ?? 0, seconds: (Date.now() - t0) / 1000 };
        results.push(r);
        const line = `backfill ${d.day}: ${d.action} (${d.why}) → ${r.result}${code ? ` (exit ${code})` : ''}, ${r.merchant_days} merchant-days, ${r.events.toLocaleString('en-US')} events, ${r.seconds.toFixed(1)} s`;
        if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
        else say(line);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, o.concurrency) }, () => workerLoop()));
    results.sort((a, b) => (a.day < b.day ? -1 : 1));
    if (env.interrupted) return { code: 130, results };
    return { code: results.some((r) => r.result === 'failed') ? 1 : 0, results };
  } finally {
    await env.close();
  }
}
