import { readFileSync } from 'node:fs';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { StagelineError } from '../../src/errors.js';
import { projectPath } from '../../src/paths.js';
import type { PartialAggregate, ValidEvent } from '../../src/domain/types.js';
import {
  canonicalForm,
  currentFingerprintHex,
  decode,
  decodeAs,
  encode,
  fingerprint,
  fromAvroPartial,
  fromBatchEvent,
  knownWriters,
  rabin64,
  toAvroPartial,
  toBatchEvent,
  type ChunkSealed,
  type ChunkTask,
  type DeadLetter,
  type MessageName,
  type PartialRecord,
  type VisitorBatch,
} from '../../schemas/index.js';

const readSchema = (rel: string): Record<string, unknown> =>
  JSON.parse(readFileSync(projectPath('schemas', rel), 'utf8')) as Record<string, unknown>;

function codeOf(fn: () => unknown): { code: string; retryable: boolean; message: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StagelineError);
    const e = err as StagelineError;
    return { code: e.code, retryable: e.retryable, message: e.message };
  }
  throw new Error('expected a throw');
}

const hours = (f: (h: number) => number): number[] => Array.from({ length: 24 }, (_, h) => f(h));

const chunkTask: ChunkTask = {
  day: '2026-11-27',
  epoch: 3,
  run_id: 'run-1',
  chunk_id: 'c-0007',
  attempt: 2,
  ranges: [
    { merchant_id: 'm-1', bucket_lo: 0, bucket_hi: 64 },
    { merchant_id: 'm-2', bucket_lo: 64, bucket_hi: 128 },
  ],
  published_at: 1_795_000_000_123,
};

const purchase: ValidEvent = {
  event_id: 'e-3',
  visitor_id: 'v-1',
  ts: 1_795_000_300_000,
  type: 'purchase',
  order_id: 'o-1',
  order_total_cents: 2_599,
  items: [
    { product_id: 'p-1', quantity: 1, price_cents: 1_999 },
    { product_id: 'p-2', quantity: 2, price_cents: 300 },
  ],
};

const visitorBatch: VisitorBatch = {
  day: '2026-11-27',
  epoch: 3,
  run_id: 'run-1',
  chunk_id: 'c-0007',
  batch_id: 'c-0007/m-1/0004',
  merchant_id: 'm-1',
  seq: 4,
  visitors: [
    {
      visitor_id: 'v-1',
      events: [
        toBatchEvent({ event_id: 'e-1', visitor_id: 'v-1', ts: 1_795_000_000_000, type: 'page_view' }),
        toBatchEvent({ event_id: 'e-2', visitor_id: 'v-1', ts: 1_795_000_100_000, type: 'add_to_cart', product_id: 'p-1', quantity: 1, price_cents: 1_999 }),
        toBatchEvent(purchase),
      ],
      fragment: 0, fragments: 1, first_open: false, last_open: false,
    },
    { visitor_id: 'v-ü-😀', events: [], fragment: 1, fragments: 3, first_open: true, last_open: true },
  ],
  day_start: Date.UTC(2026, 10, 27),
  hours: 24,
};

const partial: PartialAggregate = {
  events: 3,
  visitors: 1,
  sessions: 1,
  bounced_sessions: 0,
  session_duration_ms_total: 300_000,
  page_views: 1,
  product_views: 0,
  add_to_carts: 1,
  remove_from_carts: 0,
  purchases: 1,
  orders: 1,
  revenue_cents: 2_599,
  units_sold: 3,
  converting_sessions: 1,
  cart_abandoned_sessions: 0,
  hourly_events: hours((h) => (h === 5 ? 3 : 0)),
  hourly_revenue_cents: hours((h) => (h === 5 ? 2_599 : 0)),
  products: {
    'p-2': { views: 0, add_to_carts: 0, units_sold: 2, revenue_cents: 600 },
    'p-1': { views: 0, add_to_carts: 1, units_sold: 1, revenue_cents: 1_999 },
  },
  session_pieces: [{ visitor_id: 'v-9', session: 2, start_ts: 1_795_000_000_000, end_ts: 1_795_000_060_000, events: 7, page_views: 7, product_views: 0, add_to_carts: 0, purchases: 0, first_event_id: 'a', last_event_id: 'z' }],
};

