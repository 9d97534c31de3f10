import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

export interface LogOptions {
  level: string;
  /** Pretty output for a person at a terminal; JSON otherwise. */
  pretty: boolean;
  /**
   * Where the lines go: a stream name or a file descriptor. Services run by systemd or Docker log to
   * stdout (STAGELINE_LOG_DESTINATION); commands keep stdout for their output. Children of
   * `nightly` write both streams to their log file, so for them it makes no difference.
   * @defaultValue stderr
   */
  destination?: 'stdout' | 'stderr' | number;
}

/** Fields that may carry credentials: pino blanks them wherever they appear in a log object. */
export const REDACT_PATHS = [
  'password', '*.password', '*.*.password', 'sasl.password', 'kafka.sasl.password', 'mysql.url', 'mysql.password',
  'ssl.key', '*.ssl.key', 'authorization', '*.authorization',
];

export function createLogger(opts: LogOptions): Logger {
  const base: LoggerOptions = {
    level: opts.level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
  };
  const dest = opts.destination === 'stdout' ? 1 : opts.destination === 'stderr' || opts.destination === undefined ? 2 : opts.destination;
  if (opts.pretty) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { destination: dest, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino(base, pino.destination({ fd: dest, sync: false }));
}

/** A logger that drops everything: for unit tests and library code called without one. */
export const silentLogger: Logger = pino({ level: 'silent' });
