/**
 * `npm run bench [-- --events N --merchants M --day D --skip-overload ...]`: every number of
 * BENCHMARKS.md from one run on one generated day in a private namespace (ingested once), printed
 * as a table and written to bench/results/<timestamp>.json. See BENCHMARKS.md for what each
 * number means and how it is measured.
 */
import { mkdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir, cpus, totalmem, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { readReport } from '../src/report.js';
import { rawBucketPrefix } from '../src/domain/rowkey.js';
import { projectPath } from '../src/paths.js';
import { openNamespace, runNode, round, say, childEnv, type BenchNamespace } from './common.js';
import { ProcWatcher, serverLabel, summarize } from './procstat.js';
import { merchantsOfDay, type DirectStats } from './direct.js';
import { nsClassifier, runNightly, type PipelineResult } from './pipeline.js';
import { runMicro, type MicroResult } from './micro.js';
import { runMergeBench, type MergeResult } from './merge.js';
import { runOverload, type OverloadResult } from './overload.js';
import { diffSummaries } from './compare.js';
import { generate, ingest, type IngestResult } from './day.js';
import type { PeerStats } from './peer.js';
import { runScale, scaleTable, type ScalePoint } from './scale.js';

const { values: o } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    merchants: { type: 'string', default: '50' },
    // A past day: nightly plans only merchant-days that are due (ended + grace), so a future day would plan nothing.
    day: { type: 'string', default: '2026-05-20' },
    seed: { type: 'string', default: '1' },
    'skip-overload': { type: 'boolean', default: false },
    'skip-micro': { type: 'boolean', default: false },
    'overload-factor': { type: 'string', default: '10' },
    'overload-base': { type: 'string' },
    'micro-events': { type: 'string', default: '200000' },
    'peer-threads': { type: 'string', default: '2' },
    'skip-peer': { type: 'boolean', default: false },
    scale: { type: 'boolean', default: false },
    'scale-10m': { type: 'boolean', default: false },
    'scale-sizes': { type: 'string' },
    'top-share': { type: 'string', default: '0.3' },
    'bot-events': { type: 'string', default: '100000' },
    reuse: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});

