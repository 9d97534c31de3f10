/**
 * The stage graph as deployed: visitor buckets, topics with their partition counts, and each
 * stage's input and output topics. Loaded and checked here for shape; the stage registry
 * (stages/index.ts) checks it against the stages' code, so the file stays true.
 */
import { readFileSync } from 'node:fs';
import { projectPath } from '../src/paths.js';
import { StagelineError } from '../src/errors.js';

export interface StageEdges {
  input: string;
  outputs: string[];
}

export interface Topology {
  /** visitor buckets per merchant-day in the raw row key: the unit the master cuts chunks from */
  buckets: number;
  topics: Record<string, { partitions: number }>;
  /** partitions of every stage's dead-letter topic */
  dlq: { partitions: number };
  /** in pipeline order */
  stages: Record<string, StageEdges>;
}

const invalid = (file: string, msg: string) => new StagelineError('CONFIG_INVALID', `topology ${file}: ${msg}`);
const positiveInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1;

export function parseTopology(raw: unknown, file = '(inline)'): Topology {
  const t = raw as Partial<Topology>;
  if (!Number.isInteger(t.buckets) || (t.buckets as number) < 1 || (t.buckets as number) > 65535) throw invalid(file, 'buckets must be 1..65535');
  if (!t.topics || typeof t.topics !== 'object' || Object.keys(t.topics).length === 0) throw invalid(file, 'topics must name at least one topic');
  for (const [key, spec] of Object.entries(t.topics)) if (!positiveInt(spec?.partitions)) throw invalid(file, `topics.${key}.partitions must be a positive integer`);
  if (!positiveInt(t.dlq?.partitions)) throw invalid(file, 'dlq.partitions must be a positive integer');
  if (!t.stages || typeof t.stages !== 'object' || Object.keys(t.stages).length === 0) throw invalid(file, 'stages must name at least one stage');
  for (const [name, s] of Object.entries(t.stages)) {
    if (typeof s?.input !== 'string' || !(s.input in t.topics)) throw invalid(file, `stages.${name}.input must be one of the topics (${Object.keys(t.topics).join(', ')})`);
    if (!Array.isArray(s.outputs) || s.outputs.some((o) => typeof o !== 'string' || !(o in t.topics!))) throw invalid(file, `stages.${name}.outputs must list topics of the topology`);
  }
  return Object.freeze(t as Topology);
}

export function loadTopology(file = projectPath('topology', 'topology.json')): Topology {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw invalid(file, `cannot read: ${(err as Error).message}`);
  }
  return parseTopology(raw, file);
}

/** Every topic and group name carries the namespace, so environments sharing a broker never meet. */
export const topicName = (namespace: string, key: string): string => `${namespace}.${key}`;
/** One dead-letter topic per stage, so a person can tell at a glance which stage refused what. */
export const dlqTopicName = (namespace: string, stage: string): string => `${namespace}.${stage}.dlq`;
export const groupName = (namespace: string, stage: string): string => `${namespace}.${stage}`;
