/**
 * Avro codecs for every Kafka message value of the pipeline.
 *
 * Wire format: Avro single-object encoding — 0xC3 0x01, then the 8-byte little-endian
 * CRC-64-AVRO fingerprint of the writer schema's Parsing Canonical Form, then the binary datum.
 * The fingerprint lets a consumer read values written by an older producer: every schema under
 * schemas/history/ is a known writer, resolved into the current reader schema of the same record.
 *
 * `long` caveat: avsc maps Avro longs to JS numbers. Encoding a long outside ±(2^53 - 1) throws
 * (INPUT_INVALID), and decoding one fails with DECODE_FAILED ("potential precision loss"), never
 * a silently rounded value. Cents, milliseconds and counts of one merchant-day are far below that.
 *
 * Trust caveat: a well-formed header with a known fingerprint in front of a corrupted datum may
 * decode into a wrong value or, with a huge corrupted array count, take long to fail; the
 * fingerprint guards against foreign schemas, not against bit rot (Kafka's own CRC does that).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';
import type { Type as AvroType } from 'avsc';
import { StagelineError, errorMessage } from '../src/errors.js';
import { projectPath } from '../src/paths.js';
import type { AnnotatedEvent, EventType, OrderItem, PartialAggregate, ProductStats, SessionPiece, ValidEvent } from '../src/domain/types.js';

// ---------------------------------------------------------------------------------------------
// Message shapes (what avsc reads and writes; nullable Avro fields are `null`, never absent)

export interface RangeSpec {
  merchant_id: string;
  bucket_lo: number;
  /** exclusive */
  bucket_hi: number;
}

export interface ChunkTask {
  day: string;
  epoch: number;
  run_id: string;
  chunk_id: string;
  attempt: number;
  ranges: RangeSpec[];
  /** epoch milliseconds */
  published_at: number;
}

/** A ValidEvent without visitor_id (the enclosing BatchVisitor carries it). */
export interface BatchEvent {
  event_id: string;
  ts: number;
  type: EventType;
  product_id: string | null;
  quantity: number | null;
  price_cents: number | null;
  order_id: string | null;
  order_total_cents: number | null;
  items: OrderItem[] | null;
  /** session index within the visitor's day; -1 from a v2 writer (whole visitor, not annotated) */
  session: number;
  /** the kept purchase of its order */
  kept: boolean;
}

export interface BatchVisitor {
  visitor_id: string;
  events: BatchEvent[];
  /** 0-based fragment of the visitor's events, of `fragments` */
  fragment: number;
  fragments: number;
  first_open: boolean;
  last_open: boolean;
}

export interface VisitorBatch {
  day: string;
  epoch: number;
  run_id: string;
  chunk_id: string;
  batch_id: string;
  merchant_id: string;
  /** 0-based position of the batch within its (chunk, merchant); 0 when written by a v1 producer */
  seq: number;
  visitors: BatchVisitor[];
  /** first instant of the merchant-day, epoch ms; -1 from a v2 writer (UTC midnight) */
  day_start: number;
  /** elapsed hours of the merchant-day */
  hours: number;
}

export interface ProductStatsRow extends ProductStats {
  product_id: string;
}

/** PartialAggregate as Avro carries it: products as rows sorted by product_id. */
export interface AvroPartialAggregate extends Omit<PartialAggregate, 'products'> {
  products: ProductStatsRow[];
  session_pieces: SessionPiece[];
}

export interface PartialRecord {
  day: string;
  epoch: number;
  run_id: string;
  chunk_id: string;
  batch_id: string;
  merchant_id: string;
  partial: AvroPartialAggregate;
}

export interface ChunkSealed {
  day: string;
  epoch: number;
  run_id: string;
  chunk_id: string;
  merchant_id: string;
  rows_read: number;
  valid: number;
  invalid: number;
  batches: number;
  /** sha256 over the sealed batch ids and their events; empty from a v1 writer */
  digest: Buffer;
}

export interface DeadLetter {
  stage: string;
  source_topic: string;
  partition: number;
  /** decimal string, as Kafka clients hand offsets out */
  offset: string;
  key: Buffer | null;
  error_code: string;
  error: string;
  /** the original message value, or its first bytes when payload_truncated */
  payload: Buffer;
  /** epoch milliseconds */
  failed_at: number;
  /** length of the original value; -1 from a v1 writer */
  payload_bytes: number;
  payload_sha256: Buffer;
  payload_truncated: boolean;
}

export type MessageName = 'ChunkTask' | 'VisitorBatch' | 'PartialRecord' | 'ChunkSealed' | 'DeadLetter';

export interface MessageTypes {
  ChunkTask: ChunkTask;
  VisitorBatch: VisitorBatch;
  PartialRecord: PartialRecord;
  ChunkSealed: ChunkSealed;
  DeadLetter: DeadLetter;
}

