/** `stageline --help`: the commands and the global flags, both from their tables. */
import type { ParseArgsConfig } from 'node:util';
import { SETTING_FLAGS, settingFlagsHelp } from '../config.js';
import { COMMANDS } from './commands.js';

/** Every setting that has a flag (src/config.ts SETTINGS), plus --help. */
export const GLOBAL_OPTIONS = { ...SETTING_FLAGS, help: { type: 'boolean', short: 'h' } } as const satisfies ParseArgsConfig['options'];

export function usage(): string {
  const lines = [
    'stageline — nightly e-commerce analytics (master + split → transform → summarize over Kafka, HBase, MySQL)',
    '',
    'Usage: stageline <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(22)} ${c.summary}`),
    '',
    'Global options (each also an env var; every setting is in the README\'s configuration table):',
    ...settingFlagsHelp(),
    '',
    'Run `stageline <command> --help` for a command\'s options.',
  ];
  return lines.join('\n');
}

