/**
 * The `stageline` command. Parses flags, builds the one Config from env + flags, and hands over to
 * the command modules. Exit codes: 0 done, 1 failed (with a one-line reason), 2 usage error.
 */
import { parseArgs } from 'node:util';
import { buildConfig, type Config, type Flags } from '../config.js';
import { GLOBAL_OPTIONS, usage } from './usage.js';
import { StagelineError, errorMessage } from '../errors.js';
import { createLogger } from '../log.js';
import { COMMANDS } from './commands.js';
import type { CommandContext } from './types.js';
import { assertProvisioned } from '../namespace-check.js';

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
    if (cmd.needsNamespace && !parsed.values.help) await assertProvisioned(cfg);
    return await cmd.run(ctx);
  } catch (err) {
    if (err instanceof StagelineError && (err.code === 'INPUT_INVALID' || err.code === 'NOT_PROVISIONED')) {
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
