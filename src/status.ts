/**
 * `stageline status`: where a run is, read from MySQL (the ledger, the per-chunk work reports in
 * chunk_work) and from Kafka (each stage group's committed offsets against the topic's end).
 *
 * readStatusInput does the I/O; buildStatus, renderStatus and renderChunks are pure, so the
 * arithmetic (progress, rates, ETA, the bottleneck hint) is unit-tested without servers. The JSON
 * form (`--json`) is the RunStatus object as built here: its field names are a contract for
 * scripts, so add fields, never rename them.
 */
import type { App } from './app.js';
import type { ChunkReport, RunProgress } from './ledger/types.js';
import { bar } from './progress-bar.js';
import { groupName, topicName } from '../topology/index.js';
import { STAGES, STAGE_MODULES, registeredStages, type StageName } from '../stages/index.js';

export type { ChunkReport };
export { bar };

export interface StageStatus {
  stage: StageName;
  /** what `done` and `planned` count */
  unit: string;
  done: number;
  planned: number;
  /** false while split has not sealed every chunk: transform's planned batches are a projection */
  planned_final: boolean;
  /** messages this stage handled (every replica, redeliveries included) */
  messages: number;
  events: number;
  events_per_sec: number;
  messages_per_sec: number;
  /** the stage's input topic and what its group has not committed yet; null when Kafka did not answer */
  input_topic: string;
  lag: number | null;
  /** live members of the stage's consumer group; null when Kafka did not answer */
  replicas: number | null;
  /** replicas that reported work for this run */
  replicas_reporting: number;
  partitions: number;
  dead_letters: number;
  /** messages of a superseded epoch this stage dropped (for the day) */
  dropped: number;
  /** work waiting longer than STAGELINE_STUCK_AFTER_SEC: unsplit chunks, unfinished merchant-days */
  stuck: number;
  handle_ms: number;
  write_ms: number;
  queued_ms: number;
}

export interface RunStatus {
  namespace: string;
  day: string;
  epoch: number;
  run_id: string;
  state: string;
  error: string | null;
  started_at: string;
  elapsed_sec: number;
  planned_rows: number;
  chunks: { planned: number; published: number; split: number };
  merchant_days: { planned: number; done: number };
  stages: StageStatus[];
  dead_letters: number;
  /** partials refused: their batch id was not in the sealed set (another split's batches) */
  refused_partials: number;
  /** split conflicts (a re-seal disagreed: the run fails) and ranges that did not seal, with why */
  conflicts: Array<{ chunk_id: string; merchant_id: string; detail: string }>;
  errors: Array<{ chunk_id: string; merchant_id: string; error: string }>;
  /** every day with late data waiting for a re-run (nightly picks up those within its lookback) */
  late_data: Array<{ day: string; merchant_days: number; rows: number }>;
  eta_sec: number | null;
  bottleneck: { stage: StageName; lag: number; replicas: number | null; message: string } | null;
  generated_at: string;
}

/** Everything buildStatus needs, as read; numbers already numbers. */
export interface StatusInput {
  namespace: string;
  now: number;
  stuckAfterSec: number;
  run: { day: string; epoch: number; run_id: string; state: string; error: string | null; started_at: number; first_publish_at: number | null; completed_at: number | null; chunks: number; merchant_days: number; planned_rows: number };
  chunks: { published: number; split: number; stuck: number };
  ledger: { sealed: number; rows: number; batches: number; rows_read: number; valid: number };
  merchantDays: { done: number; stuck: number };
  work: Partial<Record<StageName, { messages: number; events: number; replicas: number; queued_ms: number; handle_ms: number; write_ms: number; first_at: number; last_at: number }>>;
  deadLetters: Partial<Record<StageName, number>>;
  dropped?: Partial<Record<StageName, number>>;
  refusedPartials?: number;
  conflicts?: RunStatus['conflicts'];
  errors?: RunStatus['errors'];
  lateData?: RunStatus['late_data'];
  kafka: Partial<Record<StageName, { lag: number; members: number }>>;
  partitions: Record<StageName, number>;
  inputs: Record<StageName, string>;
}

const units = (stage: StageName): { unit: string; lagUnit: string } => ({ unit: STAGE_MODULES[stage].units.progress, lagUnit: STAGE_MODULES[stage].units.lag });

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

