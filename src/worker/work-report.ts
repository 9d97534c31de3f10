/**
 * Per-message work: which chunk a message belongs to and how its time splits up (queued, handling,
 * writing), summed per chunk and written to the ledger's work reports in batches.
 *
 * The timing wraps the ports the stage handler gets (the ledger's Db, the table store, the
 * producer), so neither the stages nor the adapters know about it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Db } from '../adapters/mysql.js';
import type { MessageProducer, Row, TableStore } from '../adapters/ports.js';
import { rowsOf } from '../adapters/rows.js';
import type { WorkPort, WorkTotals } from '../ledger/types.js';

export interface MessageWork {
  startedAt: number;
  /** writes outstanding right now, and since when at least one was */
  pending: number;
  since: number;
  writeMs: number;
  /** rows a scan yielded inside the handler (split's events) */
  scanned: number;
}

const current = new AsyncLocalStorage<MessageWork>();

/** Runs fn with w as the current message's work record (writes and scans inside fn count on it). */
export const withWork = <T>(w: MessageWork, fn: () => Promise<T>): Promise<T> => current.run(w, fn);

/** Counts the wall time during which at least one write of the current message is outstanding. */
function timedWrite<R>(fn: () => Promise<R>): Promise<R> {
  const w = current.getStore();
  if (!w) return fn();
  if (w.pending++ === 0) w.since = Date.now();
  let p: Promise<R>;
  try {
    p = fn();
  } catch (err) {
    p = Promise.reject(err);
  }
  return p.finally(() => {
    if (--w.pending === 0) w.writeMs += Date.now() - w.since;
  });
}

async function* countedScan(batches: AsyncIterable<Row[]>): AsyncIterable<Row[]> {
  const w = current.getStore();
  for await (const batch of batches) {
    if (w) w.scanned += batch.length;
    yield batch;
  }
}

export const timedDb = (d: Db): Db => ({ ...d, execute: (sql, params) => timedWrite(() => d.execute(sql, params)), tx: (fn) => timedWrite(() => d.tx(fn)) });

export const timedTables = (h: TableStore): TableStore => ({
  get: (t, k) => h.get(t, k),
  getMany: (t, k) => h.getMany(t, k),
  put: (t, r) => timedWrite(() => h.put(t, r)),
  putMany: (t, r) => timedWrite(() => h.putMany(t, r)),
  deleteRow: (t, k) => timedWrite(() => h.deleteRow(t, k)),
  deleteMany: (t, k) => timedWrite(() => h.deleteMany(t, k)),
  scan: (t, o) => rowsOf(countedScan(h.scanBatches(t, o))),
  scanBatches: (t, o) => countedScan(h.scanBatches(t, o)),
  close: () => h.close(),
});

export const timedProducer = (p: MessageProducer): MessageProducer => ({
  send: (topic, messages) => timedWrite(() => p.send(topic, messages)),
  enqueue: (topic, m) => timedWrite(() => p.enqueue(topic, m)),
  flush: () => p.flush(),
  close: () => p.close(),
});

type Attribution = Pick<WorkTotals, 'day' | 'epoch' | 'chunkId'>;

/**
 * Per-chunk totals of this replica, written at most once a second in one statement: a round trip
 * per message would cost more than the work it reports on.
 */
export class WorkReporter {
  private readonly totals = new Map<string, WorkTotals>();
  private readonly dirty = new Set<string>();
  private flushing: Promise<void> | undefined;
  constructor(private readonly stage: string, private readonly replica: string, private readonly now: () => number = Date.now) {}

  add(a: Attribution, w: { queuedMs: number; handleMs: number; writeMs: number; events: number; dropped: boolean }, at: number): void {
    const key = `${a.day}|${a.epoch}|${a.chunkId}`;
    let t = this.totals.get(key);
    if (!t) {
      t = { day: a.day, epoch: a.epoch, chunkId: a.chunkId, messages: 0, dropped: 0, events: 0, queuedMs: 0, handleMs: 0, writeMs: 0, firstAt: at, lastAt: at };
      this.totals.set(key, t);
    }
    t.messages++;
    if (w.dropped) t.dropped++;
    t.events += w.events;
    t.queuedMs += Math.max(0, w.queuedMs);
    t.handleMs += w.handleMs;
    t.writeMs += w.writeMs;
    t.lastAt = at;
    this.dirty.add(key);
  }

  /**
   * Writes the changed totals; on failure they stay dirty for the next flush. One write at a time:
   * a flush called while another writes waits for it and then writes what changed since, so the
   * drain's last flush never returns on a write that started before the last messages finished
   * (their totals would be lost with the process).
   */
  async flush(work: WorkPort): Promise<void> {
    while (this.flushing) await this.flushing.catch(() => undefined);
    if (this.dirty.size === 0) return;
    this.flushing = this.write(work).finally(() => { this.flushing = undefined; });
    return this.flushing;
  }

  private async write(work: WorkPort): Promise<void> {
    const keys = [...this.dirty];
    this.dirty.clear();
    try {
      await work.write(this.stage, this.replica, keys.map((k) => ({ ...this.totals.get(k)! })));
    } catch (err) {
      for (const k of keys) this.dirty.add(k);
      throw err;
    }
    // Totals of chunks idle for an hour are final for this replica: forget them.
    const cutoff = this.now() - 3_600_000;
    for (const [k, t] of this.totals) if (t.lastAt < cutoff && !this.dirty.has(k)) this.totals.delete(k);
  }
}
