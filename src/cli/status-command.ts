/**
 * `stageline status [--day D] [--watch] [--json] [--chunks]`: a run's progress per stage, lag,
 * dead letters, stuck work, ETA and where the bottleneck is; the per-chunk work reports with
 * --chunks. The reading and the arithmetic are in ../status.ts.
 */
import type { Command } from './types.js';
import { dayFlag } from './flags.js';
import { createApp, type App } from '../app.js';
import { sleep } from '../retry.js';
import { buildStatus, latestDay, readChunks, readStatusInput, renderChunks, renderStatus, type ChunkReport, type RunStatus } from '../status.js';

const DONE_STATES = new Set(['complete', 'failed']);

async function snapshot(app: App, day: string, chunks: boolean): Promise<{ status: RunStatus; chunks?: ChunkReport[] } | undefined> {
  const input = await readStatusInput(app, day);
  if (!input) return undefined;
  const status = buildStatus(input);
  return chunks ? { status, chunks: await readChunks(app, day, status.epoch) } : { status };
}

export const statusCommand: Command = {
  needsNamespace: true,
  summary: 'progress of a run per stage: lag, throughput, dead letters, stuck work, ETA, bottleneck',
  help: [
    'stageline status [--day D] [--watch] [--json] [--chunks]',
    '  --day D    the run to show (default: the most recently active run)',
    '  --watch    redraw every second until the run is complete or failed',
    '  --json     one JSON object (with --watch: one per line, per refresh); field names are stable',
    '  --chunks   also list every chunk with its time queued, handling and writing in each stage',
    '  Exit 0; 1 when there is no such run; 3 when the run failed.',
  ].join('\n'),
  options: { day: { type: 'string' }, watch: { type: 'boolean' }, json: { type: 'boolean' }, chunks: { type: 'boolean' } },
  async run(ctx) {
    const json = ctx.flags.json === true;
    const watch = ctx.flags.watch === true;
    const withChunks = ctx.flags.chunks === true;
    const dayArg = typeof ctx.flags.day === 'string' ? dayFlag(ctx.flags, true) : undefined;
    const tty = process.stdout.isTTY === true && !json;
    const app = createApp(ctx.cfg, ctx.log);
    let stop = false;
    const onSignal = () => { stop = true; };
    process.once('SIGINT', onSignal);
    try {
      for (;;) {
        const day = dayArg ?? (await latestDay(app));
        const snap = day === undefined ? undefined : await snapshot(app, day, withChunks);
        if (!snap) {
          // Watching before the master has created the run: wait for it instead of failing.
          if (watch && !stop) {
            if (tty) process.stdout.write(`\x1b[H\x1b[2Jwaiting for a run${day ? ` of ${day}` : ''} in namespace ${ctx.cfg.namespace}...\n`);
            await sleep(1000);
            continue;
          }
          process.stderr.write(`no run${day ? ` for ${day}` : ''} in namespace ${ctx.cfg.namespace}\n`);
          return 1;
        }
        if (json) {
          process.stdout.write(`${JSON.stringify(snap.chunks ? { ...snap.status, chunk_reports: snap.chunks } : snap.status)}\n`);
        } else {
          const text = `${renderStatus(snap.status)}${snap.chunks ? `\n\n${renderChunks(snap.chunks)}` : ''}\n`;
          // Redraw in place on a terminal; a pipe gets one frame after another.
          process.stdout.write(watch && tty ? `\x1b[H\x1b[2J${text}` : watch ? `${text}\n` : text);
        }
        if (!watch || stop || DONE_STATES.has(snap.status.state)) return snap.status.state === 'failed' ? 3 : 0;
        await sleep(1000);
      }
    } finally {
      process.off('SIGINT', onSignal);
      await app.close();
    }
  },
};
