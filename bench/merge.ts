/**
 * Summarize's merge, alone (issue 11: "2,000 partials × 2,000 products merging in under 1 s").
 * The same work summarize does per merchant-day once its partials are in: decode each stored
 * PartialRecord (Avro) and add it into one accumulator (createMerger, linear in each partial's
 * size), then finalize. Beside it, the old way (`partials.reduce(mergePartials)`, which copies the
 * accumulated product map for every partial) on the same input, so the ratio is measured side by
 * side. No servers: the MySQL page reads are left out (they are in the pipeline numbers).
 *
 * `node dist/bench/merge.js [--partials N] [--products P]` prints one JSON line; run.ts calls
 * runMergeBench.
 */
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { createMerger, emptyPartial, finalizeSummary, mergePartials } from '../src/domain/aggregate.js';
import type { PartialAggregate } from '../src/domain/types.js';
import { decodeAs, encode, fromAvroPartial, toAvroPartial } from '../schemas/index.js';

export interface MergeResult {
  partials: number;
  products: number;
  /** Avro decoding of every stored PartialRecord (a page of 100 at a time, as summarize reads them) */
  decodeMs: number;
  /** adding them into one accumulator and finalizing: the merge the goal is about */
  mergeMs: number;
  /** the same merge of the first `compareWith` partials, and the old reduce(mergePartials) of them */
  compareWith: number;
  linearPrefixMs: number;
  quadraticPrefixMs: number;
  goalMs: number;
}

/** A partial of one batch whose visitors touched `products` products, deterministic. */
function partialOf(i: number, products: number): PartialAggregate {
  const p = emptyPartial();
  p.events = products * 3;
  p.visitors = 10;
  p.sessions = 12;
  p.page_views = products;
  p.product_views = products;
  p.add_to_carts = products;
  p.hourly_events[i % 24] = products * 3;
  for (let j = 0; j < products; j++) {
    p.products[`p-${String((j * 7 + i) % products).padStart(5, '0')}`] = { views: 1 + (j % 3), add_to_carts: j % 2, units_sold: j % 5 === 0 ? 2 : 0, revenue_cents: j % 5 === 0 ? 1999 : 0 };
  }
  return p;
}

export function runMergeBench(partials = 2000, products = 2000): MergeResult {
  const payloads: Buffer[] = [];
  for (let i = 0; i < partials; i++) {
    payloads.push(encode('PartialRecord', { day: '2031-05-20', epoch: 1, run_id: 'bench', chunk_id: 'c0', batch_id: `b${i}`, merchant_id: 'm', partial: toAvroPartial(partialOf(i, products)) }));
  }
  const ms = (t: bigint): number => Number(process.hrtime.bigint() - t) / 1e6;
  // Exactly summarize's loop (stages/summarize/wiring.ts, finishIfComplete), timed in two parts.
  const mergeAll = (bufs: readonly Buffer[]): { decodeMs: number; mergeMs: number; events: number } => {
    let decodeMs = 0;
    let mergeMs = 0;
    const merger = createMerger(24);
    for (let i = 0; i < bufs.length; i += 100) {
      let t = process.hrtime.bigint();
      const page = bufs.slice(i, i + 100).map((b) => decodeAs('PartialRecord', b).partial);
      decodeMs += ms(t);
      t = process.hrtime.bigint();
      for (const wire of page) merger.add(fromAvroPartial({ ...wire, products: [] }), wire.products);
      mergeMs += ms(t);
    }
    const t = process.hrtime.bigint();
    const summary = finalizeSummary('m', '2031-05-20', merger.result(), 0);
    mergeMs += ms(t);
    return { decodeMs, mergeMs, events: summary.events };
  };
  const all = mergeAll(payloads);
  if (all.events !== partials * products * 3) throw new Error(`merge bench: ${all.events} events, want ${partials * products * 3}`);

  // Side by side with the old way on a prefix small enough for it to finish (it grows with the
  // square of the partials: 2,000 of them would take minutes).
  const compareWith = Math.min(partials, 500);
  const prefix = payloads.slice(0, compareWith);
  const linearPrefixMs = mergeAll(prefix).mergeMs;
  const decoded = prefix.map((b) => fromAvroPartial(decodeAs('PartialRecord', b).partial));
  const t1 = process.hrtime.bigint();
  decoded.reduce((a, b) => mergePartials(a, b), emptyPartial());
  const quadraticPrefixMs = ms(t1);
  return { partials, products, decodeMs: all.decodeMs, mergeMs: all.mergeMs, compareWith, linearPrefixMs, quadraticPrefixMs, goalMs: 1000 };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { partials: { type: 'string', default: '2000' }, products: { type: 'string', default: '2000' } } });
  const r = runMergeBench(Number(values.partials), Number(values.products));
  process.stdout.write(`${JSON.stringify(r)}\n`);
}
