import type { RecordHeader } from '@pulse/engine';

/** Where a dead letter came from. */
export interface DeadLetterSource {
  topic: string;
  partition: number;
  offset: number;
}

/** The headers of a dead letter (PRODUCT.md §5); the value is the original bytes. */
export function deadLetterHeaders(source: DeadLetterSource, reason: string, detail: string, stage: 'collector' | 'aggregator'): RecordHeader[] {
  const header = (name: string, value: string): RecordHeader => ({ name, value: Buffer.from(value) });
  return [
    header('pulse.error.reason', reason),
    header('pulse.error.detail', detail),
    header('pulse.error.stage', stage),
    header('pulse.source.topic', source.topic),
    header('pulse.source.partition', String(source.partition)),
    header('pulse.source.offset', String(source.offset)),
  ];
}
