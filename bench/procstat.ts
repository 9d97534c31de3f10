/**
 * Per-process CPU and memory from /proc, sampled from outside the measured processes: the stage
 * workers are spawned by the supervisor, not by the bench, and must run unmodified. A process's
 * CPU counters vanish with it, so the last sample before exit is what we keep; at a 200 ms period
 * that loses at most 200 ms of an idle, draining worker's CPU.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/** Kernel clock ticks per second (utime/stime unit); 100 on every common Linux build. */
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface ProcReading {
  /** user + system CPU of the process so far, ms */
  cpuMs: number;
  rssKb: number;
  /** peak RSS so far (VmHWM), kB */
  hwmKb: number;
}

export function readProc(pid: number): ProcReading | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may hold spaces and parentheses: fields are counted after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(rest[11]) + Number(rest[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    return { cpuMs: (ticks * 1000) / CLK_TCK, rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
  } catch {
    return undefined; // exited between listing and reading
  }
}

export function cmdlineOf(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((s) => s !== '');
  } catch {
    return undefined;
  }
}

/** Whole-machine CPU jiffies (busy, total) from /proc/stat: how saturated the 2 cores were. */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

export interface Sample extends ProcReading {
  t: number;
}

export interface Tracked {
  pid: number;
  label: string;
  samples: Sample[];
}

/**
 * Watches every process whose command line `classify` gives a label, polling /proc. New matching
 * processes are picked up as they appear (the supervisor spawns and may restart workers).
 */
export class ProcWatcher {
  readonly tracked = new Map<number, Tracked>();
  private readonly ignored = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private readonly machine: Array<{ t: number; busy: number; total: number }> = [];

  constructor(private readonly classify: (argv: string[]) => string | undefined, private readonly everyMs = 200) {}

  start(): this {
    this.tick();
    this.timer = setInterval(() => this.tick(), this.everyMs);
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.tick();
  }

  private tick(): void {
    const t = Date.now();
    this.machine.push({ t, ...machineCpu() });
    let pids: number[];
    try {
      pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
    } catch {
      return;
    }
    for (const pid of pids) {
      if (this.ignored.has(pid)) continue;
      let tr = this.tracked.get(pid);
      if (!tr) {
        const argv = cmdlineOf(pid);
        const label = argv ? this.classify(argv) : undefined;
        if (label === undefined) {
          // Only remember processes we could read: a pid seen mid-exec may match on the next tick.
          if (argv && argv.length > 0) this.ignored.add(pid);
          continue;
        }
        tr = { pid, label, samples: [] };
        this.tracked.set(pid, tr);
      }
      const r = readProc(pid);
      if (r) tr.samples.push({ t, ...r });
    }
  }

  /** Machine busy share (0..1 of all cores) between t0 and t1. */
  machineBusy(t0: number, t1: number): number {
    const a = lastAtOrBefore(this.machine, t0) ?? this.machine[0];
    const b = lastAtOrBefore(this.machine, t1) ?? this.machine[this.machine.length - 1];
    if (!a || !b || b.total === a.total) return 0;
    return (b.busy - a.busy) / (b.total - a.total);
  }
}

export function lastAtOrBefore<T extends { t: number }>(xs: readonly T[], t: number): T | undefined {
  let out: T | undefined;
  for (const x of xs) {
    if (x.t <= t) out = x;
    else break;
  }
  return out;
}

export interface ProcSummary {
  pid: number;
  label: string;
  /** CPU over the whole life we saw (from 0: a process starts at 0 CPU), ms */
  cpuMs: number;
  /** CPU between the window's start and end, ms */
  windowCpuMs: number;
  peakRssMb: number;
  /** highest VmRSS sampled inside the window */
  windowPeakRssMb: number;
}

export function summarize(tr: Tracked, t0: number, t1: number): ProcSummary {
  const last = tr.samples[tr.samples.length - 1];
  const atStart = lastAtOrBefore(tr.samples, t0);
  const atEnd = lastAtOrBefore(tr.samples, t1) ?? last;
  const inWindow = tr.samples.filter((s) => s.t >= t0 && s.t <= t1);
  return {
    pid: tr.pid,
    label: tr.label,
    cpuMs: last?.cpuMs ?? 0,
    windowCpuMs: (atEnd?.cpuMs ?? 0) - (atStart?.cpuMs ?? 0),
    peakRssMb: Math.max(0, ...tr.samples.map((s) => s.hwmKb)) / 1024,
    windowPeakRssMb: Math.max(0, ...inWindow.map((s) => s.rssKb)) / 1024,
  };
}

/** Labels for the stack's servers, so the bench can show how much of the 2 cores they took. */
export function serverLabel(argv: string[]): string | undefined {
  const line = argv.join(' ');
  if (line.includes('kafka.Kafka')) return 'kafka';
  if (line.includes('org.apache.hadoop.hbase.master.HMaster')) return 'hbase';
  if (/(^|\/)(mariadbd|mysqld)$/.test(argv[0] ?? '')) return 'mysql';
  return undefined;
}