export function buildStatus(i: StatusInput): RunStatus {
  const r = i.run;
  const end = r.completed_at ?? i.now;
  const stages: StageStatus[] = STAGES.map((stage) => {
    const w = i.work[stage];
    const k = i.kafka[stage];
    // Rates over the stage's own active span (first to last reported message), so an idle tail or a late start does not dilute them.
    const span = w ? Math.max(1, (r.completed_at !== null ? w.last_at : Math.max(w.last_at, i.now)) - w.first_at) / 1000 : 0;
    let done: number;
    let planned: number;
    let plannedFinal = true;
    let stuck = 0;
    if (stage === 'split') {
      done = i.chunks.split;
      planned = r.chunks;
      stuck = i.chunks.stuck;
    } else if (stage === 'transform') {
      plannedFinal = i.ledger.rows > 0 && i.ledger.sealed >= i.ledger.rows;
      const handled = w?.messages ?? 0;
      // Batches are known only per sealed range; until split is done, project the total from the
      // batches per row read so far (transform runs ahead of the seals, so never below `done`).
      planned = plannedFinal ? i.ledger.batches : Math.max(handled, i.ledger.rows_read > 0 ? Math.round((i.ledger.batches * r.planned_rows) / i.ledger.rows_read) : 0);
      done = Math.min(handled, planned);
    } else {
      done = i.merchantDays.done;
      planned = r.merchant_days;
      stuck = i.merchantDays.stuck;
    }
    return {
      stage,
      unit: units(stage).unit,
      done,
      planned,
      planned_final: plannedFinal,
      messages: w?.messages ?? 0,
      events: w?.events ?? 0,
      events_per_sec: w ? (w.events / span) : 0,
      messages_per_sec: w ? (w.messages / span) : 0,
      input_topic: topicName(i.namespace, i.inputs[stage]),
      lag: k ? k.lag : null,
      replicas: k ? k.members : null,
      replicas_reporting: w?.replicas ?? 0,
      partitions: i.partitions[stage],
      dead_letters: i.deadLetters[stage] ?? 0,
      dropped: i.dropped?.[stage] ?? 0,
      stuck,
      handle_ms: w?.handle_ms ?? 0,
      write_ms: w?.write_ms ?? 0,
      queued_ms: w?.queued_ms ?? 0,
    };
  });
  const status: RunStatus = {
    namespace: i.namespace,
    day: r.day,
    epoch: r.epoch,
    run_id: r.run_id,
    state: r.state,
    error: r.error,
    started_at: new Date(r.started_at).toISOString(),
    elapsed_sec: Math.max(0, Math.round((end - r.started_at) / 1000)),
    planned_rows: r.planned_rows,
    chunks: { planned: r.chunks, published: i.chunks.published, split: i.chunks.split },
    merchant_days: { planned: r.merchant_days, done: i.merchantDays.done },
    stages,
    dead_letters: Object.values(i.deadLetters).reduce((a, b) => a + (b ?? 0), 0),
    refused_partials: i.refusedPartials ?? 0,
    conflicts: i.conflicts ?? [],
    errors: i.errors ?? [],
    late_data: i.lateData ?? [],
    eta_sec: eta(i, stages),
    bottleneck: r.state === 'running' ? bottleneck(stages) : null,
    generated_at: new Date(i.now).toISOString(),
  };
  return status;
}

/**
 * Seconds left, from the last stage: summarize has to receive every valid event the plan covers.
 * Until split has sealed everything the valid total is projected from the valid share seen so far.
 * Null when nothing moves yet (no rate to extrapolate from).
 */
export function eta(i: StatusInput, stages: StageStatus[]): number | null {
  if (i.run.state === 'complete') return 0;
  if (i.run.state !== 'running') return null;
  const sum = stages.find((s) => s.stage === 'summarize');
  const splitDone = i.ledger.rows > 0 && i.ledger.sealed >= i.ledger.rows;
  const validShare = i.ledger.rows_read > 0 ? i.ledger.valid / i.ledger.rows_read : 1;
  const expected = splitDone ? i.ledger.valid : i.run.planned_rows * validShare;
  if (!sum || sum.events_per_sec <= 0 || i.run.first_publish_at === null) return null;
  // The rate since the first publish, not the stage's own span: it includes the pipeline's fill time.
  const rate = sum.events / Math.max(1, (i.now - i.run.first_publish_at) / 1000);
  if (rate <= 0) return null;
  return Math.max(0, Math.round((expected - sum.events) / rate));
}

/**
 * The stage whose backlog would take longest to clear at its own pace (lag ÷ messages/s). Lag
 * alone would mislead: 50 chunks behind is far more work than 50 partials behind.
 */
