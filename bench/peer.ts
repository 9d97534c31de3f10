/**
 * The peer of issue 15: an embedded columnar engine (DuckDB, 2 threads) that re-reads the day's raw
 * NDJSON file and computes the metrics contract in SQL, the way a data engineer without Stageline
 * would. `npm run bench` compares its summaries with `report --json` field by field, so the peer's
 * time is a fair bar only while it says MATCH.
 *
 *   node dist/bench/peer.js --file EVENTS.ndjson --day D [--threads 2] [--out FILE]
 * prints one JSON stats object on stdout; FILE gets the summaries as `report --json` lines.
 *
 * What the SQL ports exactly: ingest's identity rules (line ≤ 1 MiB, JSON object, merchant_id
 * pattern, 1–128 code point ids, ts as whole epoch ms or strict RFC 3339 with the fraction truncated
 * and every field range checked), the earliest-occurrence dedupe (ts, then raw bytes), every rule
 * of validateStored, sessions (gap > 30 min), the kept purchase per (visitor, order_id), hourly
 * arrays, top products. What it does not port (none of it occurs in generateLines' output; a
 * dataset with them would show as a MISMATCH, not silently pass):
 * - duplicate keys in one object: JSON.parse keeps the last, DuckDB's JSON functions the first;
 * - lone surrogate escapes (`"\ud800"`): JSON.parse accepts them, DuckDB refuses the line;
 * - `NaN` / `Infinity` literals: refused by JSON.parse, read as numbers by DuckDB (on `ts` both
 *   end refused; elsewhere they would differ);
 * - merchant time zones: every merchant is UTC (the bench day has no registry entries).
 */
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { utcDayFrame } from '../src/domain/zones.js';
import { MAX_LINE_BYTES, MAX_ID_CHARS, MAX_QUANTITY, MAX_PRICE_CENTS, MAX_ORDER_TOTAL_CENTS, MAX_ITEMS } from '../src/domain/event.js';
import { MAX_TS_MS } from '../src/domain/timestamp.js';
import { SESSION_GAP_MS, TOP_PRODUCTS } from '../src/domain/aggregate.js';
import type { DailySummary, TopProduct } from '../src/domain/types.js';
import { canonicalJson } from '../stages/summarize/logic.js';