const partialRecord: PartialRecord = {
  day: '2026-11-27',
  epoch: 3,
  run_id: 'run-1',
  chunk_id: 'c-0007',
  batch_id: 'c-0007/m-1/0004',
  merchant_id: 'm-1',
  partial: toAvroPartial(partial),
};

const chunkSealed: ChunkSealed = {
  day: '2026-11-27',
  epoch: 3,
  run_id: 'run-1',
  chunk_id: 'c-0007',
  merchant_id: 'm-1',
  rows_read: 12_345,
  valid: 12_000,
  invalid: 345,
  batches: 5,
  digest: Buffer.alloc(32, 7),
};

const deadLetter: DeadLetter = {
  stage: 'transform',
  source_topic: 'batches',
  partition: 2,
  offset: '9007199254740993',
  key: Buffer.from('m-1'),
  error_code: 'DECODE_FAILED',
  error: 'bad single-object marker',
  payload: Buffer.from([0xde, 0xad, 0xbe, 0xef]),
  failed_at: 1_795_000_000_999,
  payload_bytes: 4,
  payload_sha256: Buffer.alloc(32, 3),
  payload_truncated: false,
};

const samples: { [N in MessageName]: unknown } = {
  ChunkTask: chunkTask,
  VisitorBatch: visitorBatch,
  PartialRecord: partialRecord,
  ChunkSealed: chunkSealed,
  DeadLetter: deadLetter,
};

describe('fingerprint (CRC-64-AVRO of the Parsing Canonical Form)', () => {
  // From apache/avro share/test/data/schema-tests.txt; fingerprints there are Java signed longs.
  const vectors: [input: object | string, canonical: string, signed: bigint][] = [
    ['null', '"null"', 7195948357588979594n],
    ['boolean', '"boolean"', -6970731678124411036n],
    ['int', '"int"', 8247732601305521295n],
    ['long', '"long"', -3434872931120570953n],
    ['string', '"string"', -8142146995180207161n],
    [[], '[]', -1241056759729112623n],
    [['int', { type: 'boolean' }], '["int","boolean"]', 5392556393470105090n],
    [{ fields: [], type: 'record', name: 'foo', namespace: 'x.y' }, '{"name":"x.y.foo","type":"record","fields":[]}', 5916914534497305771n],
    [{ fields: [], type: 'record', name: 'a.b.foo', namespace: 'x.y' }, '{"name":"a.b.foo","type":"record","fields":[]}', -4616218487480524110n],
    [
      {
        fields: [
          { type: 'boolean', aliases: [], name: 'f1', default: 'true' },
          { order: 'descending', name: 'f2', doc: 'Hello', type: 'int' },
        ],
        type: 'record',
        name: 'foo',
      },
      '{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"},{"name":"f2","type":"int"}]}',
      -4860222112080293046n,
    ],
    [{ namespace: 'x.y.z', type: 'enum', name: 'foo', doc: 'foo bar', symbols: ['A1', 'A2'] }, '{"name":"x.y.z.foo","type":"enum","symbols":["A1","A2"]}', -4448647247586288245n],
    [{ namespace: 'x.y.z', type: 'fixed', name: 'foo', doc: 'foo bar', size: 32 }, '{"name":"x.y.z.foo","type":"fixed","size":32}', -3064184465700546786n],
    [{ items: { type: 'null' }, type: 'array' }, '{"type":"array","items":"null"}', -589620603366471059n],
    [{ values: 'string', type: 'map' }, '{"type":"map","values":"string"}', -8732877298790414990n],
    [
      { name: 'PigValue', type: 'record', fields: [{ name: 'value', type: ['null', 'int', 'long', 'PigValue'] }] },
      '{"name":"PigValue","type":"record","fields":[{"name":"value","type":["null","int","long","PigValue"]}]}',
      -1759257747318642341n,
    ],
  ];

  it.each(vectors)('matches the Avro test vector for %j', (input, canonical, signed) => {
    expect(canonicalForm(input)).toBe(canonical);
    expect(rabin64(Buffer.from(canonical))).toBe(BigInt.asUintN(64, signed));
    const fp = fingerprint(input);
    expect(fp.readBigInt64LE()).toBe(signed);
  });

  it('lays the "int" fingerprint out little-endian as in the single-object header of the Avro test suite', () => {
    const header = Buffer.concat([Buffer.from([0xc3, 0x01]), fingerprint('int')]);
    expect(header.toString('hex')).toBe('c3018f5c393f1ad57572');
  });

  it.each(['chunk-task', 'visitor-batch', 'partial-aggregate', 'chunk-sealed', 'dead-letter', 'history/visitor-batch.v1', 'history/visitor-batch.v2', 'history/partial-aggregate.v1', 'history/chunk-sealed.v1', 'history/dead-letter.v1'])(
    'agrees with the canonical form avsc derives for %s',
    (file) => {
      const schema = readSchema(`${file}.avsc`);
      expect(canonicalForm(schema)).toBe(JSON.stringify(avro.Type.forSchema(schema as Parameters<typeof avro.Type.forSchema>[0]).schema()));
    },
  );

  it('knows every current schema and the history writers', () => {
    const writers = knownWriters();
    expect(writers.filter((w) => w.current).map((w) => w.name).sort()).toEqual(['ChunkSealed', 'ChunkTask', 'DeadLetter', 'PartialRecord', 'VisitorBatch']);
    expect(writers.filter((w) => !w.current).map((w) => w.name).sort()).toEqual(['ChunkSealed', 'DeadLetter', 'PartialRecord', 'VisitorBatch', 'VisitorBatch']);
    expect(currentFingerprintHex('VisitorBatch')).toBe(fingerprint(readSchema('visitor-batch.avsc')).toString('hex'));
  });
});

