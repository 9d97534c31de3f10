import { afterEach, describe, expect, it } from 'vitest';
import { esc, html, jsonScript } from '../../../src/web/html.js';
import { dayItems, dayLabel, throughput, timeline, type DayView, type MerchantView } from '../../../src/web/model.js';
import { dayPage, daysPage, merchantPage, timelineSvg } from '../../../src/web/views.js';
import { authorized, isLoopback, startWeb, type WebServer } from '../../../src/web/server.js';
import { silentLogger } from '../../../src/log.js';
import type { App } from '../../../src/app.js';
import type { ChunkReport, RunRecord } from '../../../src/ledger/types.js';
import type { RunStatus } from '../../../src/status.js';

const HOSTILE = `<script>window.__xss=1</script>&"'x`;

describe('html escaping', () => {
  it('escapes every interpolated value, keeps template fragments', () => {
    expect(esc(HOSTILE)).toBe('&lt;script&gt;window.__xss=1&lt;/script&gt;&amp;&quot;&#39;x');
    const inner = html`<b>${HOSTILE}</b>`;
    expect(html`<p title="${HOSTILE}">${inner}${[HOSTILE, 1]}</p>`.text).toBe(`<p title="${esc(HOSTILE)}"><b>${esc(HOSTILE)}</b>${esc(HOSTILE)}1</p>`);
  });
  it('a JSON island cannot close its script element', () => {
    const s = jsonScript('d', { id: '</script><script>alert(1)</script>', sep: '\u2028' }).text;
    expect(s.match(/<\/script>/g)).toHaveLength(1);
    expect(JSON.parse(s.slice(s.indexOf('>') + 1, s.lastIndexOf('</script>')))).toEqual({ id: '</script><script>alert(1)</script>', sep: '\u2028' });
  });
});

const run = (day: string, state: RunRecord['state']): RunRecord => ({
  day, epoch: 1, run_id: 'r', state, from_stage: 'split', plan_kind: 'full', trigger: 'nightly', chunks: 3, merchant_days: 2, planned_rows: 100,
  lock_owner: null, lock_live: false, lock_expires_at: null, lock_renewed_at: null, error: null, started_at: Date.UTC(2026, 10, 28), first_publish_at: null, completed_at: null,
});

describe('day labels', () => {
  it.each([
    ['complete', false, 'complete'], ['complete', true, 'late data waiting'], ['running', false, 'running'], ['planning', true, 'running'],
    ['failed', true, 'failed'], ['waiting', false, 'not due yet'], ['waiting', true, 'late data waiting'],
  ] as const)('%s with late=%s is %s', (state, late, want) => expect(dayLabel(state, late)).toBe(want));

  it('lists days newest first with their late data', () => {
    const items = dayItems([run('2026-11-26', 'complete'), run('2026-11-27', 'running')], [{ day: '2026-11-26', merchantDays: 1, rows: 5 }]);
    expect(items.map((d) => [d.day, d.label, d.late_data])).toEqual([['2026-11-27', 'running', null], ['2026-11-26', 'late data waiting', { merchant_days: 1, rows: 5 }]]);
  });
});

const chunk = (id: string, stages: ChunkReport['stages']): ChunkReport => ({ chunk_id: id, seq: 1, est_rows: 10, publish_count: 1, published_at: null, split_done_at: null, stages });
const w = (events: number, first: number, last: number) => ({ messages: 1, events, replicas: 1, queued_ms: 0, handle_ms: 0, write_ms: 0, first_at: first, last_at: last });

describe('timeline and throughput', () => {
  const chunks = [
    chunk('c1', { split: w(100, 1000, 3000), transform: w(90, 2000, 6000), summarize: w(90, 5000, 5000) }),
    chunk('c2', { split: w(50, 3000, 4000) }),
    chunk('c3', {}),
  ];
  it('one bar per chunk and stage that reported work', () => {
    expect(timeline(chunks).map((b) => `${b.chunk_id}/${b.stage}`)).toEqual(['c1/split', 'c1/transform', 'c1/summarize', 'c2/split']);
  });
  it('buckets keep every stage\'s event count (rate × bucket length)', () => {
    const t = throughput(timeline(chunks), 10);
    expect(t.x).toHaveLength(10);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0) * t.bucket_sec;
    expect(sum(t.series.split)).toBeCloseTo(150, 6);
    expect(sum(t.series.transform)).toBeCloseTo(90, 6);
    expect(sum(t.series.summarize)).toBeCloseTo(90, 6);
    expect(throughput([]).x).toEqual([]);
  });
  it('the SVG has one rect per bar with its events', () => {
    const svg = timelineSvg(timeline(chunks)).text;
    expect(svg).toContain('data-bars="4"');
    expect(svg.match(/<rect class="bar"/g)).toHaveLength(4);
    expect(svg).toContain('data-chunk="c2" data-stage="split" data-events="50"');
  });
});

