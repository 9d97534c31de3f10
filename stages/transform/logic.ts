/**
 * Transform, pure part: one visitor batch → its sessions (the intermediate rows) and the batch's
 * partial aggregate. The events come annotated by split (session index, kept purchase), so a batch
 * aggregates on its own even when it holds only a fragment of a very large visitor.
 */
import { aggregateFragments, wholeVisitor, type DayFrame, type VisitorFragment } from '../../src/domain/aggregate.js';
import type { AnnotatedEvent, PartialAggregate, SessionRecord } from '../../src/domain/types.js';

export interface TransformInput {
  merchant_id: string;
  day: string;
  frame: DayFrame;
  visitors: ReadonlyArray<Omit<VisitorFragment, 'events'> & { events: readonly AnnotatedEvent[] }>;
}

export function transformBatch(input: TransformInput): { partial: PartialAggregate; sessions: SessionRecord[] } {
  // A batch of a v2 writer carries whole visitors without annotations (session -1): annotate here.
  const visitors = input.visitors.map((v) => (v.events.some((e) => e.session < 0) ? wholeVisitor(v.visitor_id, v.events) : v));
  return aggregateFragments(input.merchant_id, input.day, input.frame, visitors);
}
