/** The per-replica work reports (src/worker/work-report.ts): nothing added before a flush is lost. */
import { describe, expect, it } from 'vitest';
import { WorkReporter } from '../../../src/worker/work-report.js';
import type { WorkPort, WorkTotals } from '../../../src/ledger/types.js';

/** A work port whose writes wait until released, keeping what each write carried. */
function slowPort() {
  const writes: WorkTotals[][] = [];
  const gates: Array<() => void> = [];
  let fail = false;
  const port: WorkPort = {
    async write(_stage, _replica, totals) {
      await new Promise<void>((r) => gates.push(r));
      if (fail) throw new Error('MySQL gone');
      writes.push(totals.map((t) => ({ ...t })));
    },
  };
  const release = async () => {
    while (gates.length === 0) await new Promise((r) => setImmediate(r));
    gates.shift()!();
  };
  return { port, writes, release, failNext: (f: boolean) => { fail = f; } };
}

const A = { day: '2026-11-27', epoch: 1, chunkId: 'c1' };
const msg = { queuedMs: 1, handleMs: 2, writeMs: 1, events: 10, dropped: false };

describe('WorkReporter', () => {
  it('a flush called while another writes also writes what was added meanwhile (the drain\'s last flush)', async () => {
    const { port, writes, release } = slowPort();
    const r = new WorkReporter('summarize', 'r1', () => 0);
    r.add(A, msg, 1);
    const periodic = r.flush(port); // takes the first message
    r.add(A, msg, 2); // the last message finishes while that write is on the wire
    const last = r.flush(port);
    await release();
    await periodic;
    await release();
    await last;
    expect(writes.length).toBe(2);
    expect(writes[1]![0]).toMatchObject({ messages: 2, events: 20, lastAt: 2 });
  });

  it('keeps totals dirty when a write fails and writes them with the next flush', async () => {
    const { port, writes, release, failNext } = slowPort();
    const r = new WorkReporter('split', 'r1', () => 0);
    r.add(A, msg, 1);
    failNext(true);
    const first = r.flush(port);
    await release();
    await expect(first).rejects.toThrow('MySQL gone');
    failNext(false);
    const second = r.flush(port);
    await release();
    await second;
    expect(writes).toEqual([[expect.objectContaining({ chunkId: 'c1', messages: 1 })]]);
  });

  it('writes nothing when nothing changed', async () => {
    const { port, writes } = slowPort();
    await new WorkReporter('transform', 'r1').flush(port);
    expect(writes).toEqual([]);
  });
});