const status = (): RunStatus => ({
  namespace: 'ns', day: '2026-11-27', epoch: 1, run_id: 'r', state: 'running', error: null, started_at: '2026-11-28T00:00:00.000Z', elapsed_sec: 5, planned_rows: 100,
  chunks: { planned: 1, published: 1, split: 0 }, merchant_days: { planned: 1, done: 0 },
  stages: (['split', 'transform', 'summarize'] as const).map((stage) => ({ stage, unit: 'chunks', done: 0, planned: 1, planned_final: true, messages: 0, events: 0, events_per_sec: 0, messages_per_sec: 0, input_topic: 't', lag: 1, replicas: 0, replicas_reporting: 0, partitions: 1, dead_letters: 0, dropped: 0, stuck: 0, handle_ms: 0, write_ms: 0, queued_ms: 0 })),
  dead_letters: 0, refused_partials: 0, conflicts: [{ chunk_id: 'c', merchant_id: HOSTILE, detail: HOSTILE }], errors: [], late_data: [], eta_sec: null,
  bottleneck: { stage: 'split', lag: 1, replicas: 0, message: 'split has no running replicas' }, generated_at: '2026-11-28T00:00:05.000Z',
});

describe('pages show hostile ids as text', () => {
  it('day page: merchants, conflicts, dead letters, late data', () => {
    const v: DayView = {
      ...status(), chunk_reports: [], timeline: [], throughput: throughput([]),
      merchants: [{ merchant_id: HOSTILE, time_zone: 'UTC', events: 5, orders: 1, revenue_cents: 150, conversion_rate: 0.5 }],
      dead_letter_rows: [{ id: 1, stage: 'transform', topic: 't', partition: 0, offset: '1', day: '2026-11-27', epoch: 1, code: 'X', error: HOSTILE, failed_at: 0, payload_bytes: 1, redriven_at: null, redrive_count: 0 } as never],
      late_merchant_days: [{ merchant_id: HOSTILE, rows: 2 }],
    };
    const page = dayPage(v, 'running').text;
    expect(page).not.toContain('<script>window');
    expect(page).toContain(esc(HOSTILE));
    expect(page).toContain(`/merchants/${esc(encodeURIComponent(HOSTILE))}`);
    expect(page).toContain('split has no running replicas');
  });
  it('merchant page: top products and the merchant id', () => {
    const v: MerchantView = { day: '2026-11-27', merchant_id: HOSTILE, history: [], report: { merchant_id: HOSTILE, events: 3, hourly_events: [1, 2], hourly_revenue_cents: [0, 5], top_products: [{ product_id: HOSTILE, views: 1, units_sold: 1, revenue_cents: 5 }] } };
    const page = merchantPage(v).text;
    expect(page.match(/<script/g)).toHaveLength(3); // the JSON island, uPlot and charts.js; none from data
    expect(page).toContain(`<td>${esc(HOSTILE)}</td>`);
  });
  it('days page', () => {
    expect(daysPage(HOSTILE, []).text).toContain(`namespace ${esc(HOSTILE)}`);
  });
});

describe('server access', () => {
  let web: WebServer | undefined;
  afterEach(async () => { await web?.close(); web = undefined; });
  const stubApp = { cfg: { namespace: 'ns' } } as unknown as App;
  const opts = { host: '127.0.0.1', port: 0, log: silentLogger, today: () => '2026-11-28' };

  it('knows loopback addresses', () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', 'localhost'].every(isLoopback)).toBe(true);
    expect(['0.0.0.0', '10.0.0.1', '::', 'example.com'].some(isLoopback)).toBe(false);
  });
  it('compares the bearer token exactly', () => {
    expect(authorized('Bearer s3cret', 's3cret')).toBe(true);
    expect(authorized('Bearer s3cre', 's3cret')).toBe(false);
    expect(authorized('Bearer s3cretX', 's3cret')).toBe(false);
    expect(authorized('s3cret', 's3cret')).toBe(false);
    expect(authorized(undefined, 's3cret')).toBe(false);
    expect(authorized(undefined, '')).toBe(true);
  });
  it('refuses to bind off loopback without a token', async () => {
    await expect(startWeb(stubApp, { ...opts, host: '0.0.0.0', token: '' })).rejects.toThrow(/STAGELINE_WEB_TOKEN/);
  });
  it('with a token, every request needs it; only GET and HEAD', async () => {
    web = await startWeb(stubApp, { ...opts, token: 'tok' });
    const url = `${web.url}static/charts.js`;
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    const ok = await fetch(url, { headers: { authorization: 'Bearer tok' } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect((await fetch(url, { method: 'POST', headers: { authorization: 'Bearer tok' } })).status).toBe(405);
    expect((await fetch(`${web.url}days/2026-13-45`, { headers: { authorization: 'Bearer tok' } })).status).toBe(400);
    expect((await fetch(`${web.url}static/uPlot.iife.min.js`, { headers: { authorization: 'Bearer tok' } })).status).toBe(200);
  });
});
