/**
 * The import boundaries are enforced by `npm run lint` (eslint.config.js); these tests prove the
 * rules bite (a deliberate violation fails) and that the module graph has no import cycles.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../../src/paths.js';

const eslint = new ESLint({ cwd: PROJECT_ROOT });

async function restrictedImports(code: string, filePath: string): Promise<string[]> {
  const [res] = await eslint.lintText(code, { filePath: join(PROJECT_ROOT, filePath) });
  return (res?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('import boundaries (eslint)', () => {
  it.each([
    ['src/runtime/x.ts', "import { Kafka } from 'kafkajs';\nexport const k = Kafka;\n"],
    ['src/runtime/x.ts', "import { splitStage } from '../../stages/split/wiring.js';\nexport const s = splitStage;\n"],
    ['src/runtime/x.ts', "import { encode } from '../../schemas/index.js';\nexport const e = encode;\n"],
    ['src/runtime/x.ts', "import { planDay } from '../domain/plan.js';\nexport const p = planDay;\n"],
    ['src/domain/x.ts', "import { createDb } from '../adapters/mysql.js';\nexport const d = createDb;\n"],
    ['src/domain/x.ts', "import { readFileSync } from 'node:fs';\nexport const r = readFileSync;\n"],
    ['stages/split/logic.ts', "import { createMysqlLedger } from '../../src/ledger/mysql.js';\nexport const l = createMysqlLedger;\n"],
    ['stages/split/wiring.ts', "import mysql from 'mysql2/promise';\nexport const m = mysql;\n"],
    ['src/master/master.ts', "import hbase from 'hbase-rpc-client';\nexport const h = hbase;\n"],
  ])('refuses a deliberate violation in %s', async (file, code) => {
    expect((await restrictedImports(code, file)).length).toBeGreaterThan(0);
  });

  it.each([
    ['src/adapters/x.ts', "import { Kafka } from 'kafkajs';\nexport const k = Kafka;\n"],
    ['stages/split/wiring.ts', "import type { Ledger } from '../../src/ledger/types.js';\nexport type L = Ledger;\n"],
    ['src/domain/x.ts', "import { createHash } from 'node:crypto';\nexport const h = createHash;\n"],
  ])('allows what the layer may use in %s', async (file, code) => {
    expect(await restrictedImports(code, file)).toEqual([]);
  });
});

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Relative imports of a file (type-only ones included: a cycle of types is still a tangle). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gms)) out.push(resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts')));
  return out;
}

describe('module graph', () => {
  it('has no import cycles in src, stages, schemas and topology', () => {
    const files = ['src', 'stages', 'schemas', 'topology'].flatMap((d) => tsFiles(join(PROJECT_ROOT, d)));
    const graph = new Map(files.map((f) => [f, importsOf(f).filter((t) => files.includes(t))]));
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (f: string): void => {
      state.set(f, 'open');
      stack.push(f);
      for (const t of graph.get(f) ?? []) {
        if (state.get(t) === 'open') cycles.push([...stack.slice(stack.indexOf(t)), t].map((x) => relative(PROJECT_ROOT, x)).join(' → '));
        else if (!state.has(t)) visit(t);
      }
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of files) if (!state.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });
});
