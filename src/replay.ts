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
import { groupName, topicName } from '../topology/index.js';
import { STAGES, type StageName } from '../stages/index.js';

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
  const ledger = app.ledger();
  const run = await ledger.runs.get(day);
  if (!run) throw new StagelineError('NOT_FOUND', `no run recorded for ${day}: nothing to replay (run \`stageline nightly --day ${day}\`)`);
  if (run.lock_live) throw new StagelineError('CONFLICT', `day ${day} has a live master (state ${run.state}); wait for it to finish`);
  const topic = topicName(app.cfg.namespace, app.topology.stages[fromStage]!.input);
  const partitions = await ledger.offsets.of(day, run.epoch, topic);
  if (partitions.length === 0) throw new StagelineError('NOT_FOUND', `no recorded offsets of ${topic} for ${day} epoch ${run.epoch}: the run never reached ${fromStage}`);
  const chunks = (await ledger.plan.chunks(day, run.epoch)).map((c) => c.chunk_id);
  return { day, fromEpoch: run.epoch, toEpoch: run.epoch + 1, fromStage, group: groupName(app.cfg.namespace, fromStage), topic, partitions, chunks, merchantDays: run.merchant_days };
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
  const opened = await app.ledger().runs.openReplayEpoch({
    day: p.day, fromEpoch: p.fromEpoch, toEpoch: p.toEpoch, fromStage: p.fromStage, keepSplit: STAGES.indexOf(p.fromStage) > 0, topic: p.topic,
  });
  if (!opened) throw new StagelineError('CONFLICT', `day ${p.day} changed epoch while preparing the replay; run it again`);
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
