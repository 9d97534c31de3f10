/**
 * `npm run bench [-- --events N --merchants M --day D --skip-overload ...]`: every number of
 * BENCHMARKS.md from one run on one generated day in a private namespace (ingested once), printed
 * as a table and written to bench/results/<timestamp>.json. See BENCHMARKS.md for what each
 * number means and how it is measured.
 */
import { mkdirSync, rmSync, writeFileSync, readFileSync, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { generateLines } from '../src/seed/generate.js';
import { readReport } from '../src/report.js';
import { rawBucketPrefix } from '../src/domain/rowkey.js';
import { projectPath } from '../src/paths.js';
import { openNamespace, runCli, runNode, round, say, childEnv, type BenchNamespace } from './common.js';
import { ProcWatcher, readProc, serverLabel, summarize } from './procstat.js';
import { merchantsOfDay, type DirectStats } from './direct.js';
import { runNightly, type PipelineResult } from './pipeline.js';
import { runMicro, type MicroResult } from './micro.js';
import { runOverload, type OverloadResult } from './overload.js';
import { diffSummaries } from './compare.js';
import type { PeerStats } from './peer.js';

const { values: o } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    merchants: { type: 'string', default: '50' },
    day: { type: 'string', default: '2031-05-20' },
    seed: { type: 'string', default: '1' },
    'skip-overload': { type: 'boolean', default: false },
    'skip-micro': { type: 'boolean', default: false },
    'overload-factor': { type: 'string', default: '10' },
    'overload-base': { type: 'string' },
    'micro-events': { type: 'string', default: '200000' },
    'peer-threads': { type: 'string', default: '2' },
    'skip-peer': { type: 'boolean', default: false },
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
const overloadBase = o['overload-base'] ? int('overload-base', o['overload-base']) : Math.ceil(events / factor);
const microEvents = int('micro-events', o['micro-events']);
const peerThreads = int('peer-threads', o['peer-threads']);

interface IngestResult {
  lines: number;
  stored: number;
  refused: number;
  wallMs: number;
  ingestMs: number;
  eventsPerSec: number;
  eventsPerSecInternal: number;
  peakRssMb: number;
  cpuMs: number;
  generateMs: number;
}

async function generate(file: string): Promise<number> {
  const t0 = Date.now();
  const out = createWriteStream(file);
  let buf = '';
  for (const line of generateLines({ day, events, merchants, seed })) {
    buf += line + '\n';
    if (buf.length > 1 << 16) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.end(buf);
  await once(out, 'close');
  return Date.now() - t0;
}

async function ingest(ns: string, file: string, generateMs: number): Promise<IngestResult> {
  let pid = -1;
  let peakKb = 0;
  let cpuMs = 0;
  const timer = setInterval(() => {
    const r = pid > 0 ? readProc(pid) : undefined;
    if (r) {
      peakKb = Math.max(peakKb, r.hwmKb, r.rssKb);
      cpuMs = r.cpuMs;
    }
  }, 100);
  const res = await runCli(['ingest', file, '--json', '--rejects', `${file}.rejects`], ns, { env: childEnv({ STAGELINE_LOG_LEVEL: 'warn' }), onSpawn: (c) => { pid = c.pid ?? -1; } });
  clearInterval(timer);
  if (res.code !== 0) throw new Error(`ingest exited ${res.code}: ${res.stderr.slice(-2000)}`);
  const s = JSON.parse(res.stdout.trim().split('\n').pop() ?? '{}') as { read: number; stored: number; refused: number; elapsed_ms: number };
  return {
    lines: s.read, stored: s.stored, refused: s.refused, wallMs: res.wallMs, ingestMs: s.elapsed_ms,
    eventsPerSec: Math.round(s.read / (res.wallMs / 1000)), eventsPerSecInternal: Math.round(s.read / (s.elapsed_ms / 1000)),
    peakRssMb: round(peakKb / 1024, 0), cpuMs: Math.round(cpuMs), generateMs,
  };
}

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
  if (r.overload) ratios.push(['R4 goodput 10× ÷ nominal', r.overload.r4, `${Math.round(r.overload.overload.eventsPerSec)} ÷ ${Math.round(r.overload.nominal.eventsPerSec)} events/s, ${r.overload.factor} days × ${r.overload.baseEvents.toLocaleString('en-US')} vs 1 day (goal ≥ 0.9)`]);
  if (r.peerCorrectness) ratios.push(['peer (DuckDB) vs report --json', r.peerCorrectness.match ? 'MATCH' : 'MISMATCH', `${r.peerCorrectness.merchantDays} merchant-days${r.peerCorrectness.diffs.length ? `; first diffs: ${r.peerCorrectness.diffs.slice(0, 3).join(' | ')}` : ''}`]);
  if (r.correctness) ratios.push(['direct vs report --json', r.correctness.match ? 'MATCH' : 'MISMATCH', `${r.correctness.merchantDays} merchant-days${r.correctness.diffs.length ? `; first diffs: ${r.correctness.diffs.slice(0, 3).join(' | ')}` : ''}`]);
  lines.push(table(['ratio', 'value', 'detail'], ratios));
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
    lines.push(table(['R4 phase', 'days', 'events', 'window s', 'events/s', 'machine busy', 'worker peak RSS MB (in window)'], [
      ['nominal (1 day)', 1, ov.nominal.events, round(ov.nominal.windowMs / 1000, 1), Math.round(ov.nominal.eventsPerSec), `${Math.round(ov.nominal.machineBusy * 100)}%`, JSON.stringify(ov.nominal.workerPeakRssMb)],
      [`overload (${ov.factor} days at once)`, ov.factor, ov.overload.events, round(ov.overload.windowMs / 1000, 1), Math.round(ov.overload.eventsPerSec), `${Math.round(ov.overload.machineBusy * 100)}%`, JSON.stringify(ov.overload.workerPeakRssMb)],
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
  overload?: OverloadResult;
  totalMs?: number;
  errors: string[];
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
  let code = 0;
  try {
    // The file is generated on --reuse too (same options, same bytes): the peer reads it.
    const file = join(work, 'events.ndjson');
    say(`generating ${events.toLocaleString('en-US')} events over ${merchants} merchants for ${day}`);
    const g = await generate(file);
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
    }
    if (!o['skip-overload']) r.overload = await runOverload(b.app, b.ns, day, factor, overloadBase, work);
  } catch (err) {
    code = 1;
    r.errors.push(err instanceof Error ? err.stack ?? err.message : String(err));
    say(`FAILED: ${r.errors[0]}`);
  } finally {
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

main().then(
  (code) => setTimeout(() => process.exit(code), 200).unref(),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
