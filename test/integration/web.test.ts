/**
 * The web page in a real browser: Debian's headless Chromium (/usr/bin/chromium) driven by
 * playwright-core, over `stageline web` on a real night. One day is complete; the next one is
 * really running (its master planned and published, no worker runs, so split has not started).
 * The test checks what is drawn against the ledger and `report --json` / `status --json`, that a
 * hostile product id shows as text, and that no page logs a console error. Screenshots for a
 * person: test-output/web/*.png (git-ignored).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { generateLines } from '../../src/seed/generate.js';
import { projectPath } from '../../src/paths.js';
import { parseLines } from '../support/compare.js';
import { createTestNamespace, eventually, type TestNamespace } from '../support/harness.js';

const COMPLETE = '2026-11-20';
const RUNNING = '2026-11-21';
const HOSTILE = `<script>window.__xss=1</script>&"'<b>p`;
const SHOTS = projectPath('test-output', 'web');
const CHROMIUM = '/usr/bin/chromium';

function hostileLines(day: string): string[] {
  const ts = Date.parse(`${day}T12:00:00Z`);
  return [
    { event_id: 'h1', merchant_id: 'hostile-shop', visitor_id: 'v1', type: 'product_view', ts, product_id: HOSTILE, price_cents: 500 },
    { event_id: 'h2', merchant_id: 'hostile-shop', visitor_id: 'v1', type: 'purchase', ts: ts + 1000, order_id: 'o1', order_total_cents: 500, items: [{ product_id: HOSTILE, quantity: 1, price_cents: 500 }] },
  ].map((e) => JSON.stringify(e));
}

/** A CLI process we stop ourselves (its own process group, so its children go with it). */
function start(t: TestNamespace, args: string[]): ChildProcess {
  return spawn(process.execPath, [projectPath('bin', 'stageline.js'), ...args, '--namespace', t.ns], {
    env: { ...process.env, STAGELINE_LOG_FORMAT: 'json', STAGELINE_LOG_LEVEL: 'warn', STAGELINE_CHUNK_ROWS: '1000' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  });
}
const stop = (p: ChildProcess | undefined) => { if (p?.pid !== undefined && p.exitCode === null) process.kill(-p.pid, 'SIGTERM'); };

describe('stageline web in headless Chromium', () => {
  let t: TestNamespace;
  let night: ChildProcess | undefined;
  let web: ChildProcess | undefined;
  let url = '';
  let browser: Browser;
  const problems: string[] = [];

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    t = await createTestNamespace('web');
    const a = [...generateLines({ day: COMPLETE, events: 6000, merchants: 5, seed: 11 }), ...hostileLines(COMPLETE)].join('\n') + '\n';
    const b = generateLines({ day: RUNNING, events: 6000, merchants: 5, seed: 12 });
    expect((await t.cli(['ingest', '-', '--rejects', '/dev/null'], { input: a })).code).toBe(0);
    expect((await t.cli(['ingest', '-', '--rejects', '/dev/null'], { input: [...b].join('\n') + '\n' })).code).toBe(0);
    // Small chunks, so the timeline has several rows to compare.
    const done = await t.cli(['nightly', '--day', COMPLETE, '--with-workers', '1', '--quiet', '--allow-small-day'], { env: { STAGELINE_CHUNK_ROWS: '1000' } });
    expect(done.code, done.stderr).toBe(0);
    // The running day: a master with no workers plans and publishes, then waits for split.
    night = start(t, ['nightly', '--day', RUNNING, '--with-workers', '0', '--quiet', '--allow-small-day']);
    await eventually('the second day to be running with every chunk published', async () => {
      const p = await t.app.ledger().progress.read(RUNNING, 600);
      return p?.run.state === 'running' && p.run.chunks > 0 && p.chunks.published === p.run.chunks;
    }, 60_000);
    web = start(t, ['web', '--port', '0']);
    url = await new Promise<string>((resolve, reject) => {
      let text = '';
      web!.stdout!.on('data', (d: Buffer) => { text += d.toString(); const m = /http:\/\/\S+/.exec(text); if (m) resolve(m[0]); });
      web!.on('exit', (code) => reject(new Error(`stageline web exited ${code}`)));
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    stop(web);
    stop(night);
    await t?.cleanup();
  });

  async function open(path: string, shot: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`${path}: console ${m.text()}`); });
    page.on('pageerror', (e) => problems.push(`${path}: ${e.message}`));
    const res = await page.goto(`${url}${path.replace(/^\//, '')}`, { waitUntil: 'load' });
    expect(res?.status(), path).toBeLessThan(400);
    // Charts are drawn by the page's script after load: wait for it to mark every chart.
    await page.waitForFunction("[...document.querySelectorAll('[data-chart]')].every((d) => d.hasAttribute('data-points'))");
    await page.screenshot({ path: `${SHOTS}/${shot}.png`, fullPage: true });
    return page;
  }

  const cliJson = async (args: string[]) => parseLines((await t.cli(args)).stdout);

  it('lists both days with their states', async () => {
    const page = await open('/', 'days');
    expect(await page.locator(`tr[data-day="${COMPLETE}"] .state`).textContent()).toBe('complete');
    expect(await page.locator(`tr[data-day="${RUNNING}"] .state`).textContent()).toBe('running');
    const api = await (await fetch(`${url}api/days`)).json() as Array<{ day: string; label: string }>;
    expect(api.map((d) => [d.day, d.label])).toEqual([[RUNNING, 'running'], [COMPLETE, 'complete']]);
    await page.close();
  });

  it('a complete day: stage counts, chunk timeline and throughput agree with the ledger', async () => {
    const [status] = await cliJson(['status', '--day', COMPLETE, '--json']) as Array<{ epoch: number; state: string; stages: Array<{ stage: string; done: number; planned: number }> }>;
    const chunks = await t.app.ledger().progress.chunkReports(COMPLETE, status!.epoch);
    const page = await open(`/days/${COMPLETE}`, 'day-complete');
    expect(await page.locator('#day-state').textContent()).toBe('complete');
    for (const s of status!.stages) expect(await page.locator(`tr[data-stage="${s.stage}"] .stage-done`).textContent(), s.stage).toBe(s.done.toLocaleString('en-US'));
    expect(chunks.length).toBeGreaterThan(1);
    const bars = chunks.reduce((a, c) => a + Object.keys(c.stages).length, 0);
    expect(chunks.every((c) => c.stages.split !== undefined)).toBe(true); // a chunk without valid events has no transform or summarize work
    expect(await page.locator('#timeline rect.bar').count()).toBe(bars);
    expect(await page.locator('#timeline').getAttribute('data-chunks')).toBe(String(chunks.length));
    for (const stage of ['split', 'transform', 'summarize']) {
      const events = chunks.reduce((a, c) => a + (c.stages[stage]?.events ?? 0), 0);
      const drawn = (await page.locator(`#timeline rect.bar[data-stage="${stage}"]`).evaluateAll((rs) => rs.map((r) => Number(r.getAttribute('data-events'))))).reduce((a, b) => a + b, 0);
      expect(drawn, stage).toBe(events);
    }
    // The throughput chart: uPlot drew a canvas; rate × bucket length sums back to each stage's events.
    expect(await page.locator('#throughput canvas').count()).toBeGreaterThan(0);
    const api = await (await fetch(`${url}api/days/${COMPLETE}`)).json() as { state: string; epoch: number; stages: Array<{ stage: string; done: number; planned: number }>; merchants: Array<{ merchant_id: string; events: number }> };
    expect({ state: api.state, epoch: api.epoch, stages: api.stages.map((s) => [s.stage, s.done, s.planned]) }).toEqual({ state: status!.state, epoch: status!.epoch, stages: status!.stages.map((s) => [s.stage, s.done, s.planned]) });
    const sums = JSON.parse((await page.locator('#throughput').getAttribute('data-sums'))!) as number[];
    const series = (await page.locator('#throughput').getAttribute('data-series'))!.split(',');
    const island = JSON.parse((await page.locator('#page-data').textContent())!) as { charts: { throughput: { bucket_sec: number } } };
    series.forEach((stage, i) => expect(Math.round(sums[i]! * island.charts.throughput.bucket_sec), stage).toBe(chunks.reduce((a, c) => a + (c.stages[stage]?.events ?? 0), 0)));
    // Merchants by events: the rows are report --json's, most events first.
    const report = await cliJson(['report', '--day', COMPLETE, '--json']);
    const listed = await page.locator('#merchants tbody tr').evaluateAll((rs) => rs.map((r) => [r.getAttribute('data-merchant'), Number(r.querySelector('.m-events')!.textContent!.replace(/,/g, ''))]));
    expect(listed).toEqual([...report].sort((x, y) => (y.events as number) - (x.events as number) || (String(x.merchant_id) < String(y.merchant_id) ? -1 : 1)).map((r) => [r.merchant_id, r.events]));
    expect(await page.locator('#bottleneck').count()).toBe(0);
    await page.close();
  });

  it('a merchant: the hostile product id is text, hourly and 30-day charts hold the report\'s numbers', async () => {
    const [report] = await cliJson(['report', '--day', COMPLETE, '--merchant', 'hostile-shop', '--json']);
    const page = await open(`/days/${COMPLETE}/merchants/hostile-shop`, 'merchant');
    expect(await page.evaluate('typeof window.__xss')).toBe('undefined');
    expect(await page.locator('#products tbody tr td').first().textContent()).toBe(HOSTILE);
    expect(await page.locator('#products b').count()).toBe(0);
    const hourly = report!.hourly_events as number[];
    expect(await page.locator('#hourly').getAttribute('data-points')).toBe(String(hourly.length));
    expect(JSON.parse((await page.locator('#hourly').getAttribute('data-sums'))!)).toEqual([hourly.reduce((a, b) => a + b, 0), (report!.hourly_revenue_cents as number[]).reduce((a, b) => a + b, 0)]);
    expect(await page.locator('#history').getAttribute('data-points')).toBe('1'); // the only day with a summary in its 30
    expect(await page.locator('#hourly canvas').count()).toBeGreaterThan(0);
    const api = await (await fetch(`${url}api/days/${COMPLETE}/merchants/hostile-shop`)).json() as { report: unknown };
    expect(api.report).toEqual(report);
    await page.close();
  });

  it('a running day: split not started, no bars yet, the hint names the missing replicas', async () => {
    const [status] = await cliJson(['status', '--day', RUNNING, '--json']) as Array<{ epoch: number; state: string; chunks: { planned: number }; stages: Array<{ stage: string; done: number; planned: number }> }>;
    expect(status!.state).toBe('running');
    const page = await open(`/days/${RUNNING}`, 'day-running');
    expect(await page.locator('#day-state').textContent()).toBe('running');
    expect(await page.locator('tr[data-stage="split"] .stage-done').textContent()).toBe('0');
    expect(await page.locator('tr[data-stage="split"] progress').getAttribute('max')).toBe(String(status!.chunks.planned));
    const reported = (await t.app.ledger().progress.chunkReports(RUNNING, status!.epoch)).reduce((a, c) => a + Object.keys(c.stages).length, 0);
    expect(reported).toBe(0);
    expect(await page.locator('#timeline-empty').count()).toBe(1);
    expect(await page.locator('#bottleneck').textContent()).toMatch(/split (has no running replicas|is the bottleneck)/);
    await page.close();
  });

  it('logged no console errors on any page', () => {
    expect(problems).toEqual([]);
  });
});
