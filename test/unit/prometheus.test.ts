import { get } from 'node:http';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { childMetricsArgs, childMetricsPort, createRegistry, masterObserver, serveMetrics, stageObserver } from '../../src/prometheus.js';
import { StagelineError } from '../../src/errors.js';

const meta = { topic: 'ns.batches', partition: 2, offset: '7', key: null, value: null };

describe('metrics', () => {
  it('exposes the stage runtime\'s numbers, zeroed before the first message', async () => {
    const reg = createRegistry({ namespace: 'ns' });
    const m = stageObserver(reg, 'transform');
    expect(await reg.metrics()).toContain('stageline_stage_messages_handled_total{stage="transform",namespace="ns"} 0');
    m.handled!(meta, 250);
    m.events(200);
    m.retried!(meta);
    m.deadLettered!(meta, new StagelineError('DECODE_FAILED', 'x'));
    m.inFlight!(3, 4096);
    m.paused!(2);
    m.lag!('ns.batches', 2, 41);
    m.concurrency!(6, undefined);
    const text = await reg.metrics();
    for (const line of [
      'stageline_stage_messages_handled_total{stage="transform",namespace="ns"} 1',
      'stageline_stage_events_handled_total{stage="transform",namespace="ns"} 200',
      'stageline_stage_retries_total{stage="transform",namespace="ns"} 1',
      'stageline_stage_dead_letters_total{stage="transform",code="DECODE_FAILED",namespace="ns"} 1',
      'stageline_stage_inflight_messages{stage="transform",namespace="ns"} 3',
      'stageline_stage_inflight_bytes{stage="transform",namespace="ns"} 4096',
      'stageline_stage_paused_partitions{stage="transform",namespace="ns"} 2',
      'stageline_stage_consumer_lag{stage="transform",topic="ns.batches",partition="2",namespace="ns"} 41',
      'stageline_stage_concurrency{stage="transform",namespace="ns"} 6',
      'stageline_stage_handle_seconds_bucket{le="0.25",namespace="ns",stage="transform"} 1',
    ]) expect(text).toContain(line);
  });

  it('exposes the master\'s progress', async () => {
    const reg = createRegistry({});
    masterObserver(reg).update({ day: '2026-11-27', epoch: 2, state: 'running', chunks: 10, chunksPublished: 10, chunksSplit: 4, merchantDays: 50, merchantDaysDone: 7, plannedRows: 1000, eventsDone: 300, deadLetters: 1, elapsedMs: 5 });
    const text = await reg.metrics();
    for (const line of ['stageline_master_chunks{state="planned"} 10', 'stageline_master_chunks{state="published"} 10', 'stageline_master_chunks{state="done"} 4', 'stageline_master_merchant_days{state="done"} 7', 'stageline_master_run_state{state="running"} 1', 'stageline_master_run_state{state="complete"} 0']) expect(text).toContain(line);
  });

  it('serves /metrics on 127.0.0.1 and shrugs off a port in use', async () => {
    const reg = createRegistry({});
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const server = await serveMetrics(reg, port, silentLogger);
    expect(server).toBeDefined();
    const body = await new Promise<string>((resolve, reject) => get(`http://127.0.0.1:${port}/metrics`, (res) => { let b = ''; res.on('data', (d: Buffer) => { b += d.toString(); }); res.on('end', () => resolve(b)); }).on('error', reject));
    expect(body).toContain('process_cpu_user_seconds_total');
    expect(await serveMetrics(reg, port, silentLogger)).toBeUndefined();
    await server!.close();
    expect(await serveMetrics(reg, 0, silentLogger)).toBeUndefined();
  });

  it('gives nightly\'s children distinct ports, and explicitly none without a base', () => {
    expect([0, 1, 2, 3].map((i) => childMetricsPort(9400, i))).toEqual([9400, 9401, 9402, 9403]);
    expect(childMetricsArgs(0, 5)).toEqual(['--metrics-port', '0']);
    expect(childMetricsPort(65535, 1)).toBe(0);
  });
});
