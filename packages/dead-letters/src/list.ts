import type { PulseConfig } from '@pulse/config';
import { readAll, TOPICS } from '@pulse/kafka';
import { toDeadLetter, type DeadLetter } from './headers.js';

/** Which dead letters a command takes; every given field must match. */
export interface DeadLetterFilter {
  reasons?: readonly string[];
  stage?: string;
  /** The source topic. */
  source?: string;
  /** `partition@offset` ids. */
  ids?: readonly string[];
}

export const ID_PATTERN = /^\d+@\d+$/;

export function matches(letter: DeadLetter, f: DeadLetterFilter): boolean {
  return (
    (f.reasons === undefined || f.reasons.includes(letter.reason)) &&
    (f.stage === undefined || letter.stage === f.stage) &&
    (f.source === undefined || letter.source?.topic === f.source) &&
    (f.ids === undefined || f.ids.includes(letter.id))
  );
}

/** Every dead letter up to the topic's end as of the call, oldest first within each partition. */
export async function readDeadLetters(config: PulseConfig, filter: DeadLetterFilter = {}): Promise<DeadLetter[]> {
  const partitions = filter.ids?.map((id) => Number(id.split('@')[0]));
  const records = await readAll(config, TOPICS.deadLetters, { timeoutMs: 120_000, partitions });
  return records.map(toDeadLetter).filter((l) => matches(l, filter));
}

export interface DeadLetterCounts {
  total: number;
  byReason: Record<string, number>;
  byStage: Record<string, number>;
  bySource: Record<string, number>;
}

export function countDeadLetters(letters: readonly DeadLetter[]): DeadLetterCounts {
  const counts: DeadLetterCounts = { total: letters.length, byReason: {}, byStage: {}, bySource: {} };
  const add = (into: Record<string, number>, key: string) => (into[key] = (into[key] ?? 0) + 1);
  for (const l of letters) {
    add(counts.byReason, l.reason);
    add(counts.byStage, l.stage);
    add(counts.bySource, l.source?.topic ?? '(none)');
  }
  return counts;
}
