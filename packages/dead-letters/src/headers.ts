import type { RecordHeader } from '@pulse/engine';
import type { ReadRecord } from '@pulse/kafka';

/** Where a dead letter came from. */
export interface DeadLetterSource {
  topic: string;
  partition: number;
  offset: number;
}

/** The headers every dead letter carries (docs/dead-letters.md); its value is the original bytes. */
export const HEADERS = {
  reason: 'pulse.error.reason',
  detail: 'pulse.error.detail',
  stage: 'pulse.error.stage',
  sourceTopic: 'pulse.source.topic',
  sourcePartition: 'pulse.source.partition',
  sourceOffset: 'pulse.source.offset',
  /** On a replayed record: the id of the dead letter it replays. */
  replayOf: 'pulse.replay.of',
} as const;

export function deadLetterHeaders(source: DeadLetterSource, reason: string, detail: string, stage: 'collector' | 'aggregator' | 'sink'): RecordHeader[] {
  const header = (name: string, value: string): RecordHeader => ({ name, value: Buffer.from(value) });
  return [
    header(HEADERS.reason, reason),
    header(HEADERS.detail, detail),
    header(HEADERS.stage, stage),
    header(HEADERS.sourceTopic, source.topic),
    header(HEADERS.sourcePartition, String(source.partition)),
    header(HEADERS.sourceOffset, String(source.offset)),
  ];
}

/** A record of `dead-letters`, read back. */
export interface DeadLetter {
  /** `partition@offset` in dead-letters: how a user names one. */
  readonly id: string;
  readonly reason: string;
  readonly detail: string;
  readonly stage: string;
  /** Null when the headers do not name a whole source (a record another tool wrote). */
  readonly source: DeadLetterSource | null;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly timestamp: number | undefined;
  readonly headers: Readonly<Record<string, string>>;
}

export function toDeadLetter(r: ReadRecord): DeadLetter {
  const h = r.headers;
  const partition = Number(h[HEADERS.sourcePartition]);
  const offset = Number(h[HEADERS.sourceOffset]);
  const topic = h[HEADERS.sourceTopic];
  const source = topic !== undefined && topic !== '' && Number.isInteger(partition) && Number.isInteger(offset) ? { topic, partition, offset } : null;
  return {
    id: `${r.partition}@${r.offset}`,
    reason: h[HEADERS.reason] ?? 'unknown',
    detail: h[HEADERS.detail] ?? '',
    stage: h[HEADERS.stage] ?? 'unknown',
    source,
    key: r.keyBytes,
    value: r.value,
    timestamp: r.timestamp,
    headers: h,
  };
}
