/**
 * The `stageline` command. Parses flags, builds the one Config from env + flags, and hands over to
 * the command modules. Exit codes: 0 done, 1 failed (with a one-line reason), 2 usage error.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { buildConfig, type Config, type Flags } from '../config.js';
import { StagelineError, errorMessage } from '../errors.js';
import { createLogger } from '../log.js';
import { COMMANDS, type CommandContext } from './commands.js';

const GLOBAL_OPTIONS = {
  namespace: { type: 'string' },
  'kafka-brokers': { type: 'string' },
  'mysql-url': { type: 'string' },
  'hbase-zk': { type: 'string' },
  'data-dir': { type: 'string' },
  'log-level': { type: 'string' },
  'metrics-port': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

function usage(): string {
  const lines = [
    'stageline — nightly e-commerce analytics (master + split → transform → summarize over Kafka, HBase, MySQL)',
    '',
    'Usage: stageline <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(22)} ${c.summary}`),
    '',
    'Global options (each also an env var, see README):',
    '  --namespace NS          prefix of topics, groups, MySQL database, HBase namespace (STAGELINE_NAMESPACE)',
    '  --kafka-brokers LIST    host:port,...              (STAGELINE_KAFKA_BROKERS)',
    '  --mysql-url URL         mysql://user:pass@host:port (STAGELINE_MYSQL_URL)',
    '  --hbase-zk HOST:PORT    HBase ZooKeeper quorum     (STAGELINE_HBASE_ZK)',
    '  --data-dir DIR          native stack state         (STAGELINE_DATA_DIR)',
    '  --log-level LEVEL       pino level                 (STAGELINE_LOG_LEVEL)',
    '',
    'Run `stageline <command> --help` for a command\'s options.',
  ];
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`stageline: unknown command "${name}"\n\n${usage()}\n`);
    return 2;
  }
  let parsed: { values: Flags; positionals: string[] };
  try {
    const p = parseArgs({ args: rest, options: { ...GLOBAL_OPTIONS, ...cmd.options }, allowPositionals: true, strict: true });
    parsed = { values: p.values as Flags, positionals: p.positionals };
  } catch (err) {
    process.stderr.write(`stageline ${name}: ${errorMessage(err)}\n\n${cmd.help}\n`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(`${cmd.help}\n`);
    return 0;
  }
  let cfg: Readonly<Config>;
  try {
    // The one place where the environment is read (through buildConfig).
    // eslint-disable-next-line no-restricted-properties
    cfg = buildConfig(process.env, parsed.values);
  } catch (err) {
    process.stderr.write(`stageline: ${errorMessage(err)}\n`);
    return 2;
  }
  const log = createLogger(cfg.log);
  const ctx: CommandContext = { cfg, log, flags: parsed.values, args: parsed.positionals, argv };
  try {
    return await cmd.run(ctx);
  } catch (err) {
    if (err instanceof StagelineError && err.code === 'INPUT_INVALID') {
      process.stderr.write(`stageline ${name}: ${err.message}\n`);
      return 2;
    }
    log.debug({ err }, 'command failed');
    const code = err instanceof StagelineError ? ` [${err.code}]` : '';
    process.stderr.write(`stageline ${name}: ${errorMessage(err)}${code}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Kafka/MySQL sockets can keep the loop alive a little; commands closed what they opened.
    setTimeout(() => process.exit(code), 200).unref();
  },
  (err: unknown) => {
    process.stderr.write(`stageline: ${errorMessage(err)}\n`);
    process.exit(1);
  },
);
