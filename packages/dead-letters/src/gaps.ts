import type { PulseConfig } from '@pulse/config';
import { producerConfig, TOPICS, TrackedProducer, type Headers } from '@pulse/kafka';
import { HEADERS } from './headers.js';

/** Records of a partition that retention deleted before a consumer processed them: offsets [from, to). */
export interface RetentionGap {
  readonly topic: string;
  readonly partition: number;
  readonly from: number;
  readonly to: number;
}

export const describeGap = (g: RetentionGap): string =>
  `${g.to - g.from} records of ${g.topic}/${g.partition} (offsets ${g.from} to ${g.to - 1}) were deleted by retention before they were processed; reading on from offset ${g.to}`;

/**
 * Writes one audit record per gap to dead-letters (reason `retention_gap`, no value, the source naming
 * the first offset lost), so that a skip is on record where every other unprocessed record is.
 */
export async function recordRetentionGaps(config: PulseConfig, gaps: readonly RetentionGap[], stage: 'aggregator' | 'sink'): Promise<void> {
  if (gaps.length === 0) return;
  const producer = await TrackedProducer.connect(producerConfig(config, `${stage}-audit`, { acks: 'all', 'enable.idempotence': true } as never));
  try {
    for (const g of gaps) {
      const headers: Headers = [
        { [HEADERS.reason]: 'retention_gap' },
        { [HEADERS.detail]: describeGap(g) },
        { [HEADERS.stage]: stage },
        { [HEADERS.sourceTopic]: g.topic },
        { [HEADERS.sourcePartition]: String(g.partition) },
        { [HEADERS.sourceOffset]: String(g.from) },
      ];
      await producer.send(TOPICS.deadLetters, null, null, `${g.topic}/${g.partition}`, headers);
    }
    await producer.flush();
    await producer.drained();
    const failures = producer.takeFailures();
    if (failures.length > 0) throw new Error(`writing the retention-gap audit records failed: ${failures[0]!.message}`);
  } finally {
    await producer.close().catch(() => {});
  }
}
