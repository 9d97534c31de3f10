/**
 * The stage registry: every stage the pipeline runs, in pipeline order. Adding a stage is a
 * folder under stages/ (logic.ts, wiring.ts), one line here, and its edges in topology.json.
 * `registeredStages` checks the topology against the code: the same stages in the same order,
 * and each stage's outputs exactly the topics its code produces to.
 */
import { StagelineError } from '../src/errors.js';
import type { Topology } from '../topology/index.js';
import type { StageModule } from './stage.js';
import { splitStage } from './split/wiring.js';
import { transformStage } from './transform/wiring.js';
import { summarizeStage } from './summarize/wiring.js';

export const STAGE_MODULES = {
  split: splitStage as StageModule<unknown>,
  transform: transformStage as StageModule<unknown>,
  summarize: summarizeStage as StageModule<unknown>,
} as const;

export type StageName = keyof typeof STAGE_MODULES;
export const STAGES = Object.keys(STAGE_MODULES) as StageName[];

export const isStageName = (s: string): s is StageName => Object.hasOwn(STAGE_MODULES, s);

export interface RegisteredStage {
  name: StageName;
  module: StageModule<unknown>;
  input: string;
  outputs: readonly string[];
  units: StageModule<unknown>['units'];
}

export function registeredStages(topology: Topology): RegisteredStage[] {
  const declared = Object.keys(topology.stages);
  if (declared.join(',') !== STAGES.join(',')) {
    throw new StagelineError('CONFIG_INVALID', `topology stages (${declared.join(', ')}) must be the registered stages in pipeline order (${STAGES.join(', ')})`);
  }
  return STAGES.map((name) => {
    const module = STAGE_MODULES[name];
    const edges = topology.stages[name]!;
    const want = [...module.produces].sort().join(',');
    const got = [...edges.outputs].sort().join(',');
    if (want !== got) throw new StagelineError('CONFIG_INVALID', `topology: stage ${name} produces to [${want}] but topology.json says outputs [${got}]`);
    return { name, module, input: edges.input, outputs: edges.outputs, units: module.units };
  });
}

export function stageOf(topology: Topology, name: StageName): RegisteredStage {
  return registeredStages(topology).find((s) => s.name === name)!;
}
