/**
 * Transform, pure part: one visitor batch → its sessions (the intermediate rows) and the batch's
 * partial aggregate. All of the metrics contract that needs a visitor's whole day happens here.
 */
import { aggregateVisitors } from '../../src/domain/aggregate.js';
import type { PartialAggregate, SessionRecord, ValidEvent } from '../../src/domain/types.js';

export interface TransformInput {
  merchant_id: string;
  day: string;
  visitors: ReadonlyArray<{ visitor_id: string; events: readonly ValidEvent[] }>;
}

export function transformBatch(input: TransformInput): { partial: PartialAggregate; sessions: SessionRecord[] } {
  return aggregateVisitors(input.merchant_id, input.day, input.visitors);
}