describe('encode / decode', () => {
  it.each(Object.entries(samples))('round-trips a %s', (name, value) => {
    const buf = encode(name as MessageName, value as never);
    expect(buf.subarray(0, 2)).toEqual(Buffer.from([0xc3, 0x01]));
    expect(buf.subarray(2, 10).toString('hex')).toBe(currentFingerprintHex(name as MessageName));
    const decoded = decode(buf);
    expect(decoded.name).toBe(name);
    expect(decoded.value).toEqual(value);
    expect(decodeAs(name as MessageName, buf)).toEqual(value);
  });

  it('encodes a value bigger than the scratch buffer', () => {
    const events = Array.from({ length: 5_000 }, (_, i) => toBatchEvent({ event_id: `e-${i}`, visitor_id: 'v', ts: 1_795_000_000_000 + i, type: 'product_view', product_id: `p-${i % 50}` }));
    const big: VisitorBatch = { ...visitorBatch, visitors: [{ visitor_id: 'v', events, fragment: 0, fragments: 1, first_open: false, last_open: false }] };
    const buf = encode('VisitorBatch', big);
    expect(buf.length).toBeGreaterThan(64 * 1024);
    expect(decodeAs('VisitorBatch', buf)).toEqual(big);
    // and the grown scratch buffer leaves later small encodes intact
    expect(decodeAs('ChunkSealed', encode('ChunkSealed', chunkSealed))).toEqual(chunkSealed);
  });

  it('keeps DeadLetter bytes and a null key', () => {
    const value = decodeAs('DeadLetter', encode('DeadLetter', { ...deadLetter, key: null }));
    expect(value.key).toBeNull();
    expect(Buffer.isBuffer(value.payload)).toBe(true);
    expect(value.payload.toString('hex')).toBe('deadbeef');
  });

  it('refuses a value that does not fit the schema with INPUT_INVALID', () => {
    expect(codeOf(() => encode('ChunkSealed', { ...chunkSealed, rows_read: 2 ** 53 }))).toMatchObject({ code: 'INPUT_INVALID', retryable: false });
    expect(codeOf(() => encode('ChunkSealed', { ...chunkSealed, batches: 1.5 }))).toMatchObject({ code: 'INPUT_INVALID' });
    const { day: _day, ...noDay } = chunkSealed;
    expect(codeOf(() => encode('ChunkSealed', noDay as ChunkSealed))).toMatchObject({ code: 'INPUT_INVALID' });
  });
});

