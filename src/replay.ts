/**
 * `stageline replay --day D [--from-stage S] [--dry-run]`: reprocess a day from a stage on by
 * resetting that stage's consumer group to the first offsets the day's messages occupied.
 *
 * Choice (documented in the README): we reset the stage's own consumer group, which Kafka allows
 * only while the group has no live members, so replay names the running members and refuses until
 * they are stopped. Only the from-stage's group is reset: the stages after it see the new messages
 * that reprocessing produces, so resetting them too would only add duplicates.
 *
 * Replay starts a new epoch of the day: the plan is copied (chunks keep their ids and are not
 * re-published), and checkpoints from the from-stage on start empty, so nothing is skipped as
 * "already done". Checkpoints of the stages before it are copied: summarize-only replay keeps
 * split's ledger (rows, batches) and re-reads the partials from Kafka.
 */
import type { App } from './app.js';
import { StagelineError } from './errors.js';
import { STAGES, groupName, topicName, type StageName } from '../topology/index.js';

export interface ReplayPlan {
  day: string;
  fromEpoch: number;
  toEpoch: number;
  fromStage: StageName;
  group: string;
  topic: string;
  partitions: Array<{ partition: number; first: string; last: string }>;
  chunks: string[];
  merchantDays: number;
}

export async function planReplay(app: App, day: string, fromStage: StageName): Promise<ReplayPlan> {
  const db = app.db();
  const [run] = await db.query<{ epoch: number; state: string; live: number }>('SELECT epoch, state, (lock_owner IS NOT NULL AND lock_expires_at > NOW(3)) AS live FROM runs WHERE day = ?', [day]);
  if (!run) throw new StagelineError('NOT_FOUND', `no run recorded for ${day}: nothing to replay (run \`stageline nightly --day ${day}\`)`);
  if (Number(run.live) === 1) throw new StagelineError('CONFLICT', `day ${day} has a live master (state ${run.state}); wait for it to finish`);
  const topicKey = app.topology.stages[fromStage].input;
  const topic = topicName(app.cfg.namespace, topicKey);
  const offsets = await db.query<{ kafka_partition: number; first_offset: string | number; last_offset: string | number }>(
    'SELECT kafka_partition, first_offset, last_offset FROM run_offsets WHERE day = ? AND epoch = ? AND topic = ? ORDER BY kafka_partition', [day, run.epoch, topic]);
  if (offsets.length === 0) throw new StagelineError('NOT_FOUND', `no recorded offsets of ${topic} for ${day} epoch ${run.epoch}: the run never reached ${fromStage}`);
  const chunks = (await db.query<{ chunk_id: string }>('SELECT chunk_id FROM run_chunks WHERE day = ? AND epoch = ? ORDER BY seq', [day, run.epoch])).map((c) => c.chunk_id);
  const [md] = await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM merchant_days WHERE day = ? AND epoch = ?', [day, run.epoch]);
  return {
    day, fromEpoch: run.epoch, toEpoch: run.epoch + 1, fromStage, group: groupName(app.cfg.namespace, fromStage), topic,
    partitions: offsets.map((o) => ({ partition: Number(o.kafka_partition), first: String(o.first_offset), last: String(o.last_offset) })),
    chunks, merchantDays: Number(md?.n ?? 0),
  };
}

/** Refuses while the group has live members, naming them. */
export async function assertGroupIdle(app: App, group: string): Promise<void> {
  const admin = await app.admin();
  const g = await admin.describeGroup(group);
  if (g.members.length > 0) {
    throw new StagelineError('CONFLICT', `consumer group ${group} has ${g.members.length} live member(s): ${g.members.map((m) => `${m.clientId}@${m.host}`).join(', ')}. Stop those workers, then replay again (Kafka resets offsets only for a group without members).`);
  }
}

/** Copies the plan into the new epoch and opens it; one transaction, so a crash leaves either epoch whole. */
export async function startReplayEpoch(app: App, p: ReplayPlan): Promise<void> {
  const fromIdx = STAGES.indexOf(p.fromStage);
  const keepSplit = fromIdx > 0;
  await app.db().tx(async (q) => {
    const [run] = await q.query<{ epoch: number }>('SELECT epoch FROM runs WHERE day = ? FOR UPDATE', [p.day]);
    if (!run || run.epoch !== p.fromEpoch) throw new StagelineError('CONFLICT', `day ${p.day} changed epoch while preparing the replay; run it again`);
    await q.execute(
      `INSERT IGNORE INTO run_chunks (day, epoch, chunk_id, seq, ranges, est_rows, publish_count, published_at, split_done_at, split_runs)
       SELECT day, ?, chunk_id, seq, ranges, est_rows, publish_count, COALESCE(published_at, NOW(3)), ${keepSplit ? 'split_done_at' : 'NULL'}, 0 FROM run_chunks WHERE day = ? AND epoch = ?`,
      [p.toEpoch, p.day, p.fromEpoch]);
    await q.execute(
      `INSERT IGNORE INTO chunk_ledger (day, epoch, chunk_id, merchant_id, bucket_lo, bucket_hi, rows_read, valid, invalid, batches, sealed_at)
       SELECT day, ?, chunk_id, merchant_id, bucket_lo, bucket_hi, ${keepSplit ? 'rows_read, valid, invalid, batches, sealed_at' : 'NULL, NULL, NULL, NULL, NULL'} FROM chunk_ledger WHERE day = ? AND epoch = ?`,
      [p.toEpoch, p.day, p.fromEpoch]);
    await q.execute(
      `INSERT IGNORE INTO merchant_days (day, epoch, merchant_id, chunks, est_rows) SELECT day, ?, merchant_id, chunks, est_rows FROM merchant_days WHERE day = ? AND epoch = ?`,
      [p.toEpoch, p.day, p.fromEpoch]);
    // The new epoch's offset ranges start as the old ones for the stages it does not redo.
    await q.execute(
      `INSERT IGNORE INTO run_offsets (day, epoch, topic, kafka_partition, first_offset, last_offset) SELECT day, ?, topic, kafka_partition, first_offset, last_offset FROM run_offsets WHERE day = ? AND epoch = ? AND topic = ?`,
      [p.toEpoch, p.day, p.fromEpoch, p.topic]);
    await q.execute(
      "UPDATE runs SET epoch = ?, state = 'running', from_stage = ?, error = NULL, completed_at = NULL, started_at = NOW(3), first_publish_at = NOW(3), lock_owner = NULL, lock_expires_at = NULL WHERE day = ?",
      [p.toEpoch, p.fromStage, p.day]);
  });
}

export async function resetOffsets(app: App, p: ReplayPlan): Promise<void> {
  const admin = await app.admin();
  await admin.resetGroupOffsets(p.group, p.topic, p.partitions.map((x) => ({ partition: x.partition, offset: x.first })));
}

export function describeReplay(p: ReplayPlan): string {
  return [
    `replay ${p.day} from ${p.fromStage}: epoch ${p.fromEpoch} → ${p.toEpoch}`,
    `  reset group ${p.group} on ${p.topic}:`,
    ...p.partitions.map((x) => `    partition ${x.partition}: offsets ${x.first}..${x.last} (reset to ${x.first})`),
    `  chunks (${p.chunks.length}): ${p.chunks.length > 8 ? `${p.chunks.slice(0, 8).join(', ')}, …` : p.chunks.join(', ')}`,
    `  merchant-days to summarize again: ${p.merchantDays}`,
  ].join('\n');
}
