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
  run(ctx: CommandContext): Promise<number>;
}
