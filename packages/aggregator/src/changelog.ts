import type { PulseConfig } from '@pulse/config';
import { RdKafka, consumerConfig, promisify, TOPICS, CHANGELOG_MAX_MESSAGE_BYTES, type KafkaConsumer, type Message } from '@pulse/kafka';

/** Key of the snapshot of input partition `p` in the changelog (also written to changelog partition `p`). */
export function snapshotKey(partition: number): string {
  return `${TOPICS.userClicks}:${partition}`;
}

/**
 * Reads the latest state snapshot of input partitions from the compacted changelog. Each changelog
 * partition holds one key, so its latest snapshot is its last record: one fetch at high watermark - 1,
 * however long the topic's history.
 */
export class ChangelogReader {
  private constructor(private readonly consumer: KafkaConsumer) {}

  static async connect(config: PulseConfig): Promise<ChangelogReader> {
    const consumer = new RdKafka.KafkaConsumer(
      consumerConfig(config, 'aggregator-restore', `${config.aggregator.groupId}-restore`, {
        'fetch.message.max.bytes': CHANGELOG_MAX_MESSAGE_BYTES,
        'enable.partition.eof': false,
      }),
      {},
    );
    await promisify<unknown>((cb) => consumer.connect({ timeout: 30_000 }, cb as never));
    consumer.setDefaultConsumeTimeout(200);
    return new ChangelogReader(consumer);
  }

  async readLatest(partitions: readonly number[], timeoutMs = 60_000): Promise<Map<number, Buffer | null>> {
    const result = new Map<number, Buffer | null>();
    const wanted = new Map<number, number>();
    for (const p of partitions) {
      const { lowOffset, highOffset } = await promisify<{ lowOffset: number; highOffset: number }>((cb) =>
        this.consumer.queryWatermarkOffsets(TOPICS.aggregatorChangelog, p, 10_000, cb as never),
      );
      if (highOffset <= lowOffset) result.set(p, null);
      else wanted.set(p, highOffset - 1);
    }
    if (wanted.size === 0) return result;
    this.consumer.assign([...wanted].map(([partition, offset]) => ({ topic: TOPICS.aggregatorChangelog, partition, offset })));
    const deadline = Date.now() + timeoutMs;
    try {
      while (wanted.size > 0) {
        if (Date.now() > deadline) throw new Error(`timed out reading snapshots of partitions ${[...wanted.keys()].join(', ')} from ${TOPICS.aggregatorChangelog}`);
        const messages = await promisify<Message[]>((cb) => this.consumer.consume(100, cb as never));
        for (const m of messages) {
          if (wanted.get(m.partition) === m.offset) {
            result.set(m.partition, m.value);
            wanted.delete(m.partition);
          }
        }
      }
    } finally {
      this.consumer.unassign();
    }
    return result;
  }

  async close(): Promise<void> {
    await promisify<unknown>((cb) => this.consumer.disconnect(cb as never));
  }
}
