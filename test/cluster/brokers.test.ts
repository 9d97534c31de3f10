/**
 * A night on a private 3-broker Kafka (KRaft, each node broker + controller; ports 29092–29097,
 * started by the real `stageline stack up --brokers 3`) with the shared HBase and MariaDB, while
 * one broker is killed with SIGKILL and kept down until the night is over:
 *  1. the leader of a chunks partition, while the master publishes (between two publish parts);
 *  2. the active KRaft controller, while split and transform work.
 * Each night must complete with the broker still down, report byte-identical to the clean run
 * (which matches the independent reference), dead-letter nothing, and publish every chunk task
 * once (the idempotent producer's resends after the leader died are not appended twice). The
 * broker then comes back and catches up (every partition's ISR back to three).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateLines } from '../../src/seed/generate.js';
import { kafkaNodePid, kafkaNodes, kafkaQuorumLeader, startKafkaNode, stopKafkaNode } from '../../src/stack/kafka.js';
import { decodeAs } from '../../schemas/index.js';
import { referenceReport } from '../support/reference.js';
import { diffSummaries, parseLines } from '../support/compare.js';
import { eventually, runCli, type CliResult, type TestNamespace } from '../support/harness.js';
import { chunkRows, deadLetterCount, merchantDaysDone, readTopic, runRow, stopLeftovers } from '../support/faults.js';
import { dropProvisioned, expectNight, expectOk, namespaceOn, peakRssMb, privateStack, wallClock, type PrivateStack } from '../support/cluster.js';

const DAY = '2026-11-22';
const LINES = [...generateLines({ day: DAY, events: 24_000, merchants: 10, seed: 21 })];
const INPUT = `${LINES.join('\n')}\n`;
/** Info-level worker logs (kept with STAGELINE_TEST_KEEP=1): a slow failover is read from them. */
const RUN_ENV = { STAGELINE_CHUNK_ROWS: '300', STAGELINE_LOG_LEVEL: 'info' };

const printWall = wallClock('brokers.test.ts');
let ps: PrivateStack;
let t: TestNamespace;
let cleanReport = '';
const bootNs = `brokers_boot_${process.pid}`;
const notes: string[] = [];
/** Highest sum of the nodes' peak RSS seen (MiB), and when. */
let peak = { mb: 0, when: '' };

function samplePeak(when: string): void {
  const rss = kafkaNodes(ps.stack.kafka).map((n) => { const pid = kafkaNodePid(ps.stack.kafka, n.index); return pid === undefined ? 0 : peakRssMb(pid) ?? 0; });
  const sum = rss.reduce((a, b) => a + b, 0);
  if (sum > peak.mb) peak = { mb: sum, when: `${when} (${rss.join(' + ')} MiB)` };
}

const chunksTopic = () => `${t.ns}.chunks`;

/** Every partition of the namespace's chunks and batches topics has all three replicas in sync. */
async function fullyReplicated(): Promise<boolean> {
  const admin = await t.app.admin();
  for (const topic of [chunksTopic(), `${t.ns}.batches`, `${t.ns}.partials`]) {
    const d = await admin.describeTopic(topic);
    if (!d.partitions.every((p) => p.isr.length === 3)) return false;
  }
  return true;
}

