/**
 * Typed errors: every failure the pipeline reasons about carries a code from a closed union and a
 * `retryable` flag. The stage runtime retries retryable errors with backoff and sends the others
 * to the dead-letter topic, so the classification here decides between "wait" and "quarantine".
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'STACK_START_FAILED'
  | 'STACK_MISSING_DEPENDENCY'
  | 'KAFKA_UNAVAILABLE'
  | 'HBASE_UNAVAILABLE'
  | 'HBASE_ERROR'
  | 'MYSQL_UNAVAILABLE'
  | 'MYSQL_ERROR'
  | 'TIMEOUT'
  | 'DECODE_FAILED'
  | 'SCHEMA_UNKNOWN'
  | 'INPUT_INVALID'
  | 'NOT_FOUND'
  /** the namespace's database is missing: a usage problem (exit 2), fixed by `stageline provision` */
  | 'NOT_PROVISIONED'
  | 'CONFLICT'
  | 'INTERNAL';

export class StagelineError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  constructor(code: ErrorCode, message: string, opts: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'StagelineError';
    this.code = code;
    this.retryable = opts.retryable ?? false;
  }
}

const RETRYABLE_NODE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST', 'ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT', 'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN', 'ER_NO_SUCH_THREAD', 'ECONNABORTED',
]);

/** Messages of transport failures whose error objects do not say so in a field (kafkajs wraps them). */
const TRANSPORT_MESSAGE = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Connection error|Connection timeout|Request timed out|socket hang up|Closed connection|not the leader|leader not available|There is no leader|NOT_COORDINATOR|COORDINATOR_NOT_AVAILABLE|coordinator is loading/i;

/**
 * The one classifier: typed errors say it themselves; transport failures are retryable, also when
 * a client wrapped them in a "non-retriable" error after its own retries ran out (kafkajs does:
 * during a broker outage a produce fails with KafkaJSNonRetriableError around ECONNREFUSED, and
 * treating that as poison sent good messages to the dead-letter topic).
 */
export function isRetryable(err: unknown, depth = 0): boolean {
  if (err instanceof StagelineError) {
    if (err.retryable) return true;
    // A wrapper made before this classifier saw the cause: look at the cause too.
    return depth < 4 && err.cause !== undefined && isRetryable(err.cause, depth + 1);
  }
  if (typeof err === 'object' && err !== null) {
    const e = err as { code?: unknown; retriable?: unknown; name?: unknown; fatal?: unknown; message?: unknown; cause?: unknown; originalError?: unknown };
    if (e.retriable === true) return true; // kafkajs marks its own errors
    if (typeof e.code === 'string' && RETRYABLE_NODE_CODES.has(e.code)) return true;
    if (e.fatal === true) return true; // mysql2: the connection died, a new one may work
    if (e.name === 'KafkaJSConnectionError' || e.name === 'KafkaJSRequestTimeoutError' || e.name === 'KafkaJSNumberOfRetriesExceeded' || e.name === 'KafkaJSConnectionClosedError') return true;
    if (typeof e.message === 'string' && TRANSPORT_MESSAGE.test(e.message)) return true;
    if (depth < 4) {
      if (e.cause !== undefined && isRetryable(e.cause, depth + 1)) return true;
      if (e.originalError !== undefined && isRetryable(e.originalError, depth + 1)) return true;
    }
  }
  return false;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
