import type { Headers } from '@pulse/kafka';

/** The headers of a dead letter (PRODUCT.md §5); the value is the original bytes. */
export function deadLetterHeaders(source: { topic: string; partition: number; offset: number }, reason: string, detail: string, stage: 'collector' | 'aggregator'): Headers {
  return [
    { 'pulse.error.reason': reason },
    { 'pulse.error.detail': detail },
    { 'pulse.error.stage': stage },
    { 'pulse.source.topic': source.topic },
    { 'pulse.source.partition': String(source.partition) },
    { 'pulse.source.offset': String(source.offset) },
  ];
}