export function bottleneck(stages: StageStatus[]): RunStatus['bottleneck'] {
  let worst: { s: StageStatus; backlogSec: number } | undefined;
  for (const s of stages) {
    if (s.lag === null || s.lag <= 0) continue;
    const backlogSec = s.messages_per_sec > 0 ? s.lag / s.messages_per_sec : Number.POSITIVE_INFINITY;
    if (!worst || backlogSec > worst.backlogSec) worst = { s, backlogSec };
  }
  // Under two seconds of backlog every stage keeps up: a lag that small is just work in transit.
  if (!worst || worst.backlogSec < 2) return null;
  const { s } = worst;
  const lagText = `lag ${fmt(s.lag!)} ${units(s.stage).lagUnit}`;
  let message: string;
  if (s.replicas === 0) message = `${s.stage} has no running replicas: ${lagText}; start \`stageline stage ${s.stage}\``;
  else if (s.replicas !== null && s.replicas >= s.partitions) message = `${s.stage} is the bottleneck: ${lagText} on ${s.replicas} replicas, one per partition of ${s.input_topic}; raise its partitions in topology.json before adding replicas`;
  else message = `${s.stage} is the bottleneck: ${lagText} on ${s.replicas ?? '?'} replica${s.replicas === 1 ? '' : 's'}; add replicas`;
  return { stage: s.stage, lag: s.lag!, replicas: s.replicas, message };
}

// ---------------------------------------------------------------------------------------------
// Rendering

export function duration(sec: number): string {
  const s = Math.max(0, Math.round(sec));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export function renderStatus(st: RunStatus): string {
  const lines: string[] = [];
  lines.push(`${st.namespace}  day ${st.day}  epoch ${st.epoch}  ${st.state.toUpperCase()}  elapsed ${duration(st.elapsed_sec)}  run ${st.run_id}`);
  lines.push(`  plan: ${fmt(st.planned_rows)} rows in ${fmt(st.chunks.planned)} chunks (${fmt(st.chunks.published)} published), ${fmt(st.merchant_days.planned)} merchant-days`);
  for (const s of st.stages) {
    const count = `${fmt(s.done)}/${s.planned_final ? '' : '~'}${fmt(s.planned)} ${s.unit}`;
    const lag = s.lag === null ? 'lag ?' : `lag ${fmt(s.lag)} ${units(s.stage).lagUnit}`;
    const reps = s.replicas === null ? '' : ` on ${s.replicas} replica${s.replicas === 1 ? '' : 's'}`;
    const extra = `${s.dead_letters ? `  dead letters ${s.dead_letters}` : ''}${s.stuck ? `  stuck ${s.stuck}` : ''}`;
    lines.push(`  ${s.stage.padEnd(10)} ${bar(s.done, s.planned)} ${count.padEnd(24)} ${fmt(s.events).padStart(11)} events ${fmt(s.events_per_sec).padStart(8)}/s  ${lag}${reps}${extra}`);
  }
  const stuck = st.stages.filter((s) => s.stuck > 0).map((s) => `${s.stuck} ${s.stage === 'split' ? 'chunks waiting on split' : 'merchant-days waiting on summarize'}`);
  const eta = st.state === 'complete' ? 'done' : st.eta_sec === null ? 'unknown' : duration(st.eta_sec);
  lines.push(`  dead letters ${fmt(st.dead_letters)}  stuck: ${stuck.join(', ') || 'none'}  ETA ${eta}`);
  const dropped = st.stages.filter((s) => s.dropped > 0).map((s) => `${s.stage} ${fmt(s.dropped)}`);
  if (dropped.length > 0 || st.refused_partials > 0) lines.push(`  superseded messages dropped: ${dropped.join(', ') || 'none'}; partials refused (not in a seal): ${fmt(st.refused_partials)}`);
  for (const c of st.conflicts) lines.push(`  ALARM split conflict ${c.chunk_id}/${c.merchant_id}: ${c.detail}`);
  for (const e of st.errors) lines.push(`  not sealed ${e.chunk_id}/${e.merchant_id}: ${e.error}`);
  if (st.late_data.length > 0) lines.push(`  late data waiting: ${st.late_data.map((d) => `${d.day} (${fmt(d.merchant_days)} merchant-days, ${fmt(d.rows)} rows)`).join(', ')}; \`stageline nightly\` re-runs them`);
  if (st.error) lines.push(`  error: ${st.error}`);
  if (st.bottleneck) lines.push(`  hint: ${st.bottleneck.message}`);
  else if (st.state === 'running') lines.push('  hint: every stage keeps up');
  return lines.join('\n');
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

export function renderChunks(chunks: ChunkReport[]): string {
  const head = ['chunk', 'rows', 'pub', ...STAGES.map((s) => `${s} msgs queued/handle/write`)];
  const rows = chunks.map((c) => [
    c.chunk_id,
    fmt(c.est_rows),
    String(c.publish_count),
    ...STAGES.map((s) => {
      const w = c.stages[s];
      return w ? `${fmt(w.messages)} ${secs(w.queued_ms)}/${secs(w.handle_ms)}/${secs(w.write_ms)}${w.replicas > 1 ? ` (${w.replicas} replicas)` : ''}` : '-';
    }),
  ]);
  const widths = head.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j]!.length)));
  const line = (r: string[]) => r.map((x, j) => (j < 3 ? x.padEnd(widths[j]!) : x.padEnd(widths[j]!))).join('  ').trimEnd();
  return [line(head), ...rows.map(line), '', 'times are sums over the chunk\'s messages: queued = produce → handler start; write = time with a write outstanding'].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Reading