const int = (name: string, v: string | undefined, min = 1): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}`);
  return n;
};
const events = int('events', o.events);
const merchants = int('merchants', o.merchants);
const seed = int('seed', o.seed, 0);
const day = o.day!;
const factor = int('overload-factor', o['overload-factor']);
// R4 ingests 2F days of B lines: as many lines as the bench day by default.
const overloadBase = o['overload-base'] ? int('overload-base', o['overload-base']) : Math.ceil(events / (2 * factor));
const microEvents = int('micro-events', o['micro-events']);
const peerThreads = int('peer-threads', o['peer-threads']);

/** Raw HBase scan throughput over every row of the day (also warms the block cache for what follows). */
async function scanDay(b: BenchNamespace): Promise<{ rows: number; ms: number; rowsPerSec: number }> {
  const hbase = b.app.hbase();
  const t0 = performance.now();
  let rows = 0;
  for (const { merchant_id } of await merchantsOfDay(b.app, day)) {
    for await (const _r of hbase.scan(b.app.tables.raw, { startRow: rawBucketPrefix(merchant_id, day, 0), stopRow: rawBucketPrefix(merchant_id, day, b.app.topology.buckets), caching: 1000 })) rows++;
  }
  const ms = performance.now() - t0;
  return { rows, ms: Math.round(ms), rowsPerSec: Math.round(rows / (ms / 1000)) };
}

interface DirectResult extends DirectStats {
  peakRssMb: number;
  machineBusy: number;
  processCpuMs: number;
  hbaseCpuSec: number;
}

async function direct(b: BenchNamespace, out: string): Promise<DirectResult> {
  const watcher = new ProcWatcher((argv) => (argv.some((a) => a.endsWith('direct.js')) ? 'direct' : serverLabel(argv))).start();
  const t0 = Date.now();
  const res = await runNode([projectPath('dist', 'bench', 'direct.js'), '--namespace', b.ns, '--day', day, '--out', out], { env: childEnv({ STAGELINE_LOG_LEVEL: 'warn' }) });
  watcher.stop();
  if (res.code !== 0) throw new Error(`direct exited ${res.code}: ${res.stderr.slice(-2000)}`);
  const stats = JSON.parse(res.stdout.trim().split('\n').pop() ?? '{}') as DirectStats;
  const procs = [...watcher.tracked.values()].map((t) => summarize(t, t0, Date.now()));
  const me = procs.find((p) => p.label === 'direct');
  return { ...stats, machineBusy: round(watcher.machineBusy(t0, Date.now()), 2), peakRssMb: round(me?.peakRssMb ?? 0, 0), processCpuMs: Math.round(me?.cpuMs ?? 0), hbaseCpuSec: round((procs.find((p) => p.label === 'hbase')?.windowCpuMs ?? 0) / 1000, 1) };
}

interface PeerResult extends PeerStats {
  peakRssMb: number;
  /** CPU of the peer process from /proc (DuckDB's threads included) */
  processCpuMs: number;
  machineBusy: number;
}

/** The DuckDB peer (bench/peer.ts) in its own process over the same NDJSON file ingest read. */
async function peer(file: string, out: string): Promise<PeerResult> {
  const watcher = new ProcWatcher((argv) => (argv.some((a) => a.endsWith('peer.js')) ? 'peer' : undefined), 100).start();
  const t0 = Date.now();
  const res = await runNode([projectPath('dist', 'bench', 'peer.js'), '--file', file, '--day', day, '--threads', String(peerThreads), '--out', out], { env: childEnv({ STAGELINE_LOG_LEVEL: 'warn' }) });
  watcher.stop();
  if (res.code !== 0) throw new Error(`peer exited ${res.code}: ${res.stderr.slice(-2000)}`);
  const stats = JSON.parse(res.stdout.trim().split('\n').pop() ?? '{}') as PeerStats;
  const me = [...watcher.tracked.values()].map((t) => summarize(t, t0, Date.now())).find((p) => p.label === 'peer');
  return { ...stats, peakRssMb: round(me?.peakRssMb ?? 0, 0), processCpuMs: Math.round(me?.cpuMs ?? stats.cpuMs), machineBusy: round(watcher.machineBusy(t0, Date.now()), 2) };
}

async function compareWithReport(b: BenchNamespace, directFile: string): Promise<{ match: boolean; diffs: string[]; merchantDays: number }> {
  const report = (await readReport(b.app, day)).map((r) => JSON.parse(r.json) as Record<string, unknown>);
  const dir = readFileSync(directFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  const diffs = diffSummaries(report, dir);
  return { match: diffs.length === 0, diffs: diffs.slice(0, 10), merchantDays: report.length };
}

function machine(): Record<string, unknown> {
  const cpu = cpus();
  let kernel = '';
  try {
    kernel = execFileSync('uname', ['-sr'], { encoding: 'utf8' }).trim();
  } catch { /* not essential */ }
  return { cpus: cpu.length, cpuModel: cpu[0]?.model ?? '?', memGiB: round(totalmem() / 2 ** 30, 1), node: process.version, kernel };
}

// ------------------------------------------------------------------------------------------ output

function table(head: string[], rows: Array<Array<string | number | undefined>>): string {
  const cells = rows.map((r) => r.map((c) => (c === undefined ? '-' : typeof c === 'number' ? c.toLocaleString('en-US') : c)));
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [fmt(head), w.map((x) => '-'.repeat(x)).join('  '), ...cells.map(fmt)].join('\n');
}

interface Goal {
  goal: string;
  value: number | undefined;
  /** PASS when value ≥ target ('min') or ≤ target ('max') */
  kind: 'min' | 'max';
  target: number;
  detail: string;
}

const pipelineCpuUs = (p: PipelineResult): number => (Object.values(p.stages).reduce((a, m) => a + m.windowCpuMs, 0) * 1000) / Math.max(1, p.events);

/** The goals of issue 15, each from this run's numbers (undefined: the part that measures it did not run). */
function goals(r: Results): Goal[] {
  const p1 = r.pipeline1;
  const p2 = r.pipeline2;
  const peerOk = r.peer && r.peerCorrectness?.match;
  const out: Goal[] = [];
  const nightS = p1 ? p1.wallMs / 1000 : undefined;
  out.push({
    goal: 'night events/s ÷ peer events/s', kind: 'min', target: 1.0,
    value: p1 && r.peer && nightS ? round(p1.events / nightS / r.peer.eventsPerSec, 2) : undefined,
    detail: p1 && r.peer ? `night = \`nightly --with-workers 1\` wall ${round(p1.wallMs / 1000, 1)} s → ${Math.round(p1.events / (p1.wallMs / 1000))} events/s (publish→done window only: ${Math.round(p1.eventsPerSec)}/s = ${round(p1.eventsPerSec / r.peer.eventsPerSec, 2)}); peer ${r.peer.eventsPerSec}/s${peerOk ? '' : ' (peer does NOT match the report: ratio not valid)'}` : 'needs pipeline w1 and the peer',
  });
  out.push({
    goal: '(ingest + night) time ÷ peer time', kind: 'max', target: 2.5,
    value: p1 && r.peer && r.ingest ? round((r.ingest.wallMs + p1.wallMs) / r.peer.wallMs, 2) : undefined,
    detail: p1 && r.peer && r.ingest ? `(${round(r.ingest.wallMs / 1000, 1)} + ${round(p1.wallMs / 1000, 1)}) s ÷ ${round(r.peer.wallMs / 1000, 1)} s` : 'needs ingest (not on --reuse), pipeline w1 and the peer',
  });
  out.push({
    goal: 'ingest lines/s (one process)', kind: 'min', target: 100_000,
    value: r.ingest?.eventsPerSec,
    detail: r.ingest ? `wall incl. start-up; ${r.ingest.eventsPerSecInternal}/s inside; CPU ${round((r.ingest.cpuMs * 1000) / Math.max(1, r.ingest.lines), 1)} µs/line (${round(r.ingest.cpuMs / 1000, 1)} s for ${r.ingest.lines.toLocaleString('en-US')} lines)` : 'no ingest on --reuse',
  });
  out.push({
    goal: 'night ÷ bare HBase scan', kind: 'min', target: 0.6,
    value: p1 && r.scan ? round(p1.eventsPerSec / r.scan.rowsPerSec, 2) : undefined,
    detail: p1 && r.scan ? `${Math.round(p1.eventsPerSec)} events/s (publish→done) ÷ ${r.scan.rowsPerSec} rows/s` : 'needs pipeline w1 and the scan',
  });
  const d = r.direct;
  out.push({
    goal: 'pipeline CPU/event ÷ direct', kind: 'max', target: 1.5,
    value: p1 && d ? round(pipelineCpuUs(p1) / ((d.processCpuMs * 1000) / Math.max(1, d.rows)), 2) : undefined,
    detail: p1 && d ? `${round(pipelineCpuUs(p1), 1)} µs (split+transform+summarize in the window, 1 replica) ÷ ${round((d.processCpuMs * 1000) / Math.max(1, d.rows), 1)} µs (direct process); with the master ${round(pipelineCpuUs(p1) + (p1.master.cpuMs * 1000) / Math.max(1, p1.events), 1)} µs` : 'needs pipeline w1 and direct',
  });
  out.push({
    goal: '2-replica CPU/event ÷ 1 replica', kind: 'max', target: 1.1,
    value: p1 && p2 ? round(pipelineCpuUs(p2) / pipelineCpuUs(p1), 2) : undefined,
    detail: p1 && p2 ? `${round(pipelineCpuUs(p2), 1)} ÷ ${round(pipelineCpuUs(p1), 1)} µs/event (stages, window); events/s ${Math.round(p2.eventsPerSec)} vs ${Math.round(p1.eventsPerSec)}` : 'needs pipeline w1 and w2',
  });
  const ov = r.overload;
  out.push({
    goal: 'overload goodput ÷ nominal (equal windows)', kind: 'min', target: 0.9,
    value: ov?.r4,
    detail: ov ? `${ov.overloadGoodput} ÷ ${ov.nominalGoodput} events/s, both over ${round(ov.equalWindowMs / 1000, 1)} s: ${ov.factor} days one at a time vs ${ov.factor} days at once (${ov.overloadEventsInWindow.toLocaleString('en-US')} of ${ov.overload.events.toLocaleString('en-US')} done in the window)` : 'R4 skipped',
  });
  const m = r.merge;
  out.push({
    goal: `summarize merge of 2,000 partials × 2,000 products, ms (issue 11)`, kind: 'max', target: 1000,
    value: m ? Math.round(m.mergeMs) : undefined,
    detail: m ? `${m.partials} × ${m.products}: merge ${Math.round(m.mergeMs)} ms, Avro decode ${Math.round(m.decodeMs)} ms beside it; first ${m.compareWith}: linear ${Math.round(m.linearPrefixMs)} ms vs old reduce(mergePartials) ${Math.round(m.quadraticPrefixMs)} ms` : 'merge skipped (--skip-micro)',
  });
  return out;
}