beforeAll(async () => {
  ps = privateStack('brokers', { STAGELINE_KAFKA_PORT: '29092', STAGELINE_KAFKA_BROKER_COUNT: '3' });
  const t0 = Date.now();
  const up = await runCli(['stack', 'up', '--brokers', '3', '--namespace', bootNs], { env: ps.env });
  expectOk(up, 'stack up --brokers 3');
  notes.push(`  stack up --brokers 3 (fresh data dirs, jars cached; HBase and MariaDB shared, reused): ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  expect(up.stderr).toMatch(/kafka-3\s+127\.0\.0\.1:29096\s+started/);
  const status = await runCli(['stack', 'status', '--brokers', '3'], { env: ps.env });
  expect(status.code, status.stdout + status.stderr).toBe(0);
  expect(status.stdout.match(/^kafka-\d\s+running/gm)).toHaveLength(3);
  samplePeak('after start');

  t = await namespaceOn(ps.env, 'brokers');
  const ing = await t.cli(['ingest', '-', '--json', '--rejects', '/dev/null'], { input: INPUT, env: ps.env });
  expectOk(ing, 'ingest');
  const night = await t.cli(['nightly', '--day', DAY, '--quiet', '--with-workers', '1'], { env: { ...ps.env, ...RUN_ENV } });
  expectOk(night, 'clean nightly');
  const rep = await t.cli(['report', '--day', DAY, '--json'], { env: ps.env });
  expectOk(rep, 'report');
  cleanReport = rep.stdout;
  samplePeak('after the clean night');
});

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') {
    ps?.keep();
    if (t) await stopLeftovers(t.ns);
  }
});

afterAll(async () => {
  await t?.cleanup().catch(() => undefined);
  await dropProvisioned(ps.env, bootNs);
  if (ps) {
    const down = await runCli(['stack', 'down'], { env: ps.env });
    notes.push(`  stack down: ${down.stderr.split('\n').filter((l) => l.startsWith('kafka')).join('; ')}`);
    await ps.down();
  }
  console.log(`\nbroker faults (3-node KRaft cluster, ${process.env.STAGELINE_KAFKA_HEAP_MB ?? 512} MiB heap per node)\n${notes.join('\n')}\n  peak RSS of the three nodes together: ${peak.mb} MiB, ${peak.when}`);
  printWall();
});

describe.sequential('a 3-broker cluster', () => {
  it('provisioning replicates every topic three times with min.insync.replicas 2, internal topics included', async () => {
    const admin = await t.app.admin();
    for (const topic of [chunksTopic(), `${t.ns}.batches`, `${t.ns}.partials`, `${t.ns}.split.dlq`]) {
      const d = await admin.describeTopic(topic);
      expect({ topic, rf: d.replicationFactor, minIsr: d.minInsyncReplicas }).toEqual({ topic, rf: 3, minIsr: 2 });
      expect(d.partitions.every((p) => p.replicas.length === 3 && p.isr.length === 3)).toBe(true);
    }
    // Created by the first consumer group (the clean night's stages).
    const offsets = await admin.describeTopic('__consumer_offsets');
    expect(offsets.replicationFactor).toBe(3);
  });

  it('the clean night matches the independent reference', () => {
    expect(diffSummaries(parseLines(cleanReport), referenceReport(LINES, DAY) as unknown as Array<Record<string, unknown>>)).toEqual([]);
  });

  /**
   * Kills node `index` with SIGKILL at the kill point, lets the night finish while it is down,
   * then checks the night, brings the node back and waits until it has caught up.
   */
  async function nightWithout(name: string, m: { night: Promise<CliResult>; epoch: number; at: string }, index: number): Promise<void> {
    const killedAt = Date.now();
    expect(await stopKafkaNode(ps.stack.kafka, index, 'SIGKILL')).toBe(true);
    const r = await m.night;
    const nightMs = Date.now() - killedAt;
    expect(kafkaNodePid(ps.stack.kafka, index), 'the broker stayed down for the whole night').toBeUndefined();
    expectOk(r, `nightly with ${name} down`);
    samplePeak(`with ${name} down`);
    const run = await expectNight(t, DAY, m.epoch, cleanReport, ps.env);
    expect(await deadLetterCount(t.app)).toBe(0);
    const chunks = await chunkRows(t.app, DAY, m.epoch);
    const republished = chunks.filter((c) => c.publish_count !== 1).length;
    // Every task of the epoch in the topic once: a resend after the leader died is deduplicated by the broker.
    const tasks = (await readTopic(t.app, chunksTopic(), 1_000_000, 5_000)).map((x) => decodeAs('ChunkTask', x.value!)).filter((x) => x.epoch === m.epoch);
    const copies = tasks.length - new Set(tasks.map((x) => x.chunk_id)).size;
    if (republished === 0) expect(copies).toBe(0);
    expect(new Set(tasks.map((x) => x.chunk_id)).size).toBe(chunks.length);
    const t0 = Date.now();
    await startKafkaNode(ps.stack.kafka, index, () => undefined);
    await eventually('the restarted broker back in every ISR', async () => fullyReplicated(), 180_000, 500);
    notes.push(`  ${name} (node ${index + 1}) killed at ${m.at}: night done ${(nightMs / 1000).toFixed(1)} s after the kill with it down (run ${((run.completed_ms! - run.started_ms) / 1000).toFixed(1)} s); ${copies} duplicate chunk tasks, ${republished} chunks re-published by the master; back in all ISRs ${((Date.now() - t0) / 1000).toFixed(1)} s after its restart`);
    samplePeak(`after ${name} rejoined`);
  }

  it('kill -9 of the leader of a chunks partition while the master publishes', async () => {
    const epoch = (await runRow(t.app, DAY))!.epoch + 1;
    // 150 rows per chunk: more than 100 chunks, so publishing takes two parts with a pause between.
    const night = t.cli(['nightly', '--day', DAY, '--quiet', '--with-workers', '1', '--rerun'], { env: { ...ps.env, ...RUN_ENV, STAGELINE_CHUNK_ROWS: '150', STAGELINE_FAULT_PAUSE: 'published-part:5000' } });
    const at = await eventually('some chunks published, not all', async () => {
      const cs = await chunkRows(t.app, DAY, epoch);
      const n = cs.filter((c) => c.published).length;
      return n > 0 && n < cs.length ? `${n}/${cs.length} chunks published` : false;
    }, 90_000, 25);
    const d = await (await t.app.admin()).describeTopic(chunksTopic());
    const leads = new Map<number, number>();
    for (const p of d.partitions) leads.set(p.leader, (leads.get(p.leader) ?? 0) + 1);
    const [leader] = [...leads].sort((a, b) => b[1] - a[1])[0]!;
    const index = kafkaNodes(ps.stack.kafka).find((n) => n.nodeId === leader)!.index;
    await nightWithout(`the leader of ${leads.get(leader)} chunks partitions`, { night, epoch, at }, index);
  });

  it('kill -9 of the active controller while split and transform work', async () => {
    const epoch = (await runRow(t.app, DAY))!.epoch + 1;
    const night = t.cli(['nightly', '--day', DAY, '--quiet', '--with-workers', '1', '--rerun'], { env: { ...ps.env, ...RUN_ENV } });
    const at = await eventually('split part-way, merchant-days pending', async () => {
      const r = await runRow(t.app, DAY);
      if (!r || r.epoch !== epoch || r.state !== 'running') return false;
      const cs = await chunkRows(t.app, DAY, epoch);
      const split = cs.filter((c) => c.split_done).length;
      const md = await merchantDaysDone(t.app, DAY, epoch);
      return split > 0 && split < cs.length && md.done < md.total ? `${split}/${cs.length} chunks split` : false;
    }, 90_000, 25);
    const before = kafkaQuorumLeader(ps.stack.kafka)!;
    const nightDone = nightWithout(`the active controller`, { night, epoch, at }, before.index);
    // The two surviving voters elect a new controller while the night goes on.
    const after = await eventually('a new controller elected', async () => {
      const q = kafkaQuorumLeader(ps.stack.kafka);
      return q && q.epoch > before.epoch && q.nodeId !== before.nodeId ? q : false;
    }, 60_000, 200);
    notes.push(`  controller: node ${before.nodeId} (epoch ${before.epoch}) killed, node ${after.nodeId} elected (epoch ${after.epoch})`);
    await nightDone;
  });
});