export type MessageOf<N extends MessageName> = MessageTypes[N];

// ---------------------------------------------------------------------------------------------
// Parsing Canonical Form and CRC-64-AVRO (Rabin), per the Avro specification

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);

function fullName(name: string, namespace: string): string {
  return name.includes('.') || namespace === '' ? name : `${namespace}.${name}`;
}

function canonical(schema: unknown, namespace: string): string {
  if (typeof schema === 'string') {
    return JSON.stringify(PRIMITIVES.has(schema) ? schema : fullName(schema, namespace));
  }
  if (Array.isArray(schema)) return `[${schema.map((branch) => canonical(branch, namespace)).join(',')}]`;
  if (typeof schema !== 'object' || schema === null) throw new Error(`not an Avro schema: ${JSON.stringify(schema)}`);
  const s = schema as Record<string, unknown>;
  const type = s['type'];
  if (typeof type !== 'string') throw new Error(`schema without a string type: ${JSON.stringify(schema)}`);
  switch (type) {
    case 'record':
    case 'enum':
    case 'fixed': {
      const name = s['name'];
      if (typeof name !== 'string') throw new Error(`named ${type} without a name`);
      const ns = typeof s['namespace'] === 'string' ? s['namespace'] : namespace;
      const full = fullName(name, ns);
      const dot = full.lastIndexOf('.');
      const inner = dot < 0 ? '' : full.slice(0, dot);
      const head = `{"name":${JSON.stringify(full)},"type":${JSON.stringify(type)}`;
      if (type === 'enum') return `${head},"symbols":${JSON.stringify(s['symbols'])}}`;
      if (type === 'fixed') return `${head},"size":${JSON.stringify(s['size'])}}`;
      const fields = s['fields'];
      if (!Array.isArray(fields)) throw new Error(`record ${full} without fields`);
      const parts = fields.map((field: unknown) => {
        const f = field as Record<string, unknown>;
        return `{"name":${JSON.stringify(f['name'])},"type":${canonical(f['type'], inner)}}`;
      });
      return `${head},"fields":[${parts.join(',')}]}`;
    }
    case 'array':
      return `{"type":"array","items":${canonical(s['items'], namespace)}}`;
    case 'map':
      return `{"type":"map","values":${canonical(s['values'], namespace)}}`;
    default:
      // {"type":"int", "logicalType": ...} reduces to its primitive; {"type":"Name"} is a reference.
      return canonical(type, namespace);
  }
}

/** Parsing Canonical Form of a schema (attributes stripped, names fully qualified, fixed key order, no whitespace). */
export function canonicalForm(schemaJson: object | string): string {
  return canonical(schemaJson, '');
}

const RABIN_EMPTY = 0xc15d213aa4d7a795n;
const RABIN_TABLE: bigint[] = Array.from({ length: 256 }, (_, i) => {
  let fp = BigInt(i);
  for (let j = 0; j < 8; j++) fp = (fp >> 1n) ^ (RABIN_EMPTY & -(fp & 1n));
  return fp;
});

/** CRC-64-AVRO of raw bytes, as the unsigned 64-bit value (Java's signed long reinterpreted). */
export function rabin64(bytes: Uint8Array): bigint {
  let fp = RABIN_EMPTY;
  for (const b of bytes) fp = (fp >> 8n) ^ (RABIN_TABLE[Number((fp ^ BigInt(b)) & 0xffn)] as bigint);
  return fp;
}

/** The 8-byte CRC-64-AVRO fingerprint of a schema's canonical form, little-endian as on the wire. */
export function fingerprint(schemaJson: object | string): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(rabin64(Buffer.from(canonicalForm(schemaJson), 'utf8')));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Registry

type AvroSchema = Parameters<typeof avro.Type.forSchema>[0];

const MARKER_0 = 0xc3;
const MARKER_1 = 0x01;
const HEADER_BYTES = 10;

const SCHEMA_FILES: Record<MessageName, string> = {
  ChunkTask: 'chunk-task.avsc',
  VisitorBatch: 'visitor-batch.avsc',
  PartialRecord: 'partial-aggregate.avsc',
  ChunkSealed: 'chunk-sealed.avsc',
  DeadLetter: 'dead-letter.avsc',
};
const MESSAGE_NAMES = Object.keys(SCHEMA_FILES) as MessageName[];

interface Codec {
  name: MessageName;
  type: AvroType;
  /** the 10-byte single-object header of the current schema */
  header: Buffer;
  fingerprintHex: string;
}

interface WriterEntry {
  codec: Codec;
  /** absent for the current schema: no resolution needed */
  resolver?: ReturnType<AvroType['createResolver']>;
  source: string;
}

