import { describe, expect, it } from 'vitest';
import { StagelineError, isRetryable } from '../../src/errors.js';

describe('isRetryable', () => {
  it('trusts typed errors', () => {
    expect(isRetryable(new StagelineError('HBASE_UNAVAILABLE', 'x', { retryable: true }))).toBe(true);
    expect(isRetryable(new StagelineError('DECODE_FAILED', 'x'))).toBe(false);
  });

  it('treats a transport failure wrapped as "non-retriable" by kafkajs as retryable (broker outage)', () => {
    const inner = Object.assign(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:9092'), { name: 'KafkaJSConnectionError', retriable: true });
    const outer = Object.assign(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:9092'), { name: 'KafkaJSNonRetriableError', retriable: false, cause: inner });
    expect(isRetryable(outer)).toBe(true);
    expect(isRetryable(new StagelineError('KAFKA_UNAVAILABLE', 'produce: x', { retryable: false, cause: outer }))).toBe(true);
  });

  it('knows node and mysql2 transport codes', () => {
    expect(isRetryable(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isRetryable(Object.assign(new Error('x'), { code: 'PROTOCOL_CONNECTION_LOST', fatal: true }))).toBe(true);
  });

  it('does not retry logic errors', () => {
    expect(isRetryable(new TypeError('undefined is not a function'))).toBe(false);
    expect(isRetryable(Object.assign(new Error('Duplicate entry'), { code: 'ER_DUP_ENTRY' }))).toBe(false);
    expect(isRetryable('a string')).toBe(false);
  });
});
