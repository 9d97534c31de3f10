/** What every subcommand gets and is. */
import type { ParseArgsConfig } from 'node:util';
import type { Config, Flags } from '../config.js';
import type { Logger } from '../log.js';

export interface CommandContext {
  cfg: Readonly<Config>;
  log: Logger;
  flags: Flags;
  args: string[];
  argv: string[];
}

export interface Command {
  summary: string;
  help: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** checked once before run: the namespace must be provisioned (exit 2 with what to do otherwise) */
  needsNamespace?: boolean;
  run(ctx: CommandContext): Promise<number>;
}
