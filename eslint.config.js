import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Client libraries of the outside systems: only src/adapters may import them. */
const CLIENTS = ['kafkajs', 'kafkajs/*', 'mysql2', 'mysql2/*', 'hbase-rpc-client', 'hbase-rpc-client/*'];
const clientsOnlyInAdapters = { group: CLIENTS, message: 'Only src/adapters talks to Kafka, MySQL and HBase clients: use a port (src/adapters/ports.ts, src/ledger).' };
/** What pure code (the domain, each stage's logic.ts) must not reach: I/O, processes, logging, wiring. */
const IO = ['node:fs', 'node:fs/*', 'node:net', 'node:http', 'node:child_process', 'node:os', 'pino', 'prom-client', '**/adapters/**', '**/ledger/**', '**/app.js', '**/log.js', '**/worker/**', '**/master/**', '**/cli/**', '**/stack/**', '**/schemas/**', '**/runtime/**'];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.stack/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Read env only in src/config.ts (config at the edge).' }],
      'no-restricted-imports': ['error', { patterns: [clientsOnlyInAdapters] }],
    },
  },
  { files: ['src/config.ts', 'test/**', 'bench/**', 'bin/**'], rules: { 'no-restricted-properties': 'off' } },
  // Adapters are the one place for the clients (the HBase client's integration tests and its unit tests over fake connections too).
  { files: ['src/adapters/**', 'test/integration/hbase.test.ts', 'test/unit/adapters/hbase-fake.ts', 'test/unit/adapters/hbase-regions.test.ts', 'test/unit/adapters/hbase-encoding.test.ts'], rules: { 'no-restricted-imports': 'off' } },
  {
    files: ['src/domain/**', 'stages/*/logic.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [clientsOnlyInAdapters, { group: IO, message: 'Pure logic imports no I/O: pass data in, get data out (STYLE: pure core, thin edges).' }] }] },
  },
  {
    files: ['src/runtime/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [clientsOnlyInAdapters, { group: ['**/stages/**', '**/schemas/**', '**/domain/**', '**/adapters/**', '**/ledger/**', '**/master/**', '**/worker/**', '**/app.js'], message: 'The stage runtime knows no stage, schema, domain or outside system: it gets ports.' }] }],
    },
  },
);
