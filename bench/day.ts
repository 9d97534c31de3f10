/**
 * The bench's day: generated to an NDJSON file (not timed) and ingested by `stageline ingest` as a
 * child, the way a person runs it, with its CPU and peak RSS polled from /proc.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { generateLines, type SeedOptions } from '../src/seed/generate.js';
import { childEnv, round, runCli } from './common.js';
import { readProc } from './procstat.js';

export interface IngestResult {
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

export async function generate(file: string, opts: SeedOptions): Promise<number> {
  const t0 = Date.now();
  const out = createWriteStream(file);
  let buf = '';
  for (const line of generateLines(opts)) {
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

export async function ingest(ns: string, file: string, generateMs: number): Promise<IngestResult> {
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

