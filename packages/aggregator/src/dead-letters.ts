import type { Headers } from '@pulse/kafka';

/** Where a dead letter came from. */
export interface DeadLetterSource {
  topic: string;
  partition: number;
  offset: number;
}

/** The headers of a dead letter (PRODUCT.md §5); the value is the original bytes. */
export function deadLetterHeaders(source: DeadLetterSource, reason: string, detail: string, stage: 'collector' | 'aggregator'): Headers {
  return [
    { 'pulse.error.reason': reason },
    { 'pulse.error.detail': detail },
    { 'pulse.error.stage': stage },
    { 'pulse.source.topic': source.topic },
    { 'pulse.source.partition': String(source.partition) },
    { 'pulse.source.offset': String(source.offset) },
  ];
}
