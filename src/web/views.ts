/**
 * The pages, as pure functions from ./model.ts data to HTML. Every value goes through the `html`
 * template (escaped); charts are drawn in the browser by uPlot from a JSON island (jsonScript),
 * the chunk timeline is an SVG drawn here, so its bars are in the HTML the server sends.
 */
import { html, jsonScript, raw, seg, type SafeHtml } from './html.js';
import type { DayItem, DayView, MerchantView, TimelineBar } from './model.js';
import { STAGES } from '../../stages/index.js';
import { duration } from '../status.js';

const n = (x: number) => Math.round(x).toLocaleString('en-US');
const money = (cents: number) => (cents / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const cls = (label: string) => `state-${label.replace(/[^a-z]+/g, '-')}`;
const STAGE_COLORS: Record<string, string> = { split: '#3b82f6', transform: '#f59e0b', summarize: '#10b981' };

const CSS = `
body{font:14px/1.4 system-ui,sans-serif;margin:0 24px 48px;color:#1f2937}
h1{font-size:20px;margin:16px 0 4px}h2{font-size:16px;margin:24px 0 8px}
a{color:#1d4ed8}table{border-collapse:collapse;margin:4px 0}
th,td{padding:3px 10px;border-bottom:1px solid #e5e7eb;text-align:left}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.state{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;background:#e5e7eb}
.state-complete{background:#d1fae5}.state-running{background:#dbeafe}.state-failed{background:#fee2e2}
.state-late-data-waiting{background:#fef3c7}.state-not-due-yet{background:#f3f4f6}
.hint{background:#fffbeb;border-left:4px solid #f59e0b;padding:6px 10px;margin:8px 0}
.muted{color:#6b7280}.chart{margin:8px 0}nav{margin:12px 0}
progress{width:160px}
`;

function page(title: string, body: SafeHtml, data?: unknown): SafeHtml {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title} · Stageline</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><link rel="stylesheet" href="/static/uPlot.min.css"><style>${raw(CSS)}</style></head>
<body><nav><a href="/">Stageline</a> · <span class="muted">read-only</span></nav>
${body}
${data === undefined ? '' : jsonScript('page-data', data)}
<script src="/static/uPlot.iife.min.js"></script><script src="/static/charts.js"></script>
</body></html>`;
}

export function daysPage(namespace: string, days: readonly DayItem[]): SafeHtml {
  const rows = days.map((d) => html`<tr data-day="${d.day}">
<td><a href="/days/${seg(d.day)}">${d.day}</a></td><td><span class="state ${cls(d.label)}">${d.label}</span></td>
<td class="num">${d.epoch}</td><td class="num">${n(d.chunks)}</td><td class="num">${n(d.merchant_days)}</td><td class="num">${n(d.planned_rows)}</td>
<td>${d.started_at ?? '-'}</td><td>${d.completed_at ?? '-'}</td>
<td>${d.late_data ? `${n(d.late_data.merchant_days)} merchant-days, ${n(d.late_data.rows)} rows` : ''}</td><td>${d.error ?? ''}</td></tr>`);
  return page('days', html`<h1>Nights of namespace ${namespace}</h1>
<table id="days"><thead><tr><th>day</th><th>state</th><th class="num">epoch</th><th class="num">chunks</th><th class="num">merchant-days</th><th class="num">rows</th><th>started</th><th>completed</th><th>late data</th><th>error</th></tr></thead>
<tbody>${rows}</tbody></table>${days.length === 0 ? html`<p class="muted">no runs yet: <code>stageline nightly</code></p>` : ''}`);
}

/** The chunk timeline: one row per chunk, one bar per stage from its first to its last work report. */
export function timelineSvg(bars: readonly TimelineBar[]): SafeHtml {
  if (bars.length === 0) return html`<p class="muted" id="timeline-empty">no work reported yet</p>`;
  const chunks = [...new Set(bars.map((b) => b.chunk_id))];
  const t0 = Math.min(...bars.map((b) => b.start_ms));
  const t1 = Math.max(...bars.map((b) => b.end_ms), t0 + 1);
  const W = 900;
  const L = 150;
  const rowH = 16;
  const x = (t: number) => L + ((t - t0) / (t1 - t0)) * (W - L - 10);
  const rects = bars.map((b) => {
    const row = chunks.indexOf(b.chunk_id);
    const lane = STAGES.indexOf(b.stage);
    const y = 20 + row * rowH + lane * 4;
    return html`<rect class="bar" data-chunk="${b.chunk_id}" data-stage="${b.stage}" data-events="${b.events}" x="${x(b.start_ms).toFixed(1)}" y="${y}" width="${Math.max(2, x(b.end_ms) - x(b.start_ms)).toFixed(1)}" height="4" fill="${STAGE_COLORS[b.stage]}"><title>${b.chunk_id} ${b.stage}: ${n(b.messages)} messages, ${n(b.events)} events, ${((b.end_ms - b.start_ms) / 1000).toFixed(1)} s</title></rect>`;
  });
  const labels = chunks.map((c, i) => html`<text x="4" y="${20 + i * rowH + 10}" font-size="10">${c}</text>`);
  const legend = STAGES.map((s, i) => html`<rect x="${L + i * 110}" y="4" width="10" height="10" fill="${STAGE_COLORS[s]}"/><text x="${L + i * 110 + 14}" y="13" font-size="11">${s}</text>`);
  const H = 28 + chunks.length * rowH;
  return html`<svg id="timeline" data-chunks="${chunks.length}" data-bars="${bars.length}" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="chunk timeline">
${legend}${labels}${rects}<text x="${L}" y="${H - 2}" font-size="10" fill="#6b7280">${new Date(t0).toISOString()} → ${new Date(t1).toISOString()} (${duration((t1 - t0) / 1000)})</text></svg>`;
}

export function dayPage(v: DayView, label: string): SafeHtml {
  const stages = v.stages.map((s) => html`<tr data-stage="${s.stage}"><td>${s.stage}</td>
<td><progress max="${Math.max(1, s.planned)}" value="${s.done}"></progress></td>
<td class="num stage-done">${n(s.done)}</td><td class="num">${s.planned_final ? '' : '~'}${n(s.planned)}</td><td>${s.unit}</td>
<td class="num stage-events">${n(s.events)}</td><td class="num">${n(s.events_per_sec)}</td><td class="num">${s.lag === null ? '?' : n(s.lag)}</td>
<td class="num">${s.replicas ?? '?'}</td><td class="num">${n(s.dead_letters)}</td><td class="num">${n(s.stuck)}</td></tr>`);
  const stuck = v.stages.filter((s) => s.stuck > 0).map((s) => html`<li>${n(s.stuck)} ${s.stage === 'split' ? 'chunks waiting on split' : 'merchant-days waiting on summarize'} for longer than the stuck limit</li>`);
  const alarms = [
    ...v.conflicts.map((c) => html`<li>split conflict ${c.chunk_id}/${c.merchant_id}: ${c.detail}</li>`),
    ...v.errors.map((e) => html`<li>not sealed ${e.chunk_id}/${e.merchant_id}: ${e.error}</li>`),
  ];
  const merchants = v.merchants.map((m) => html`<tr data-merchant="${String(m.merchant_id)}"><td><a href="/days/${seg(v.day)}/merchants/${seg(String(m.merchant_id))}">${String(m.merchant_id)}</a></td>
<td>${String(m.time_zone)}</td><td class="num m-events">${n(Number(m.events))}</td><td class="num">${n(Number(m.orders))}</td><td class="num m-revenue">${money(Number(m.revenue_cents))}</td><td class="num">${pct(Number(m.conversion_rate))}</td></tr>`);
  const dls = v.dead_letter_rows.map((d) => html`<tr><td>${d.id}</td><td>${d.stage}</td><td>${d.topic}/${d.partition}@${d.offset}</td><td>${d.code}</td><td>${d.error.slice(0, 200)}</td></tr>`);
  const late = v.late_merchant_days.map((l) => html`<li>${l.merchant_id}: ${n(l.rows)} rows</li>`);
  const eta = v.state === 'complete' ? 'done' : v.eta_sec === null ? 'unknown' : duration(v.eta_sec);
  const body = html`<h1>Day ${v.day} <span class="state ${cls(label)}" id="day-state">${label}</span></h1>
<p class="muted">epoch ${v.epoch} · run ${v.run_id} · started ${v.started_at} · elapsed ${duration(v.elapsed_sec)} · ETA ${eta} · ${n(v.planned_rows)} rows in ${n(v.chunks.planned)} chunks (${n(v.chunks.published)} published), ${n(v.merchant_days.done)}/${n(v.merchant_days.planned)} merchant-days done</p>
${v.error ? html`<p class="hint">error: ${v.error}</p>` : ''}
${v.bottleneck ? html`<p class="hint" id="bottleneck">${v.bottleneck.message}</p>` : v.state === 'running' ? html`<p class="hint" id="bottleneck">every stage keeps up</p>` : ''}
<h2>Progress per stage</h2>
<table id="stages"><thead><tr><th>stage</th><th></th><th class="num">done</th><th class="num">planned</th><th>unit</th><th class="num">events</th><th class="num">events/s</th><th class="num">lag</th><th class="num">replicas</th><th class="num">dead letters</th><th class="num">stuck</th></tr></thead><tbody>${stages}</tbody></table>
<h2>Chunks through split, transform and summarize</h2>
${timelineSvg(v.timeline)}
<h2>Throughput per stage (events/s)</h2>
<div class="chart" id="throughput" data-chart="throughput"></div>
<h2>Stuck work</h2>
${stuck.length + alarms.length === 0 ? html`<p class="muted" id="stuck">none</p>` : html`<ul id="stuck">${stuck}${alarms}</ul>`}
<h2>Dead letters (${n(v.dead_letter_rows.length)})</h2>
${dls.length === 0 ? html`<p class="muted">none</p>` : html`<table id="dead-letters"><thead><tr><th>id</th><th>stage</th><th>origin</th><th>code</th><th>error</th></tr></thead><tbody>${dls}</tbody></table>`}
<h2>Late data</h2>
${late.length === 0 ? html`<p class="muted" id="late">none waiting</p>` : html`<ul id="late">${late}</ul><p class="muted"><code>stageline nightly --day ${v.day}</code> re-runs these merchant-days</p>`}
<h2>Merchants by events (${n(v.merchants.length)})</h2>
<table id="merchants"><thead><tr><th>merchant</th><th>zone</th><th class="num">events</th><th class="num">orders</th><th class="num">revenue</th><th class="num">conversion</th></tr></thead><tbody>${merchants}</tbody></table>
<p class="muted">JSON: <a href="/api/days/${seg(v.day)}">/api/days/${v.day}</a></p>`;
  return page(`day ${v.day}`, body, { charts: { throughput: { x: v.throughput.x, series: Object.fromEntries(STAGES.map((s) => [s, v.throughput.series[s]])), colors: STAGE_COLORS, time: true, bucket_sec: v.throughput.bucket_sec } } });
}

export function merchantPage(v: MerchantView): SafeHtml {
  const r = v.report;
  const hourly = (r?.hourly_events as number[] | undefined) ?? [];
  const hourlyRevenue = (r?.hourly_revenue_cents as number[] | undefined) ?? [];
  const facts = r
    ? html`<table id="facts"><tbody>
<tr><th>zone</th><td>${String(r.time_zone)} (${String(r.day_start)} → ${String(r.day_end)})</td></tr>
<tr><th>events</th><td class="num" id="f-events">${n(Number(r.events))}</td></tr><tr><th>visitors</th><td class="num">${n(Number(r.visitors))}</td></tr>
<tr><th>sessions</th><td class="num">${n(Number(r.sessions))}</td></tr><tr><th>orders</th><td class="num">${n(Number(r.orders))}</td></tr>
<tr><th>revenue</th><td class="num" id="f-revenue">${money(Number(r.revenue_cents))}</td></tr><tr><th>conversion</th><td class="num">${pct(Number(r.conversion_rate))}</td></tr>
<tr><th>epoch</th><td class="num">${String(r.epoch)} (computed ${String(r.computed_at)})</td></tr></tbody></table>`
    : html`<p class="muted">no summary for this merchant-day (yet)</p>`;
  const top = ((r?.top_products as Array<Record<string, unknown>> | undefined) ?? []).map((p) => html`<tr data-product="${String(p.product_id)}"><td>${String(p.product_id)}</td><td class="num">${n(Number(p.views))}</td><td class="num">${n(Number(p.units_sold))}</td><td class="num">${money(Number(p.revenue_cents))}</td></tr>`);
  const hist = v.history.map((h) => html`<tr><td><a href="/days/${seg(h.day)}/merchants/${seg(v.merchant_id)}">${h.day}</a></td><td class="num">${n(h.events)}</td><td class="num">${n(h.orders)}</td><td class="num">${money(h.revenue_cents)}</td><td class="num">${pct(h.conversion_rate)}</td></tr>`);
  const body = html`<h1>Merchant <span id="merchant-id">${v.merchant_id}</span> on <a href="/days/${seg(v.day)}">${v.day}</a></h1>
${facts}
<h2>Events and revenue by hour of the merchant's day</h2>
<div class="chart" id="hourly" data-chart="hourly"></div>
<h2>Top products</h2>
<table id="products"><thead><tr><th>product</th><th class="num">views</th><th class="num">units</th><th class="num">revenue</th></tr></thead><tbody>${top}</tbody></table>
<h2>The last 30 days: revenue and conversion</h2>
<div class="chart" id="history" data-chart="history"></div>
<table id="history-table"><thead><tr><th>day</th><th class="num">events</th><th class="num">orders</th><th class="num">revenue</th><th class="num">conversion</th></tr></thead><tbody>${hist}</tbody></table>
<p class="muted">JSON: <a href="/api/days/${seg(v.day)}/merchants/${seg(v.merchant_id)}">/api/days/${v.day}/merchants/${v.merchant_id}</a></p>`;
  return page(`${v.merchant_id} ${v.day}`, body, {
    charts: {
      hourly: { x: hourly.map((_, i) => i), series: { events: hourly, 'revenue (cents)': hourlyRevenue }, colors: { events: '#3b82f6', 'revenue (cents)': '#10b981' }, time: false, axes: { 'revenue (cents)': 'y2' } },
      history: { x: v.history.map((h) => Date.parse(`${h.day}T00:00:00Z`) / 1000), series: { 'revenue (cents)': v.history.map((h) => h.revenue_cents), 'conversion %': v.history.map((h) => h.conversion_rate * 100) }, colors: { 'revenue (cents)': '#10b981', 'conversion %': '#8b5cf6' }, time: true, axes: { 'conversion %': 'y2' }, range: [Date.parse(`${v.day}T00:00:00Z`) / 1000 - 29.5 * 86_400, Date.parse(`${v.day}T00:00:00Z`) / 1000 + 0.5 * 86_400] },
    },
  });
}

export function errorPage(status: number, message: string): SafeHtml {
  return page(String(status), html`<h1>${status}</h1><p>${message}</p>`);
}