function loadSchema(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

function messageNameOf(schema: Record<string, unknown>, path: string): MessageName {
  const name = schema['name'];
  const short = typeof name === 'string' ? name.slice(name.lastIndexOf('.') + 1) : '';
  const found = MESSAGE_NAMES.find((n) => n === short);
  if (found === undefined) throw new Error(`${path}: record ${String(name)} is not a known message`);
  return found;
}

function buildRegistry(): { codecs: Map<MessageName, Codec>; writers: Map<string, WriterEntry> } {
  const dir = projectPath('schemas');
  const codecs = new Map<MessageName, Codec>();
  // Keyed by the fingerprint as a latin1 string: building it from the header bytes is cheaper than hex.
  const writers = new Map<string, WriterEntry>();

  for (const name of MESSAGE_NAMES) {
    const path = join(dir, SCHEMA_FILES[name]);
    const schema = loadSchema(path);
    if (messageNameOf(schema, path) !== name) throw new Error(`${path}: expected record ${name}`);
    const fp = fingerprint(schema);
    const header = Buffer.concat([Buffer.from([MARKER_0, MARKER_1]), fp]);
    const codec: Codec = { name, type: avro.Type.forSchema(schema as AvroSchema), header, fingerprintHex: fp.toString('hex') };
    codecs.set(name, codec);
    writers.set(fp.toString('latin1'), { codec, source: path });
  }

  const historyDir = join(dir, 'history');
  for (const file of readdirSync(historyDir).filter((f) => f.endsWith('.avsc')).sort()) {
    const path = join(historyDir, file);
    const schema = loadSchema(path);
    const codec = codecs.get(messageNameOf(schema, path)) as Codec;
    const key = fingerprint(schema).toString('latin1');
    if (writers.has(key)) continue; // identical to a schema already known
    // Resolving at load time fails fast on an incompatible history schema instead of on the first old message.
    const resolver = codec.type.createResolver(avro.Type.forSchema(schema as AvroSchema));
    writers.set(key, { codec, resolver, source: path });
  }
  return { codecs, writers };
}

const { codecs: CODECS, writers: WRITERS } = buildRegistry();

function codecOf(name: MessageName): Codec {
  const codec = CODECS.get(name);
  if (codec === undefined) throw new StagelineError('INTERNAL', `no codec for message ${String(name)}`);
  return codec;
}

/** The current schema's fingerprint of a message, lowercase hex of the wire bytes (little-endian). */
export function currentFingerprintHex(name: MessageName): string {
  return codecOf(name).fingerprintHex;
}

/** Every known writer fingerprint (current and history) with the message it decodes to. */
export function knownWriters(): { fingerprint: string; name: MessageName; source: string; current: boolean }[] {
  return [...WRITERS].map(([key, w]) => ({
    fingerprint: Buffer.from(key, 'latin1').toString('hex'),
    name: w.codec.name,
    source: w.source,
    current: w.resolver === undefined,
  }));
}

// ---------------------------------------------------------------------------------------------
// Encode / decode

// One scratch buffer for all encodes: encoding is synchronous, so nothing else can observe it mid-use.
let scratch = Buffer.allocUnsafe(64 * 1024);

/** Single-object encoding of a message with its current schema. Throws INPUT_INVALID for a value that does not fit the schema. */
export function encode<N extends MessageName>(name: N, value: MessageOf<N>): Buffer {
  const codec = codecOf(name);
  for (;;) {
    let end: number;
    try {
      end = codec.type.encode(value, scratch, HEADER_BYTES);
    } catch (err) {
      throw new StagelineError('INPUT_INVALID', `cannot encode ${name}: ${errorMessage(err)}`, { cause: err });
    }
    if (end >= 0) {
      const out = Buffer.allocUnsafe(end);
      codec.header.copy(out, 0);
      scratch.copy(out, HEADER_BYTES, HEADER_BYTES, end);
      return out;
    }
    // avsc returns minus the missing byte count when the buffer was too small.
    scratch = Buffer.allocUnsafe(Math.max(scratch.length * 2, scratch.length - end));
  }
}

function decodeFailed(message: string, cause?: unknown): StagelineError {
  return new StagelineError('DECODE_FAILED', message, cause === undefined ? {} : { cause });
}

function decodeWith(buf: Buffer, expected?: MessageName): { name: MessageName; value: unknown } {
  if (!Buffer.isBuffer(buf)) throw decodeFailed('message value is not a buffer');
  if (buf.length < HEADER_BYTES) throw decodeFailed(`message of ${buf.length} bytes is shorter than the single-object header`);
  if (buf[0] !== MARKER_0 || buf[1] !== MARKER_1) {
    throw decodeFailed(`bad single-object marker 0x${buf.subarray(0, 2).toString('hex')} (expected 0xc301)`);
  }
  const writer = WRITERS.get(buf.toString('latin1', 2, HEADER_BYTES));
  if (writer === undefined) {
    const hex = buf.toString('hex', 2, HEADER_BYTES);
    throw new StagelineError('SCHEMA_UNKNOWN', `unknown writer schema fingerprint ${hex}`);
  }
  const name = writer.codec.name;
  if (expected !== undefined && name !== expected) {
    throw decodeFailed(`expected a ${expected} message but got a ${name}`);
  }
  try {
    return { name, value: writer.codec.type.fromBuffer(buf.subarray(HEADER_BYTES), writer.resolver) };
  } catch (err) {
    throw decodeFailed(`cannot decode ${name}: ${errorMessage(err)}`, err);
  }
}

/** Decodes any message written with a known (current or history) schema into the current shape. */
export function decode(buf: Buffer): { name: MessageName; value: unknown } {
  return decodeWith(buf);
}

/** Decodes a message that must be of the given type; another type is DECODE_FAILED. */
export function decodeAs<N extends MessageName>(name: N, buf: Buffer): MessageOf<N> {
  return decodeWith(buf, name).value as MessageOf<N>;
}

// ---------------------------------------------------------------------------------------------
// Domain <-> Avro shape helpers

function byProductId(a: ProductStatsRow, b: ProductStatsRow): number {
  // Code-unit order, not localeCompare: the encoding must not depend on the host's locale.
  return a.product_id < b.product_id ? -1 : a.product_id > b.product_id ? 1 : 0;
}

export function toAvroPartial(p: PartialAggregate): AvroPartialAggregate {
  const products = Object.entries(p.products).map(([product_id, s]) => ({
    product_id,
    views: s.views,
    add_to_carts: s.add_to_carts,
    units_sold: s.units_sold,
    revenue_cents: s.revenue_cents,
  }));
  products.sort(byProductId);
  return { ...p, products, session_pieces: p.session_pieces.map((x) => ({ ...x })) };
}

export function fromAvroPartial(a: AvroPartialAggregate): PartialAggregate {
  // fromEntries defines own properties, so a product_id such as "__proto__" stays a plain key.
  const products: Record<string, ProductStats> = Object.fromEntries(
    a.products.map((r) => [r.product_id, { views: r.views, add_to_carts: r.add_to_carts, units_sold: r.units_sold, revenue_cents: r.revenue_cents }]),
  );
  return {
    events: a.events,
    visitors: a.visitors,
    sessions: a.sessions,
    bounced_sessions: a.bounced_sessions,
    session_duration_ms_total: a.session_duration_ms_total,
    page_views: a.page_views,
    product_views: a.product_views,
    add_to_carts: a.add_to_carts,
    remove_from_carts: a.remove_from_carts,
    purchases: a.purchases,
    orders: a.orders,
    revenue_cents: a.revenue_cents,
    units_sold: a.units_sold,
    converting_sessions: a.converting_sessions,
    cart_abandoned_sessions: a.cart_abandoned_sessions,
    hourly_events: [...a.hourly_events],
    hourly_revenue_cents: [...a.hourly_revenue_cents],
    products,
    session_pieces: a.session_pieces.map((x) => ({ ...x })),
  };
}

export function toBatchEvent(e: ValidEvent | AnnotatedEvent): BatchEvent {
  return {
    event_id: e.event_id,
    ts: e.ts,
    type: e.type,
    product_id: e.product_id ?? null,
    quantity: e.quantity ?? null,
    price_cents: e.price_cents ?? null,
    order_id: e.order_id ?? null,
    order_total_cents: e.order_total_cents ?? null,
    items: e.items === undefined ? null : e.items.map((i) => ({ product_id: i.product_id, quantity: i.quantity, price_cents: i.price_cents })),
    session: 'session' in e ? e.session : -1,
    kept: 'kept' in e ? e.kept : false,
  };
}

export function fromBatchEvent(visitorId: string, e: BatchEvent): AnnotatedEvent {
  const out: AnnotatedEvent = { event_id: e.event_id, visitor_id: visitorId, ts: e.ts, type: e.type, session: e.session, kept: e.kept };
  if (e.product_id !== null) out.product_id = e.product_id;
  if (e.quantity !== null) out.quantity = e.quantity;
  if (e.price_cents !== null) out.price_cents = e.price_cents;
  if (e.order_id !== null) out.order_id = e.order_id;
  if (e.order_total_cents !== null) out.order_total_cents = e.order_total_cents;
  if (e.items !== null) out.items = e.items.map((i) => ({ product_id: i.product_id, quantity: i.quantity, price_cents: i.price_cents }));
  return out;
}