const verdict = (g: Goal): string => (g.value === undefined ? 'n/a' : (g.kind === 'min' ? g.value >= g.target : g.value <= g.target) ? 'PASS' : 'MISS');

function printAll(r: Results): string {
  const lines: string[] = [];
  const p1 = r.pipeline1;
  const p2 = r.pipeline2;
  lines.push(`Stageline bench ${r.startedAt}: ${r.params.events.toLocaleString('en-US')} events requested, ${r.params.merchants} merchants, day ${r.params.day}, namespace ${r.namespace}`);
  lines.push(`machine: ${String(r.machine.cpus)} × ${String(r.machine.cpuModel)}, ${String(r.machine.memGiB)} GiB, node ${String(r.machine.node)}`);
  lines.push('');
  const ratios: Array<Array<string | number | undefined>> = [];
  if (p1 && r.direct) ratios.push(['R1 pipeline(w1) ÷ direct', round(p1.eventsPerSec / r.direct.eventsPerSec, 2), `${Math.round(p1.eventsPerSec)} ÷ ${Math.round(r.direct.eventsPerSec)} events/s (goal ≥ 0.5); excl. worker join lag ${round(p1.eventsPerSecExclJoin / r.direct.eventsPerSec, 2)}`]);
  if (p1 && p2) ratios.push(['R3 2 replicas ÷ 1 replica', round(p2.eventsPerSec / p1.eventsPerSec, 2), `${Math.round(p2.eventsPerSec)} ÷ ${Math.round(p1.eventsPerSec)} events/s (goal ≥ 1.3); excl. join lag ${round(p2.eventsPerSecExclJoin / p1.eventsPerSecExclJoin, 2)}`]);
  if (r.peerCorrectness) ratios.push(['peer (DuckDB) vs report --json', r.peerCorrectness.match ? 'MATCH' : 'MISMATCH', `${r.peerCorrectness.merchantDays} merchant-days${r.peerCorrectness.diffs.length ? `; first diffs: ${r.peerCorrectness.diffs.slice(0, 3).join(' | ')}` : ''}`]);
  if (r.correctness) ratios.push(['direct vs report --json', r.correctness.match ? 'MATCH' : 'MISMATCH', `${r.correctness.merchantDays} merchant-days${r.correctness.diffs.length ? `; first diffs: ${r.correctness.diffs.slice(0, 3).join(' | ')}` : ''}`]);
  lines.push(table(['ratio', 'value', 'detail'], ratios));
  lines.push('');
  lines.push('goals of issue 15:');
  lines.push(table(['goal', 'value', 'target', 'verdict', 'detail'], goals(r).map((g) => [g.goal, g.value, `${g.kind === 'min' ? '≥' : '≤'} ${g.target.toLocaleString('en-US')}`, verdict(g), g.detail])));
  if (r.load) lines.push(`machine load during the run: busy ${Math.round(r.load.machineBusy * 100)}% of ${r.load.cores} cores over ${round(r.load.wallS, 0)} s = ${r.load.busyCoreS} core-s: this bench's processes ${r.load.benchCoreS}, servers (Kafka/HBase/MariaDB, shared with anyone else using the stack) ${r.load.serversCoreS}, other processes ${r.load.otherCoreS}; load average ${r.load.loadStart.join(' ')} at start, ${r.load.loadEnd.join(' ')} at end`);
  lines.push('');
  const th: Array<Array<string | number | undefined>> = [];
  if (r.ingest) th.push(['ingest (child process)', r.ingest.eventsPerSec, `lines/s wall incl. start-up (${r.ingest.eventsPerSecInternal}/s inside); peak RSS ${r.ingest.peakRssMb} MB; ${r.ingest.lines.toLocaleString('en-US')} lines in ${round(r.ingest.wallMs / 1000, 1)} s`]);
  if (r.scan) th.push(['HBase scan, raw day', r.scan.rowsPerSec, `rows/s, ${r.scan.rows.toLocaleString('en-US')} rows, sequential per merchant, caching 1000`]);
  if (r.micro) th.push(['HBase putMany, sessions', r.micro.putRowsPerSec, `rows/s one big putMany (4 Multi in flight); ${r.micro.putRowsPerSecSequentialBatches}/s as transform does (one awaited putMany per batch)`]);
  if (r.peer) th.push([`peer DuckDB (${r.peer.threads} threads)`, r.peer.eventsPerSec, `events/s; ${r.peer.events.toLocaleString('en-US')} events of ${r.peer.lines.toLocaleString('en-US')} lines in ${round(r.peer.wallMs / 1000, 1)} s (SQL ${round(r.peer.queryMs / 1000, 1)} s: ${Object.entries(r.peer.stepsMs).map(([k, v]) => `${k} ${v}`).join(', ')} ms); CPU ${round(r.peer.processCpuMs / 1000, 1)} s = ${round((r.peer.processCpuMs * 1000) / Math.max(1, r.peer.events), 1)} µs/event; peak RSS ${r.peer.peakRssMb} MB; machine busy ${Math.round(r.peer.machineBusy * 100)}%`]);
  if (r.direct) th.push(['direct (1 process)', Math.round(r.direct.eventsPerSec), `events/s; ${round(r.direct.wallMs / 1000, 1)} s, compute ${round(r.direct.computeMs / 1000, 1)} s, CPU ${round(r.direct.cpuMs / 1000, 1)} s, HBase server CPU ${r.direct.hbaseCpuSec} s, peak RSS ${r.direct.peakRssMb} MB, machine busy ${Math.round(r.direct.machineBusy * 100)}%`]);
  for (const p of [p1, p2]) if (p) th.push([`pipeline w${p.workers}`, Math.round(p.eventsPerSec), `events/s; window ${round(p.windowMs / 1000, 1)} s (join lag ${round(p.joinLagMs / 1000, 1)} s), nightly wall ${round(p.wallMs / 1000, 1)} s, machine busy ${Math.round(p.machineBusy * 100)}%, servers CPU s ${JSON.stringify(p.servers)}`]);
  lines.push(table(['throughput', 'value', 'detail'], th));
  lines.push('');
  const st: Array<Array<string | number | undefined>> = [];
  for (const p of [p1, p2]) {
    if (!p) continue;
    for (const [s, m] of Object.entries(p.stages)) st.push([`w${p.workers} ${s} ×${m.replicas}`, m.usPerEvent, m.windowUsPerEvent, m.peakRssMb, m.handled, m.p50Ms, m.p99Ms, m.latencySamples]);
    st.push([`w${p.workers} master`, round((p.master.cpuMs * 1000) / Math.max(1, p.events), 2), undefined, p.master.peakRssMb, undefined, undefined, undefined, undefined]);
  }
  if (st.length) lines.push(table(['stage', 'CPU µs/ev (life)', 'µs/ev (window)', 'peak RSS MB', 'msgs', 'p50 ms', 'p99 ms', 'lat. n'], st));
  for (const p of [p1, p2]) {
    if (!p) continue;
    const used = Object.values(p.cpuInWindow).reduce((a, x) => a + x, 0);
    const foreign = Math.max(0, p.machineBusy * p.coreSecondsAvailable - used);
    lines.push(`w${p.workers} CPU in the window (core-s of ${p.coreSecondsAvailable} available): ${Object.entries(p.cpuInWindow).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}; sum ${round(used, 1)} (${Math.round((100 * used) / Math.max(0.1, p.coreSecondsAvailable))}%); other processes on the machine ${round(foreign, 1)} core-s`);
  }
  if (r.micro) {
    lines.push('');
    lines.push(`time breakdown (primitives timed alone in the bench process on ${r.micro.events.toLocaleString('en-US')} events of ${r.micro.merchants} merchants; ${r.micro.batches} batches of ~${r.micro.avgBatchBytes} B; ${r.micro.sessionsPerEvent} sessions/event)`);
    const byStage = new Map<string, number>();
    for (const x of r.micro.primitives) byStage.set(x.stage, (byStage.get(x.stage) ?? 0) + x.usPerEvent);
    lines.push(table(['stage', 'primitive', 'µs/event', 'share of stage', 'note'], r.micro.primitives.map((x) => [x.stage, x.what, x.usPerEvent, `${Math.round((100 * x.usPerEvent) / Math.max(0.001, byStage.get(x.stage) ?? 1))}%`, x.note ?? ''])));
    lines.push(`sum per stage µs/event: ${[...byStage].map(([s, v]) => `${s} ${round(v, 1)}`).join(', ')}`);
  }
  if (r.overload) {
    const ov = r.overload;
    lines.push('');
    lines.push(table(['R4 phase', 'days', 'events', 'counted window s', 'goodput events/s', 'all done after s', 'machine busy', 'worker peak RSS MB (in window)'], [
      [`nominal (${ov.factor} days, one at a time)`, ov.factor, ov.nominal.events, round(ov.equalWindowMs / 1000, 1), ov.nominalGoodput, round(ov.nominal.windowMs / 1000, 1), `${Math.round(ov.nominal.machineBusy * 100)}%`, JSON.stringify(ov.nominal.workerPeakRssMb)],
      [`overload (${ov.factor} days at once)`, ov.factor, ov.overloadEventsInWindow, round(ov.equalWindowMs / 1000, 1), ov.overloadGoodput, round(ov.overload.windowMs / 1000, 1), `${Math.round(ov.overload.machineBusy * 100)}%`, JSON.stringify(ov.overload.workerPeakRssMb)],
    ]));
  }
  return lines.join('\n');
}

