import { readFileSync } from 'node:fs';
import { projectPath } from '../src/paths.js';
import { StagelineError } from '../src/errors.js';

export const STAGES = ['split', 'transform', 'summarize'] as const;
export type StageName = (typeof STAGES)[number];
export type TopicKey = 'chunks' | 'batches' | 'partials' | 'dlq';

export interface Topology {
  /** visitor buckets per merchant-day in the raw row key: the unit the master cuts chunks from */
  buckets: number;
  topics: Record<TopicKey, { partitions: number }>;
  stages: Record<StageName, { input: TopicKey; output?: TopicKey }>;
}

export function loadTopology(file = projectPath('topology', 'topology.json')): Topology {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as Partial<Topology>;
  const t = raw as Topology;
  if (!Number.isInteger(t.buckets) || t.buckets < 1 || t.buckets > 65535) throw new StagelineError('CONFIG_INVALID', `topology: buckets must be 1..65535`);
  for (const key of ['chunks', 'batches', 'partials', 'dlq'] as const) {
    const p = t.topics?.[key]?.partitions;
    if (!Number.isInteger(p) || (p as number) < 1) throw new StagelineError('CONFIG_INVALID', `topology: topics.${key}.partitions must be a positive integer`);
  }
  return Object.freeze(t);
}

/** Every topic and group name carries the namespace, so environments sharing a broker never meet. */
export const topicName = (namespace: string, key: TopicKey): string => `${namespace}.${key}`;
/** One dead-letter topic per stage, so a person can tell at a glance which stage refused what. */
export const dlqTopicName = (namespace: string, stage: StageName): string => `${namespace}.${stage}.dlq`;
export const groupName = (namespace: string, stage: StageName): string => `${namespace}.${stage}`;
