/**
 * Prometheus metrics (prom-client). Each process owns one registry and, when cfg.metricsPort is
 * not 0, serves it on cfg.metricsHost:port (127.0.0.1 by default) at /metrics: a stage replica its runtime's numbers, the
 * master the run's progress. `nightly --with-workers` gives every child its own port
 * (childMetricsPort), since all of them run on one host.
 *
 * The runtime does not import this module: it reports through its RuntimeObserver port, and
 * stageObserver below is the prom-client implementation of that port.
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from './log.js';
import type { Progress } from './master/master.js';
import type { RuntimeObserver } from './runtime/stage-runtime.js';
import { STAGES, type StageName } from '../stages/index.js';

export function createRegistry(defaultLabels: Record<string, string>): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(defaultLabels);
  collectDefaultMetrics({ register: registry });
  return registry;
}

export interface StageMetrics extends RuntimeObserver {
  /** domain events inside the handled messages (rows scanned, visitor events, partial events) */
  events(n: number): void;
  /** a message of a superseded epoch, dropped */
  dropped(): void;
}

export function stageObserver(registry: Registry, stage: string): StageMetrics {
  const reg = [registry];
  const handled = new Counter({ name: 'stageline_stage_messages_handled_total', help: 'messages handled (not dead-lettered)', labelNames: ['stage'], registers: reg });
  const events = new Counter({ name: 'stageline_stage_events_handled_total', help: 'events inside the handled messages', labelNames: ['stage'], registers: reg });
  const latency = new Histogram({ name: 'stageline_stage_handle_seconds', help: 'handler time of one message, retries included', labelNames: ['stage'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: reg });
  const inFlight = new Gauge({ name: 'stageline_stage_inflight_messages', help: 'accepted and unfinished messages', labelNames: ['stage'], registers: reg });
  const inFlightBytes = new Gauge({ name: 'stageline_stage_inflight_bytes', help: 'bytes of the accepted and unfinished messages', labelNames: ['stage'], registers: reg });
  const paused = new Gauge({ name: 'stageline_stage_paused_partitions', help: 'partitions paused because in-flight work is at its bound', labelNames: ['stage'], registers: reg });
  const lag = new Gauge({ name: 'stageline_stage_consumer_lag', help: 'messages behind the high watermark after the last batch, per partition this replica worked', labelNames: ['stage', 'topic', 'partition'], registers: reg });
  const deadLetters = new Counter({ name: 'stageline_stage_dead_letters_total', help: 'messages sent to the dead-letter topic', labelNames: ['stage', 'code'], registers: reg });
  const retries = new Counter({ name: 'stageline_stage_retries_total', help: 'handler retries after retryable errors', labelNames: ['stage'], registers: reg });
  const concurrency = new Gauge({ name: 'stageline_stage_concurrency', help: 'current adaptive concurrency limit', labelNames: ['stage'], registers: reg });
  const dropped = new Counter({ name: 'stageline_stage_superseded_dropped_total', help: 'messages of a superseded epoch dropped without processing', labelNames: ['stage'], registers: reg });
  const s = { stage };
  // Zeros up front: a series that appears only with its first event reads as "no data" on a dashboard.
  for (const c of [handled, events, retries, dropped]) c.inc(s, 0);
  for (const g of [inFlight, inFlightBytes, paused]) g.set(s, 0);
  latency.zero(s);
  return {
    handled(_meta, ms) {
      handled.inc(s);
      latency.observe(s, ms / 1000);
    },
    deadLettered(_meta, err) { deadLetters.inc({ stage, code: err.code }); },
    retried() { retries.inc(s); },
    inFlight(n, bytes) {
      inFlight.set(s, n);
      inFlightBytes.set(s, bytes);
    },
    paused(n) { paused.set(s, n); },
    lag(topic, partition, n) { lag.set({ stage, topic, partition: String(partition) }, n); },
    concurrency(limit) { concurrency.set(s, limit); },
    events(n) { if (n > 0) events.inc(s, n); },
    dropped() { dropped.inc(s); },
  };
}

export interface MasterMetrics {
  update(p: Progress): void;
}

const RUN_STATES = ['planning', 'running', 'complete', 'failed'] as const;

export function masterObserver(registry: Registry): MasterMetrics {
  const reg = [registry];
  const chunks = new Gauge({ name: 'stageline_master_chunks', help: 'chunks of the current run by progress: planned, published, done (split)', labelNames: ['state'], registers: reg });
  const merchantDays = new Gauge({ name: 'stageline_master_merchant_days', help: 'merchant-days of the current run: planned, done', labelNames: ['state'], registers: reg });
  const events = new Gauge({ name: 'stageline_master_events_done', help: 'events in the summaries written so far', registers: reg });
  const rows = new Gauge({ name: 'stageline_master_planned_rows', help: 'raw rows the plan covers', registers: reg });
  const deadLetters = new Gauge({ name: 'stageline_master_dead_letters', help: 'dead letters since the run started', registers: reg });
  const state = new Gauge({ name: 'stageline_master_run_state', help: '1 for the run\'s current state', labelNames: ['state'], registers: reg });
  const epoch = new Gauge({ name: 'stageline_master_epoch', help: 'epoch of the run', registers: reg });
  return {
    update(p) {
      chunks.set({ state: 'planned' }, p.chunks);
      chunks.set({ state: 'published' }, p.chunksPublished);
      chunks.set({ state: 'done' }, p.chunksSplit);
      merchantDays.set({ state: 'planned' }, p.merchantDays);
      merchantDays.set({ state: 'done' }, p.merchantDaysDone);
      events.set(p.eventsDone);
      rows.set(p.plannedRows);
      deadLetters.set(p.deadLetters);
      epoch.set(p.epoch);
      for (const st of RUN_STATES) state.set({ state: st }, p.state === st ? 1 : 0);
    },
  };
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/**
 * Serves the registry on `host`, by default 127.0.0.1 only (metrics name topics and merchants'
 * volumes: nothing to expose beyond the host unless STAGELINE_METRICS_HOST says so, e.g. for a
 * Prometheus on another machine scraping stage workers). A port in use is logged, not fatal:
 * metrics must never stop a run.
 */
export async function serveMetrics(registry: Registry, port: number, log: Logger, host = '127.0.0.1'): Promise<MetricsServer | undefined> {
  if (port === 0) return undefined;
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404).end('see /metrics\n');
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', (err) => {
      log.warn({ port, err: (err as Error).message }, 'metrics server could not listen: metrics off for this process');
      resolve(false);
    });
    server.listen(port, host, () => resolve(true));
  });
  if (!ok) return undefined;
  server.unref();
  log.info({ url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/metrics` }, 'serving metrics');
  return { port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/**
 * The port of the index-th child of `nightly` (0: the master, 1..: stage replicas) when the
 * parent was given a base port; 0 (off) without one. Always passed explicitly: a child inheriting
 * STAGELINE_METRICS_PORT would otherwise bind the same port as its siblings.
 */
export function childMetricsPort(base: number, index: number): number {
  if (base === 0) return 0;
  const port = base + index;
  return port > 65535 ? 0 : port;
}

export const childMetricsArgs = (base: number, index: number): string[] => ['--metrics-port', String(childMetricsPort(base, index))];

/**
 * The master process's metrics, served when cfg.metricsPort is set: feed `update` from runMaster's
 * onProgress (it also sets the run's day, which the deadline alert needs) and `lateRowsWaiting`
 * from the late-data query (see masterRunObserver).
 */
export async function serveMasterMetrics(app: { cfg: { metricsPort: number; metricsHost: string; namespace: string }; log: Logger }): Promise<MasterMetrics & MasterRunMetrics & { close(): Promise<void> }> {
  const registry = createRegistry({ process: 'master', namespace: app.cfg.namespace });
  const m = masterObserver(registry);
  const run = masterRunObserver(registry);
  const server = await serveMetrics(registry, app.cfg.metricsPort, app.log, app.cfg.metricsHost);
  return {
    update: (p) => { m.update(p); run.update(p); },
    lateRowsWaiting: (byDay) => run.lateRowsWaiting(byDay),
    close: async () => { await server?.close(); },
  };
}

// ---------------------------------------------------------------------------------------------
// Series for the alert rules and the dashboard in deploy/ (issue 16). Kept apart from the series
// above so the rules' needs stay visible in one place: every name below is used by
// deploy/prometheus/rules/stageline.yml or deploy/grafana/stageline.json.

/** The UTC midnight that starts day D (YYYY-MM-DD), in seconds: the origin of the night's deadline. */
export function dayStartSeconds(day: string): number {
  return Date.parse(`${day}T00:00:00Z`) / 1000; // NaN for a malformed day
}

export interface MasterRunMetrics {
  /**
   * Rows stored after their merchant-day was planned and not yet run again, per day: every call
   * replaces the whole set. The master feeds it from the ledger's late-data marks of the days
   * nightly would catch up (its lookback), its own day always present (0 when it has none).
   */
  lateRowsWaiting(byDay: ReadonlyMap<string, number>): void;
}

/**
 * The master's series beyond its progress: which day it runs (the deadline alert compares the
 * clock with that day + the deadline offset) and the late data waiting for a rerun.
 */
export function masterRunObserver(registry: Registry): MasterRunMetrics & MasterMetrics {
  const reg = [registry];
  const day = new Gauge({ name: 'stageline_master_run_day_timestamp_seconds', help: 'start (UTC midnight) of the day the master runs, unix seconds; the deadline is relative to it', registers: reg });
  const late = new Gauge({ name: 'stageline_late_rows_waiting', help: 'rows stored after their merchant-day was planned, not yet run again (rerun the day)', labelNames: ['day'], registers: reg });
  return {
    update(p) {
      const s = dayStartSeconds(p.day);
      if (Number.isFinite(s)) day.set(s);
    },
    lateRowsWaiting(byDay) {
      // Replace, not merge: a day that was rerun must drop out, not linger at its last value.
      late.reset();
      for (const [d, rows] of byDay) late.set({ day: d }, rows);
    },
  };
}

export interface SupervisorMetrics {
  /** nightly spawned a master again after one died (not for the first spawn) */
  masterRespawned(): void;
  /** a stage replica exited and WorkerPool is restarting it */
  workerRestarted(stage: StageName): void;
  /** live members of a stage's consumer group, as Kafka describes the group */
  groupMembers(stage: StageName, members: number): void;
}

/**
 * `nightly`'s own series. It outlives its masters, so the re-spawn count survives the process it
 * counts (a master's own metrics restart from zero with it). `replicasPerStage` is its
 * --with-workers N: the replicas each stage group should have; 0 (workers run elsewhere) leaves
 * the expectation out and the "replicas missing" alert silent.
 */
export function supervisorObserver(registry: Registry, o: { replicasPerStage: number }): SupervisorMetrics {
  const reg = [registry];
  const respawns = new Counter({ name: 'stageline_nightly_master_respawns_total', help: 'masters spawned again after one died', registers: reg });
  const restarts = new Counter({ name: 'stageline_nightly_worker_restarts_total', help: 'stage replicas restarted after they exited', labelNames: ['stage'], registers: reg });
  const expected = new Gauge({ name: 'stageline_nightly_replicas_expected', help: 'replicas each stage group should have (nightly --with-workers)', labelNames: ['stage'], registers: reg });
  const members = new Gauge({ name: 'stageline_nightly_group_members', help: 'live members of the stage\'s consumer group', labelNames: ['stage'], registers: reg });
  // Zero up front, so increase() sees the first re-spawn (a counter born at 1 has no increase).
  respawns.inc(0);
  for (const stage of STAGES) {
    restarts.inc({ stage }, 0);
    if (o.replicasPerStage > 0) expected.set({ stage }, o.replicasPerStage);
  }
  return {
    masterRespawned() { respawns.inc(); },
    workerRestarted(stage) { restarts.inc({ stage }); },
    groupMembers(stage, n) { members.set({ stage }, n); },
  };
}

/**
 * nightly's own port when it was given a base port: the first one after its children (the master
 * at base, then workersPerStage replicas of each stage), so one base port still describes the
 * whole night. 0 (off) without a base.
 */
export function nightlyMetricsPort(base: number, workersPerStage: number): number {
  return childMetricsPort(base, 1 + STAGES.length * workersPerStage);
}

/** nightly's metrics, served on nightlyMetricsPort when cfg.metricsPort is set. */
export async function serveNightlyMetrics(app: { cfg: { metricsPort: number; metricsHost: string; namespace: string }; log: Logger }, workersPerStage: number): Promise<SupervisorMetrics & { close(): Promise<void> }> {
  const registry = createRegistry({ process: 'nightly', namespace: app.cfg.namespace });
  const m = supervisorObserver(registry, { replicasPerStage: workersPerStage });
  const server = await serveMetrics(registry, nightlyMetricsPort(app.cfg.metricsPort, workersPerStage), app.log, app.cfg.metricsHost);
  return { ...m, close: async () => { await server?.close(); } };
}
