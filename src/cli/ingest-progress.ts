/**
 * `ingest`'s progress, hooked at the command level (src/ingest stays as it is): the input is
 * wrapped to count bytes, ingest's onProgress callback gives lines, and a reporter draws a
 * redrawn bar with lines, bytes, rate and ETA on a terminal, or a plain line every few seconds
 * otherwise (a log file or CI), always on stderr so stdout (--json) stays clean.
 */
import { bar } from '../progress-bar.js';
import { duration } from '../status.js';

export interface ProgressSample {
  lines: number;
  /** bytes taken from the input (read ahead of parsing by at most a stream buffer) */
  bytes: number;
  /** the file's size; undefined for stdin (no ETA) */
  totalBytes?: number | undefined;
  stored: number;
  refused: number;
  elapsedMs: number;
}

const n = (x: number) => Math.round(x).toLocaleString('en-US');
export const mib = (b: number): string => `${(b / 1048576).toFixed(1)} MiB`;

/** One progress line; `tty` adds a bar. Pure. */
export function progressLine(p: ProgressSample, tty: boolean): string {
  const sec = Math.max(0.001, p.elapsedMs / 1000);
  const bytesRate = p.bytes / sec;
  const of = p.totalBytes !== undefined && p.totalBytes > 0 ? ` of ${mib(p.totalBytes)} (${Math.min(100, (p.bytes / p.totalBytes) * 100).toFixed(0)}%)` : '';
  const eta = p.totalBytes !== undefined && p.totalBytes > 0 && bytesRate > 0 ? `, ETA ${duration(Math.max(0, p.totalBytes - p.bytes) / bytesRate)}` : '';
  const head = tty && p.totalBytes ? `${bar(p.bytes, p.totalBytes)} ` : '';
  return `ingest: ${head}${n(p.lines)} lines, ${mib(p.bytes)}${of}, ${n(p.lines / sec)} lines/s, ${mib(bytesRate)}/s${eta}; ${n(p.stored)} stored, ${n(p.refused)} refused`;
}

/** Passes the input through, counting its bytes. */
export async function* countingBytes(input: AsyncIterable<Buffer | string>, counter: { bytes: number }): AsyncIterable<Buffer | string> {
  for await (const chunk of input) {
    counter.bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    yield chunk;
  }
}

export interface ProgressReporter {
  /** ingest's onProgress: lines so far */
  update(s: { read: number; stored: number; refused: number; elapsed_ms: number }): void;
  /** after the last batch: ends a redrawn line */
  done(): void;
}

/** Redraws at most every 250 ms on a terminal; writes a plain line every `plainEveryMs` otherwise. */
export function progressReporter(opts: { tty: boolean; counter: { bytes: number }; totalBytes?: number | undefined; write: (s: string) => void; now?: () => number; plainEveryMs?: number }): ProgressReporter {
  const now = opts.now ?? Date.now;
  const every = opts.tty ? 250 : (opts.plainEveryMs ?? 5000);
  let last = now();
  let drew = false;
  return {
    update(s) {
      if (now() - last < every) return;
      last = now();
      const line = progressLine({ lines: s.read, bytes: opts.counter.bytes, totalBytes: opts.totalBytes, stored: s.stored, refused: s.refused, elapsedMs: s.elapsed_ms }, opts.tty);
      opts.write(opts.tty ? `\r${line}\x1b[K` : `${line}\n`);
      drew = true;
    },
    done() {
      if (opts.tty && drew) opts.write('\n');
    },
  };
}