describe('schema evolution', () => {
  /** What an older writer sends: the current sample without the fields it did not have. */
  const strip = (v: VisitorBatch, seq: boolean) => {
    const { seq: s, day_start: _d, hours: _h, visitors, ...rest } = v;
    return { ...rest, ...(seq ? { seq: s } : {}), visitors: visitors.map((x) => ({ visitor_id: x.visitor_id, events: x.events.map(({ session: _s, kept: _k, ...e }) => e) })) };
  };
  /** How the current reader sees it: defaults for what was not written (whole visitors, not annotated, a UTC day). */
  const defaulted = (v: VisitorBatch, seq: number): VisitorBatch => ({
    ...v, seq, day_start: -1, hours: 24,
    visitors: v.visitors.map((x) => ({ visitor_id: x.visitor_id, events: x.events.map((e) => ({ ...e, session: -1, kept: false })), fragment: 0, fragments: 1, first_open: false, last_open: false })),
  });

  it.each([['v1', false], ['v2', true]] as const)('reads a VisitorBatch written with the %s schema, with defaults for the newer fields', (version, hasSeq) => {
    const schema = readSchema(`history/visitor-batch.${version}.avsc`);
    const type = avro.Type.forSchema(schema as Parameters<typeof avro.Type.forSchema>[0]);
    const buf = Buffer.concat([Buffer.from([0xc3, 0x01]), fingerprint(schema), type.toBuffer(strip(visitorBatch, hasSeq))]);
    expect(buf.subarray(2, 10).toString('hex')).not.toBe(currentFingerprintHex('VisitorBatch'));
    const decoded = decode(buf);
    expect(decoded.name).toBe('VisitorBatch');
    expect(decoded.value).toEqual(defaulted(visitorBatch, hasSeq ? visitorBatch.seq : 0));
  });

  it('reads v1 PartialRecord, ChunkSealed and DeadLetter writers with defaults', () => {
    const old = (file: string, value: unknown) => {
      const schema = readSchema(`history/${file}.avsc`);
      return Buffer.concat([Buffer.from([0xc3, 0x01]), fingerprint(schema), avro.Type.forSchema(schema as Parameters<typeof avro.Type.forSchema>[0]).toBuffer(value)]);
    };
    const { session_pieces: _p, ...v1partial } = partialRecord.partial;
    expect(decodeAs('PartialRecord', old('partial-aggregate.v1', { ...partialRecord, partial: v1partial })).partial.session_pieces).toEqual([]);
    const { digest: _d, ...v1sealed } = chunkSealed;
    expect(decodeAs('ChunkSealed', old('chunk-sealed.v1', v1sealed)).digest).toEqual(Buffer.alloc(0));
    const { payload_bytes: _b, payload_sha256: _s, payload_truncated: _t, ...v1dead } = deadLetter;
    expect(decodeAs('DeadLetter', old('dead-letter.v1', v1dead))).toMatchObject({ payload_bytes: -1, payload_truncated: false });
  });
});