interface Results {
  startedAt: string;
  namespace: string;
  params: { events: number; merchants: number; day: string; seed: number; overloadFactor: number; overloadBase: number; microEvents: number };
  machine: Record<string, unknown>;
  config: { chunkRows: number; batchVisitors: number; concurrency: number; buckets: number; partitions: Record<string, number> };
  ingest?: IngestResult;
  scan?: { rows: number; ms: number; rowsPerSec: number };
  direct?: DirectResult;
  peer?: PeerResult;
  pipeline1?: PipelineResult;
  pipeline2?: PipelineResult;
  correctness?: { match: boolean; diffs: string[]; merchantDays: number };
  correctness2?: { match: boolean; diffs: string[]; merchantDays: number };
  peerCorrectness?: { match: boolean; diffs: string[]; merchantDays: number };
  micro?: MicroResult;
  merge?: MergeResult;
  overload?: OverloadResult;
  load?: { cores: number; wallS: number; machineBusy: number; busyCoreS: number; benchCoreS: number; serversCoreS: number; otherCoreS: number; loadStart: number[]; loadEnd: number[] };
  totalMs?: number;
  errors: string[];
}

/** `--scale`: only the scale curve (bench/scale.ts), one fresh namespace per size. */
async function scaleMain(): Promise<number> {
  const sizes = o['scale-sizes'] ? o['scale-sizes'].split(',').map((x) => int('scale-sizes', x)) : [100_000, 1_000_000, ...(o['scale-10m'] ? [10_000_000] : [])];
  const topShare = Number(o['top-share']);
  if (!(topShare >= 0 && topShare <= 1)) throw new Error('--top-share must be within 0..1');
  const startedAt = new Date().toISOString();
  const loadStart = loadavg().map((x) => round(x, 2));
  const r: { startedAt: string; machine: Record<string, unknown>; sizes: number[]; points: ScalePoint[]; loadStart: number[]; loadEnd?: number[]; errors: string[] } = { startedAt, machine: machine(), sizes, points: [], loadStart, errors: [] };
  let code = 0;
  try {
    r.points = await runScale({ sizes, merchants, day, seed, topShare, botEvents: int('bot-events', o['bot-events'], 0) });
  } catch (err) {
    code = 1;
    r.errors.push(err instanceof Error ? err.stack ?? err.message : String(err));
    say(`FAILED: ${r.errors[0]}`);
  }
  r.loadEnd = loadavg().map((x) => round(x, 2));
  const dir = projectPath('bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `scale-${startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(r, null, 2));
  process.stdout.write([`Stageline scale curve ${startedAt}, day ${day}, ${merchants} merchants; load average ${loadStart.join(' ')} at start, ${r.loadEnd.join(' ')} at end`, ...scaleTable(r.points), '', `results in ${file}`].join('\n') + '\n');
  return code;
}

async function main(): Promise<number> {
  const t0 = Date.now();
  const startedAt = new Date().toISOString();
  const b = await openNamespace(o.reuse, o.reuse === undefined);
  const work = join(tmpdir(), `stageline-bench-${b.ns}`);
  mkdirSync(work, { recursive: true });
  const r: Results = {
    startedAt, namespace: b.ns,
    params: { events, merchants, day, seed, overloadFactor: factor, overloadBase, microEvents },
    machine: machine(),
    config: { chunkRows: b.cfg.pipeline.chunkRows, batchVisitors: b.cfg.pipeline.batchVisitors, concurrency: b.cfg.pipeline.concurrency, buckets: b.app.topology.buckets, partitions: Object.fromEntries(Object.entries(b.app.topology.topics).map(([k, v]) => [k, v.partitions])) },
    errors: [],
  };
  say(`namespace ${b.ns}; scratch files in ${work}`);
  // The whole run's load: what this bench's processes used, what the servers used, what the rest of the machine took.
  const byNs = nsClassifier(b.ns);
  const loadWatch = new ProcWatcher((argv) => (argv.some((a) => /(peer|direct|run)\.js$/.test(a) && a.includes('bench')) ? 'bench' : byNs(argv)), 1000).start();
  const loadStart = loadavg().map((x) => round(x, 2));
  const runT0 = Date.now();
  let code = 0;
  try {
    // The file is generated on --reuse too (same options, same bytes): the peer reads it.
    const file = join(work, 'events.ndjson');
    say(`generating ${events.toLocaleString('en-US')} events over ${merchants} merchants for ${day}`);
    const g = await generate(file, { day, events, merchants, seed });
    if (!o.reuse) {
      say('ingest');
      r.ingest = await ingest(b.ns, file, g);
      say(`ingest: ${r.ingest.eventsPerSec} lines/s, peak RSS ${r.ingest.peakRssMb} MB`);
    }
    const peerFile = join(work, 'peer.ndjson');
    if (!o['skip-peer']) {
      r.peer = await peer(file, peerFile);
      say(`peer (DuckDB, ${peerThreads} threads): ${r.peer.eventsPerSec} events/s, ${round(r.peer.wallMs / 1000, 1)} s`);
    }
    rmSync(file, { force: true });
    r.scan = await scanDay(b);
    say(`scan: ${r.scan.rowsPerSec} rows/s`);
    const directFile = join(work, 'direct.ndjson');
    r.direct = await direct(b, directFile);
    say(`direct: ${Math.round(r.direct.eventsPerSec)} events/s`);
    r.pipeline1 = await runNightly(b.app, b.ns, day, 1, true);
    say(`pipeline w1: ${Math.round(r.pipeline1.eventsPerSec)} events/s`);
    r.correctness = await compareWithReport(b, directFile);
    say(`direct vs report: ${r.correctness.match ? 'MATCH' : `MISMATCH ${r.correctness.diffs.slice(0, 3).join(' | ')}`}`);
    if (r.peer) {
      r.peerCorrectness = await compareWithReport(b, peerFile);
      say(`peer vs report: ${r.peerCorrectness.match ? 'MATCH' : `MISMATCH ${r.peerCorrectness.diffs.slice(0, 3).join(' | ')}`}`);
    }
    r.pipeline2 = await runNightly(b.app, b.ns, day, 2, true);
    say(`pipeline w2: ${Math.round(r.pipeline2.eventsPerSec)} events/s`);
    r.correctness2 = await compareWithReport(b, directFile);
    if (!o['skip-micro']) {
      const scratch = `${b.ns}.bench-scratch`;
      b.extraTopics.push(scratch);
      await (await b.app.admin()).ensureTopics([{ topic: scratch, partitions: 6 }]);
      r.micro = await runMicro(b.app, day, microEvents, scratch);
      r.merge = runMergeBench();
      say(`merge: ${Math.round(r.merge.mergeMs)} ms for ${r.merge.partials} partials × ${r.merge.products} products (decode ${Math.round(r.merge.decodeMs)} ms)`);
    }
    if (!o['skip-overload']) r.overload = await runOverload(b.app, b.ns, day, factor, overloadBase, work);
  } catch (err) {
    code = 1;
    r.errors.push(err instanceof Error ? err.stack ?? err.message : String(err));
    say(`FAILED: ${r.errors[0]}`);
  } finally {
    loadWatch.stop();
    const t1 = Date.now();
    const procs = [...loadWatch.tracked.values()].map((t) => summarize(t, runT0, t1));
    const sumOf = (f: (label: string) => boolean) => round(procs.filter((p) => f(p.label)).reduce((a, p) => a + p.windowCpuMs, 0) / 1000, 1);
    const busy = loadWatch.machineBusy(runT0, t1);
    const busyCoreS = round((busy * cpus().length * (t1 - runT0)) / 1000, 1);
    const serversCoreS = sumOf((l) => ['kafka', 'hbase', 'mysql'].includes(l));
    const benchCoreS = round(sumOf((l) => !['kafka', 'hbase', 'mysql'].includes(l)), 1);
    r.load = { cores: cpus().length, wallS: (t1 - runT0) / 1000, machineBusy: round(busy, 2), busyCoreS, benchCoreS, serversCoreS, otherCoreS: round(Math.max(0, busyCoreS - benchCoreS - serversCoreS), 1), loadStart, loadEnd: loadavg().map((x) => round(x, 2)) };
    r.totalMs = Date.now() - t0;
    const dir = projectPath('bench', 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${startedAt.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify(r, null, 2));
    process.stdout.write(printAll(r) + `\n\ntotal ${round(r.totalMs / 1000, 0)} s; results in ${file}\n`);
    if (o.keep || o.reuse) say(`kept namespace ${b.ns} (rerun with --reuse ${b.ns})`);
    else {
      say('cleaning up the namespace');
      await b.cleanup();
      rmSync(work, { recursive: true, force: true });
    }
    if (o.keep || o.reuse) await b.app.close();
  }
  return code;
}

(o.scale ? scaleMain() : main()).then(
  (code) => setTimeout(() => process.exit(code), 200).unref(),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