/** The day of the most recently touched run: what `status` shows without --day. */
export const latestDay = (app: App): Promise<string | undefined> => app.ledger().runs.latestDay();

/** StatusInput from the ledger's read model (the same one the master follows) plus Kafka's view. */
export function statusInput(app: App, p: RunProgress, kafka: StatusInput['kafka'], now: number): StatusInput {
  const r = p.run;
  const stages = registeredStages(app.topology);
  return {
    namespace: app.cfg.namespace,
    now,
    stuckAfterSec: app.cfg.pipeline.stuckAfterSec,
    run: {
      day: r.day, epoch: r.epoch, run_id: r.run_id, state: r.state, error: r.error, started_at: r.started_at || now, first_publish_at: r.first_publish_at, completed_at: r.completed_at,
      chunks: r.chunks, merchant_days: r.merchant_days, planned_rows: r.planned_rows,
    },
    chunks: p.chunks,
    ledger: { rows: p.ledger.ranges, sealed: p.ledger.sealed, batches: p.ledger.batches, rows_read: p.ledger.rows_read, valid: p.ledger.valid },
    merchantDays: { done: p.merchantDays.done, stuck: p.merchantDays.stuck },
    work: p.work as StatusInput['work'],
    deadLetters: p.deadLetters as StatusInput['deadLetters'],
    dropped: p.dropped as StatusInput['deadLetters'],
    refusedPartials: p.merchantDays.refusedPartials,
    conflicts: p.conflicts,
    errors: p.errors,
    kafka,
    partitions: Object.fromEntries(stages.map((s) => [s.name, app.topology.topics[s.input]!.partitions])) as Record<StageName, number>,
    inputs: Object.fromEntries(stages.map((s) => [s.name, s.input])) as Record<StageName, string>,
  };
}

export async function readStatusInput(app: App, day: string, now = Date.now()): Promise<StatusInput | undefined> {
  const p = await app.ledger().progress.read(day, app.cfg.pipeline.stuckAfterSec);
  if (!p) return undefined;
  const late = (await app.ledger().late.days()).map((d) => ({ day: d.day, merchant_days: d.merchantDays, rows: d.rows }));
  return { ...statusInput(app, p, await readLag(app), now), lateData: late };
}

/** Per stage group: uncommitted messages on its input topic and live members. Kafka away: left out (shown as "?"). */
async function readLag(app: App): Promise<StatusInput['kafka']> {
  const out: StatusInput['kafka'] = {};
  try {
    const admin = await app.admin();
    for (const stage of STAGES) {
      const topic = topicName(app.cfg.namespace, app.topology.stages[stage]!.input);
      const group = groupName(app.cfg.namespace, stage);
      const [ends, committed, desc] = await Promise.all([admin.topicOffsets(topic), admin.groupOffsets(group, topic), admin.describeGroup(group)]);
      const at = new Map(committed.map((c) => [c.partition, Number(c.offset)]));
      let lag = 0;
      for (const e of ends) {
        const c = at.get(e.partition) ?? -1;
        // Nothing committed yet: the group starts from the beginning (fromBeginning: true).
        lag += Math.max(0, Number(e.high) - (c < 0 ? Number(e.low) : c));
      }
      out[stage] = { lag, members: desc.members.length };
    }
  } catch {
    // Lag is advisory: the MySQL half of the status is still worth showing.
  }
  return out;
}

export const readChunks = (app: App, day: string, epoch: number): Promise<ChunkReport[]> => app.ledger().progress.chunkReports(day, epoch);

/**
 * Waits until every stage group is Stable with at least `replicas` members; returns the stages
 * that were not by the deadline (never throws: it only delays the master). Starting the master
 * before then lets the first replica up take every partition and lose them to a rebalance a
 * moment later, mid-batch: work is redone and one replica does it all (issue 6, scaling test).
 */
export async function waitForReplicas(app: App, replicas: number, timeoutMs: number, pollMs = 200): Promise<StageName[]> {
  const deadline = Date.now() + timeoutMs;
  let waiting: StageName[] = [...STAGES];
  while (waiting.length > 0 && Date.now() < deadline) {
    try {
      const admin = await app.admin();
      const ready = await Promise.all(waiting.map(async (s) => {
        const g = await admin.describeGroup(groupName(app.cfg.namespace, s));
        return g.state === 'Stable' && g.members.length >= replicas;
      }));
      waiting = waiting.filter((_, k) => !ready[k]);
    } catch {
      // Kafka not answering yet: the replicas cannot join either; keep polling until the deadline.
    }
    if (waiting.length > 0) await new Promise((r) => setTimeout(r, pollMs));
  }
  return waiting;
}