export interface PeerStats {
  engine: string;
  threads: number;
  lines: number;
  merchantDays: number;
  /** stored events of the day after dedupe, valid + invalid: the same count the pipeline's events/s uses */
  events: number;
  invalid: number;
  wallMs: number;
  /** reading + parsing + aggregating inside DuckDB (wallMs adds opening the engine and writing the summaries) */
  queryMs: number;
  cpuMs: number;
  eventsPerSec: number;
  /** wall ms per statement: where the peer's time goes */
  stepsMs: Record<string, number>;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** Helpers on one JSON value (NULL when the path is missing); null counts as absent everywhere. */
export const MACROS = `
CREATE OR REPLACE MACRO absent(x) AS x IS NULL OR json_type(x) = 'NULL';
CREATE OR REPLACE MACRO id_ok(x) AS coalesce(json_type(x) = 'VARCHAR' AND length(x ->> '$') BETWEEN 1 AND ${MAX_ID_CHARS}, false);
CREATE OR REPLACE MACRO jnum(x) AS CASE WHEN json_type(x) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN TRY_CAST(x::VARCHAR AS DOUBLE) END;
CREATE OR REPLACE MACRO whole_in(x, lo, hi) AS coalesce(jnum(x) = trunc(jnum(x)) AND jnum(x) BETWEEN lo AND hi, false);
-- Howard Hinnant's days_from_civil, as src/domain/timestamp.ts: plain arithmetic, so a bad date cannot throw.
CREATE OR REPLACE MACRO civ_y(y, m) AS y - CASE WHEN m <= 2 THEN 1 ELSE 0 END;
CREATE OR REPLACE MACRO civ_era(y, m) AS CAST(floor(civ_y(y, m) / 400) AS BIGINT);
CREATE OR REPLACE MACRO civ_yoe(y, m) AS civ_y(y, m) - civ_era(y, m) * 400;
CREATE OR REPLACE MACRO days_from_civil(y, m, d) AS civ_era(y, m) * 146097 + civ_yoe(y, m) * 365 + civ_yoe(y, m) // 4 - civ_yoe(y, m) // 100 + (153 * ((m + 9) % 12) + 2) // 5 + d - 1 - 719468;
CREATE OR REPLACE MACRO days_in_month(y, m) AS CASE WHEN m = 2 THEN CASE WHEN (y % 4 = 0 AND y % 100 <> 0) OR y % 400 = 0 THEN 29 ELSE 28 END WHEN m IN (4, 6, 9, 11) THEN 30 ELSE 31 END;
`;

const RFC3339 = String.raw`^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d{2}):(\d{2}))$`;

/** The day's stored events after ingest's rules and the dedupe, each with its validity and fields. */
export function storedSql(file: string, dayStart: number): string {
  const f = file.replace(/'/g, "''");
  return `
CREATE TEMP TABLE stored AS
WITH lines AS (
  -- One VARCHAR per line, byte for byte: no quoting, a delimiter JSON text never holds raw.
  SELECT line FROM read_csv('${f}', columns = {'line': 'VARCHAR'}, header = false, delim = '\x01', quote = '', escape = '',
    auto_detect = false, max_line_size = ${4 * MAX_LINE_BYTES}, strict_mode = false, null_padding = false)
  WHERE line IS NOT NULL AND strlen(line) <= ${MAX_LINE_BYTES} AND NOT regexp_full_match(line, '[ \t\r\n]*')
), objects AS (
  SELECT line, json_extract(line, ['$.merchant_id', '$.visitor_id', '$.event_id', '$.ts']) AS f
  FROM lines WHERE json_valid(line) AND json_type(line) = 'OBJECT'
), identity AS (
  SELECT line, f[1] ->> '$' AS merchant_id, f[2] AS vj, f[3] AS ej, json_type(f[4]) AS tt,
    CASE WHEN json_type(f[4]) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN TRY_CAST(f[4]::VARCHAR AS DOUBLE) END AS tn,
    CASE WHEN json_type(f[4]) = 'VARCHAR' THEN regexp_extract(f[4] ->> '$', '${RFC3339}', ['y', 'mo', 'd', 'h', 'mi', 's', 'frac', 'z', 'sign', 'oh', 'om']) END AS p
  FROM objects
  WHERE json_type(f[1]) = 'VARCHAR' AND regexp_full_match(f[1] ->> '$', '[A-Za-z0-9_-]{1,64}') AND id_ok(f[2]) AND id_ok(f[3])
), parts AS (
  SELECT line, merchant_id, vj, ej, tt, tn,
    TRY_CAST(p.y AS BIGINT) AS y, TRY_CAST(p.mo AS BIGINT) AS mo, TRY_CAST(p.d AS BIGINT) AS d, TRY_CAST(p.h AS BIGINT) AS h,
    TRY_CAST(p.mi AS BIGINT) AS mi, TRY_CAST(p.s AS BIGINT) AS s,
    CASE WHEN p.frac = '' THEN 0 ELSE TRY_CAST(rpad(left(p.frac, 3), 3, '0') AS BIGINT) END AS ms,
    CASE WHEN p.z = 'Z' THEN 0 ELSE TRY_CAST(p.oh AS BIGINT) END AS oh, CASE WHEN p.z = 'Z' THEN 0 ELSE TRY_CAST(p.om AS BIGINT) END AS om,
    CASE WHEN p.sign = '-' THEN -1 ELSE 1 END AS sgn
  FROM identity
), timed AS (
  SELECT line, merchant_id, vj ->> '$' AS visitor_id, ej ->> '$' AS event_id,
    CASE
      WHEN tn IS NOT NULL THEN CASE WHEN tn = trunc(tn) AND tn BETWEEN 0 AND ${MAX_TS_MS} THEN CAST(tn AS BIGINT) END
      WHEN tt = 'VARCHAR' AND y IS NOT NULL AND mo BETWEEN 1 AND 12 AND d BETWEEN 1 AND days_in_month(y, mo) AND h <= 23 AND mi <= 59 AND s <= 59 AND oh <= 23 AND om <= 59
        THEN days_from_civil(y, mo, d) * ${DAY_MS} + h * 3600000 + mi * 60000 + s * 1000 + ms - sgn * (oh * 3600000 + om * 60000)
    END AS ts
  FROM parts
)
SELECT merchant_id, visitor_id, event_id, min({'ts': ts, 'line': line}) AS o FROM timed
WHERE ts BETWEEN ${dayStart} AND ${dayStart + DAY_MS - 1}
-- The kept occurrence of an identity: the earliest ts, then the smallest raw line (a struct compares field by
-- field; VARCHAR compares bytes, which is UTF-8 = code point order).
GROUP BY merchant_id, visitor_id, event_id;

CREATE TEMP TABLE checked AS
WITH x AS (
  SELECT merchant_id, visitor_id, event_id, o.ts AS ts,
    json_extract(o.line, ['$.type', '$.product_id', '$.quantity', '$.price_cents', '$.order_id', '$.order_total_cents', '$.items']) AS g
  FROM stored
), y AS (
  SELECT merchant_id, visitor_id, event_id, ts, g[1] ->> '$' AS type, g[2] AS pid, g[3] AS qty, g[4] AS price, g[5] AS oid, g[6] AS total, g[7] AS items,
    CASE WHEN json_type(g[1]) = 'VARCHAR' THEN g[1] ->> '$' END IN ('page_view', 'product_view', 'add_to_cart', 'remove_from_cart', 'purchase') AS type_ok
  FROM x
)
SELECT merchant_id, visitor_id, event_id, ts, type,
  coalesce(type_ok, false)
  AND (CASE WHEN absent(pid) THEN type NOT IN ('product_view', 'add_to_cart', 'remove_from_cart') ELSE id_ok(pid) END)
  AND (absent(qty) OR whole_in(qty, 1, ${MAX_QUANTITY}))
  AND (absent(price) OR whole_in(price, 0, ${MAX_PRICE_CENTS}))
  AND (CASE WHEN absent(oid) THEN type <> 'purchase' ELSE id_ok(oid) END)
  AND (CASE WHEN absent(total) THEN type <> 'purchase' ELSE whole_in(total, 0, ${MAX_ORDER_TOTAL_CENTS}) END)
  AND (absent(items) OR (json_type(items) = 'ARRAY' AND json_array_length(items) <= ${MAX_ITEMS}
    AND coalesce(list_bool_and(list_transform(json_extract(items, '$[*]'),
      it -> coalesce(json_type(it) = 'OBJECT' AND id_ok(it -> '$.product_id') AND whole_in(it -> '$.quantity', 1, ${MAX_QUANTITY}) AND whole_in(it -> '$.price_cents', 0, ${MAX_PRICE_CENTS}), false))), true)))
  AS valid,
  CASE WHEN type IN ('product_view', 'add_to_cart', 'remove_from_cart') AND NOT absent(pid) THEN pid ->> '$' END AS product_id,
  CASE WHEN type = 'purchase' AND NOT absent(oid) THEN oid ->> '$' END AS order_id,
  CASE WHEN type = 'purchase' AND NOT absent(total) THEN CAST(jnum(total) AS BIGINT) END AS order_total_cents,
  CASE WHEN type = 'purchase' AND NOT absent(items) THEN items END AS items
FROM y;

CREATE TEMP TABLE ev AS
WITH v AS (
  SELECT *, coalesce(ts - lag(ts) OVER w > ${SESSION_GAP_MS}, false) AS brk,
    -- The kept purchase of an order: the visitor's first in (ts, event_id) order, whatever the session.
    type = 'purchase' AND row_number() OVER (PARTITION BY merchant_id, visitor_id, order_id ORDER BY ts, event_id) = 1 AS kept
  FROM checked WHERE valid
  WINDOW w AS (PARTITION BY merchant_id, visitor_id ORDER BY ts, event_id)
)
SELECT *, sum(CAST(brk AS INTEGER)) OVER (PARTITION BY merchant_id, visitor_id ORDER BY ts, event_id ROWS UNBOUNDED PRECEDING) AS session,
  CAST((ts - ${dayStart}) // ${HOUR_MS} AS INTEGER) AS hour
FROM v;
`;
}

const SUMMARY_SQL = `
WITH sessions AS (
  SELECT merchant_id, count(*) AS events, max(ts) - min(ts) AS duration,
    count(*) FILTER (WHERE type = 'purchase') AS purchases, count(*) FILTER (WHERE type = 'add_to_cart') AS add_to_carts
  FROM ev GROUP BY merchant_id, visitor_id, session
), s AS (
  SELECT merchant_id, count(*) AS sessions, count(*) FILTER (WHERE events = 1) AS bounced_sessions, sum(duration) AS session_duration_ms_total,
    count(*) FILTER (WHERE purchases > 0) AS converting_sessions, count(*) FILTER (WHERE add_to_carts > 0 AND purchases = 0) AS cart_abandoned_sessions
  FROM sessions GROUP BY merchant_id
), units AS (
  SELECT merchant_id, sum(CAST(it ->> '$.quantity' AS DOUBLE)) AS units_sold
  FROM (SELECT merchant_id, unnest(json_extract(items, '$[*]')) AS it FROM ev WHERE kept AND items IS NOT NULL) GROUP BY merchant_id
), e AS (
  SELECT merchant_id, count(*) AS events, count(DISTINCT visitor_id) AS visitors,
    count(*) FILTER (WHERE type = 'page_view') AS page_views, count(*) FILTER (WHERE type = 'product_view') AS product_views,
    count(*) FILTER (WHERE type = 'add_to_cart') AS add_to_carts, count(*) FILTER (WHERE type = 'remove_from_cart') AS remove_from_carts,
    count(*) FILTER (WHERE type = 'purchase') AS purchases, count(*) FILTER (WHERE kept) AS orders,
    coalesce(sum(order_total_cents) FILTER (WHERE kept), 0) AS revenue_cents
  FROM ev GROUP BY merchant_id
), inv AS (
  SELECT merchant_id, count(*) FILTER (WHERE NOT valid) AS invalid_events, count(*) AS stored FROM checked GROUP BY merchant_id
)
SELECT inv.merchant_id, inv.invalid_events, inv.stored,
  CAST(coalesce(e.events, 0) AS DOUBLE) AS events, CAST(coalesce(e.visitors, 0) AS DOUBLE) AS visitors,
  CAST(coalesce(s.sessions, 0) AS DOUBLE) AS sessions, CAST(coalesce(s.bounced_sessions, 0) AS DOUBLE) AS bounced_sessions,
  CAST(coalesce(s.session_duration_ms_total, 0) AS DOUBLE) AS session_duration_ms_total,
  CAST(coalesce(e.page_views, 0) AS DOUBLE) AS page_views, CAST(coalesce(e.product_views, 0) AS DOUBLE) AS product_views,
  CAST(coalesce(e.add_to_carts, 0) AS DOUBLE) AS add_to_carts, CAST(coalesce(e.remove_from_carts, 0) AS DOUBLE) AS remove_from_carts,
  CAST(coalesce(e.purchases, 0) AS DOUBLE) AS purchases, CAST(coalesce(e.orders, 0) AS DOUBLE) AS orders,
  CAST(coalesce(e.revenue_cents, 0) AS DOUBLE) AS revenue_cents, CAST(coalesce(units.units_sold, 0) AS DOUBLE) AS units_sold,
  CAST(coalesce(s.converting_sessions, 0) AS DOUBLE) AS converting_sessions, CAST(coalesce(s.cart_abandoned_sessions, 0) AS DOUBLE) AS cart_abandoned_sessions
FROM inv LEFT JOIN e USING (merchant_id) LEFT JOIN s USING (merchant_id) LEFT JOIN units USING (merchant_id)
ORDER BY inv.merchant_id`;

const HOURLY_SQL = `
SELECT merchant_id, hour, CAST(count(*) AS DOUBLE) AS events, CAST(coalesce(sum(order_total_cents) FILTER (WHERE kept), 0) AS DOUBLE) AS revenue
FROM ev GROUP BY merchant_id, hour`;

const PRODUCTS_SQL = `
WITH p AS (
  SELECT merchant_id, product_id, CASE WHEN type = 'product_view' THEN 1 ELSE 0 END AS views, CASE WHEN type = 'add_to_cart' THEN 1 ELSE 0 END AS add_to_carts,
    0::DOUBLE AS units_sold, 0::DOUBLE AS revenue_cents
  FROM ev WHERE type IN ('product_view', 'add_to_cart') AND product_id IS NOT NULL
  UNION ALL
  SELECT merchant_id, it ->> '$.product_id', 0, 0, CAST(it ->> '$.quantity' AS DOUBLE), CAST(it ->> '$.quantity' AS DOUBLE) * CAST(it ->> '$.price_cents' AS DOUBLE)
  FROM (SELECT merchant_id, unnest(json_extract(items, '$[*]')) AS it FROM ev WHERE kept AND items IS NOT NULL)
), agg AS (
  SELECT merchant_id, product_id, CAST(sum(views) AS DOUBLE) AS views, CAST(sum(add_to_carts) AS DOUBLE) AS add_to_carts, sum(units_sold) AS units_sold, sum(revenue_cents) AS revenue_cents
  FROM p GROUP BY merchant_id, product_id
)
SELECT * FROM agg
WHERE views > 0 OR add_to_carts > 0 OR units_sold > 0 OR revenue_cents > 0
QUALIFY row_number() OVER (PARTITION BY merchant_id ORDER BY views DESC, units_sold DESC, product_id) <= ${TOP_PRODUCTS}
ORDER BY merchant_id, views DESC, units_sold DESC, product_id`;

async function rows(c: DuckDBConnection, sql: string): Promise<Array<Record<string, unknown>>> {
  return (await c.runAndReadAll(sql)).getRowObjectsJS() as Array<Record<string, unknown>>;
}

const num = (v: unknown): number => Number(v);

export async function peerSummaries(file: string, day: string, threads: number): Promise<{ summaries: DailySummary[]; stats: PeerStats }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const frame = utcDayFrame(day);
  const dayStart = Date.parse(`${day}T00:00:00.000Z`);
  const db = await DuckDBInstance.create(':memory:', { threads: String(threads) });
  const c = await db.connect();
  const q0 = performance.now();
  const stepsMs: Record<string, number> = {};
  const step = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const s0 = performance.now();
    const out = await f();
    stepsMs[name] = Math.round(performance.now() - s0);
    return out;
  };
  await c.run(MACROS);
  for (const sql of storedSql(file, dayStart).split(/;\n\n/)) await step(/CREATE TEMP TABLE (\w+)/.exec(sql)?.[1] ?? 'sql', () => c.run(sql));
  const lines = num((await rows(c, `SELECT count(*) AS n FROM read_csv('${file.replace(/'/g, "''")}', columns = {'line': 'VARCHAR'}, header = false, delim = '\x01', quote = '', escape = '', auto_detect = false, max_line_size = ${4 * MAX_LINE_BYTES}, strict_mode = false)`))[0]?.n);
  const main = await step('summary', () => rows(c, SUMMARY_SQL));
  const hourly = await step('hourly', () => rows(c, HOURLY_SQL));
  const products = await step('products', () => rows(c, PRODUCTS_SQL));
  const queryMs = performance.now() - q0;
  const byMerchant = new Map<string, { he: number[]; hr: number[]; top: TopProduct[] }>();
  const of = (m: string) => {
    let x = byMerchant.get(m);
    if (!x) byMerchant.set(m, (x = { he: new Array<number>(24).fill(0), hr: new Array<number>(24).fill(0), top: [] }));
    return x;
  };
  for (const h of hourly) {
    const x = of(String(h.merchant_id));
    x.he[num(h.hour)] = num(h.events);
    x.hr[num(h.hour)] = num(h.revenue);
  }
  for (const p of products) of(String(p.merchant_id)).top.push({ product_id: String(p.product_id), views: num(p.views), add_to_carts: num(p.add_to_carts), units_sold: num(p.units_sold), revenue_cents: num(p.revenue_cents) });
  let events = 0;
  let invalid = 0;
  const summaries: DailySummary[] = main.map((r) => {
    const m = String(r.merchant_id);
    const x = of(m);
    events += num(r.stored);
    invalid += num(r.invalid_events);
    const sessions = num(r.sessions);
    const orders = num(r.orders);
    return {
      merchant_id: m, day, time_zone: frame.time_zone, day_start: frame.start_iso, day_end: frame.end_iso,
      events: num(r.events), invalid_events: num(r.invalid_events), visitors: num(r.visitors), sessions,
      bounced_sessions: num(r.bounced_sessions), session_duration_ms_total: num(r.session_duration_ms_total),
      page_views: num(r.page_views), product_views: num(r.product_views), add_to_carts: num(r.add_to_carts), remove_from_carts: num(r.remove_from_carts),
      purchases: num(r.purchases), orders, revenue_cents: num(r.revenue_cents), units_sold: num(r.units_sold),
      converting_sessions: num(r.converting_sessions), cart_abandoned_sessions: num(r.cart_abandoned_sessions),
      conversion_rate: sessions === 0 ? 0 : num(r.converting_sessions) / sessions,
      avg_order_value_cents: orders === 0 ? 0 : num(r.revenue_cents) / orders,
      hourly_events: x.he, hourly_revenue_cents: x.hr, top_products: x.top,
    };
  });
  c.closeSync();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return {
    summaries,
    stats: { engine: 'duckdb', threads, lines, merchantDays: summaries.length, events, invalid, wallMs: Math.round(wallMs), queryMs: Math.round(queryMs), cpuMs: Math.round((cpu.user + cpu.system) / 1000), eventsPerSec: Math.round(events / (wallMs / 1000)), stepsMs },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { file: { type: 'string' }, day: { type: 'string' }, threads: { type: 'string', default: '2' }, out: { type: 'string' } } });
  if (!values.file || !values.day) throw new Error('usage: peer.js --file EVENTS.ndjson --day D [--threads 2] [--out FILE]');
  const threads = Number(values.threads);
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`--threads must be an integer ≥ 1, got ${values.threads}`);
  const { summaries, stats } = await peerSummaries(values.file, values.day, threads);
  if (values.out) writeFileSync(values.out, summaries.map((s) => canonicalJson(s) + '\n').join(''));
  process.stdout.write(JSON.stringify(stats) + '\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then(
    () => setTimeout(() => process.exit(0), 100).unref(),
    (err: unknown) => {
      process.stderr.write(`peer: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