describe('decode errors', () => {
  const good = encode('ChunkSealed', chunkSealed);

  it('names an unknown fingerprint in a SCHEMA_UNKNOWN error', () => {
    const buf = Buffer.from(good);
    buf.write('0123456789abcdef', 2, 'hex');
    const e = codeOf(() => decode(buf));
    expect(e).toMatchObject({ code: 'SCHEMA_UNKNOWN', retryable: false });
    expect(e.message).toContain('0123456789abcdef');
  });

  it.each<[string, Buffer]>([
    ['an empty buffer', Buffer.alloc(0)],
    ['a header cut short', good.subarray(0, 6)],
    ['a wrong marker', Buffer.concat([Buffer.from([0xc3, 0x02]), good.subarray(2)])],
    ['JSON instead of Avro', Buffer.from(JSON.stringify(chunkSealed))],
    ['a truncated datum', good.subarray(0, good.length - 3)],
    ['trailing bytes', Buffer.concat([good, Buffer.from([0])])],
    ['garbage after a valid header', Buffer.concat([good.subarray(0, 10), Buffer.from([0x81, 0xff, 0xff, 0xff, 0xff])])],
  ])('fails %s with DECODE_FAILED', (_label, buf) => {
    expect(codeOf(() => decode(buf))).toMatchObject({ code: 'DECODE_FAILED', retryable: false });
  });

  it('fails a long beyond 2^53 with DECODE_FAILED rather than rounding it', () => {
    // ChunkSealed with rows_read = 2^60, written by hand since avsc cannot write it from a number.
    const zigzag = (n: bigint): number[] => {
      let z = n >= 0n ? n << 1n : (-n << 1n) - 1n;
      const out: number[] = [];
      do {
        const b = Number(z & 0x7fn);
        z >>= 7n;
        out.push(z > 0n ? b | 0x80 : b);
      } while (z > 0n);
      return out;
    };
    const str = (s: string): number[] => [...zigzag(BigInt(Buffer.byteLength(s))), ...Buffer.from(s)];
    const datum = [...str('2026-11-27'), ...zigzag(3n), ...str('run-1'), ...str('c-1'), ...str('m-1'), ...zigzag(2n ** 60n), ...zigzag(1n), ...zigzag(0n), ...zigzag(1n)];
    const buf = Buffer.concat([good.subarray(0, 10), Buffer.from(datum)]);
    const e = codeOf(() => decode(buf));
    expect(e.code).toBe('DECODE_FAILED');
    expect(e.message).toContain('precision');
  });

  it('decodeAs refuses a message of another type', () => {
    const e = codeOf(() => decodeAs('ChunkTask', good));
    expect(e).toMatchObject({ code: 'DECODE_FAILED', retryable: false });
    expect(e.message).toContain('ChunkSealed');
  });
});

describe('domain helpers', () => {
  it('carries products as rows sorted by product_id and back', () => {
    const avroPartial = toAvroPartial(partial);
    expect(avroPartial.products.map((p) => p.product_id)).toEqual(['p-1', 'p-2']);
    expect(fromAvroPartial(avroPartial)).toEqual(partial);
    const decoded = decodeAs('PartialRecord', encode('PartialRecord', partialRecord));
    expect(fromAvroPartial(decoded.partial)).toEqual(partial);
  });

  it('encodes equal aggregates to equal bytes whatever the key order', () => {
    const reordered: PartialAggregate = { ...partial, products: { 'p-1': partial.products['p-1']!, 'p-2': partial.products['p-2']! } };
    expect(encode('PartialRecord', { ...partialRecord, partial: toAvroPartial(reordered) })).toEqual(encode('PartialRecord', partialRecord));
  });

  it('keeps a product_id like __proto__ as a plain key', () => {
    const odd: PartialAggregate = { ...partial, products: Object.fromEntries([['__proto__', { views: 1, add_to_carts: 0, units_sold: 0, revenue_cents: 0 }]]) };
    const back = fromAvroPartial(toAvroPartial(odd));
    expect(Object.keys(back.products)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(back.products)).toBe(Object.prototype);
  });

  it('maps ValidEvent optional fields to nulls and back without inventing keys; an unannotated event reads as session -1', () => {
    const view: ValidEvent = { event_id: 'e-1', visitor_id: 'v-1', ts: 1, type: 'page_view' };
    expect(fromBatchEvent('v-1', toBatchEvent(view))).toStrictEqual({ ...view, session: -1, kept: false });
    expect(fromBatchEvent('v-1', toBatchEvent(purchase))).toStrictEqual({ ...purchase, session: -1, kept: false });
    const annotated = { ...purchase, session: 3, kept: true };
    expect(fromBatchEvent('v-1', toBatchEvent(annotated))).toStrictEqual(annotated);
    const decoded = decodeAs('VisitorBatch', encode('VisitorBatch', visitorBatch));
    const events = decoded.visitors.flatMap((v) => v.events.map((e) => fromBatchEvent(v.visitor_id, e)));
    expect(events[2]).toStrictEqual({ ...purchase, session: -1, kept: false });
  });
});
