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
import { STAGES, isStageName, type StageName } from '../stages/index.js';
import type { EpochMeta } from './ledger/types.js';

export interface ReplayPlan {
  day: string;
  fromEpoch: number;
  toEpoch: number;
  fromStage: StageName;
  /** the epoch the messages on the from-stage's input topic carry */
  sourceEpoch: number;
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
  const gone = pastRetention(partitions, await (await app.admin()).topicOffsets(topic));
  if (gone.length > 0) {
    throw new StagelineError('CONFLICT', `the messages of ${day} on ${topic} are past Kafka's retention (${gone.map((g) => `partition ${g.partition}: first offset ${g.first}, earliest kept ${g.low}`).join('; ')}): they cannot be replayed. Recompute the day from its raw rows instead: \`stageline nightly --day ${day} --rerun\``);
  }
  const chunks = (await ledger.plan.chunks(day, run.epoch)).map((c) => c.chunk_id);
  const sourceEpoch = await sourceEpochOf(fromStage, run.epoch, (e) => ledger.plan.meta(day, e));
  return { day, fromEpoch: run.epoch, toEpoch: run.epoch + 1, fromStage, sourceEpoch, group: groupName(app.cfg.namespace, fromStage), topic, partitions, chunks, merchantDays: run.merchant_days };
}

/**
 * The partitions whose recorded first offset Kafka no longer holds (retention deleted the segment
 * it was in): resetting there would silently start at a later offset and lose messages. Pure.
 */
export function pastRetention(recorded: ReadonlyArray<{ partition: number; first: string }>, kept: ReadonlyArray<{ partition: number; low: string }>): Array<{ partition: number; first: string; low: string }> {
  const low = new Map(kept.map((k) => [k.partition, k.low]));
  return recorded.flatMap((r) => {
    const l = low.get(r.partition);
    if (l === undefined) return [{ partition: r.partition, first: r.first, low: 'none (partition missing)' }];
    return BigInt(r.first) < BigInt(l) ? [{ partition: r.partition, first: r.first, low: l }] : [];
  });
}

/**
 * Which epoch the messages on `stage`'s input topic carry in epoch `epoch`. A full epoch produced
 * them all. A replay from stage R produced (re-tagged) only the outputs of R and the stages after
 * it: a stage at or before R reads what the epoch before it read.
 */
export async function sourceEpochOf(stage: StageName, epoch: number, meta: (epoch: number) => Promise<EpochMeta | undefined>): Promise<number> {
  for (let e = epoch; e > 1; e--) {
    const m = await meta(e);
    if (m?.kind !== 'replay' || m.fromStage === undefined || !isStageName(m.fromStage)) return e;
    if (STAGES.indexOf(stage) > STAGES.indexOf(m.fromStage)) return e;
    if (stage === m.fromStage && m.sourceEpoch !== undefined) return m.sourceEpoch;
  }
  return 1;
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
    day: p.day, fromEpoch: p.fromEpoch, toEpoch: p.toEpoch, fromStage: p.fromStage, keepSplit: STAGES.indexOf(p.fromStage) > 0, topic: p.topic, sourceEpoch: p.sourceEpoch,
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
    `  ${p.fromStage} takes the epoch-${p.sourceEpoch} messages on ${p.topic} as epoch ${p.toEpoch}'s; older messages elsewhere are dropped`,
  ].join('\n');
}
