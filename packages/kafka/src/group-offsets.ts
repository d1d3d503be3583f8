import type { PulseConfig } from '@pulse/config';
import { connectionConfig, promisify, RdKafka, type ConsumerGlobalConfig, type KafkaConsumer } from './clients.js';
import { connectClient } from './refusal.js';

export interface CommittedOffset {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

/**
 * The committed offsets of consumer groups, for lag figures (the overview's monitor, `consumer_lag`
 * alert rules). They are read by a consumer that carries the group's id and never joins it, one per
 * group, kept while the group is asked about. librdkafka's admin ListConsumerGroupOffsets is not used:
 * when the group's coordinator moves (a broker failing or coming back) its answer is NOT_COORDINATOR,
 * which librdkafka hands to a consumer-group handle an admin client does not have, crashing the whole
 * process with SIGSEGV (librdkafka issue 5040, open); a consumer has that handle,
 * so there the same answer is an error to try again later (docs/kafka.md, "Broker failures").
 */
export class GroupOffsetsReader {
  private readonly consumers = new Map<string, Promise<KafkaConsumer>>();

  constructor(
    private readonly config: PulseConfig,
    private readonly clientId: string,
  ) {}

  /**
   * Committed offsets of `groupId` on `partitions` (`'all'`: every partition of every topic but Kafka's
   * internal ones, from the cluster's metadata); partitions without one are left out.
   */
  async committed(groupId: string, partitions: readonly { topic: string; partition: number }[] | 'all', timeoutMs: number): Promise<CommittedOffset[]> {
    const consumer = await this.consumerOf(groupId, timeoutMs);
    if (partitions === 'all') {
      const metadata = await promisify<{ topics: { name: string; partitions: { id: number }[] }[] }>((cb) => consumer.getMetadata({ timeout: timeoutMs }, cb as never));
      partitions = metadata.topics.filter((t) => !t.name.startsWith('__')).flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.id })));
    }
    if (partitions.length === 0) return [];
    const asked = partitions;
    const answer = await promisify<{ topic: string; partition: number; offset?: number }[]>((cb) =>
      consumer.committed(
        asked.map((p) => ({ topic: p.topic, partition: p.partition })),
        timeoutMs,
        cb as never,
      ),
    );
    return answer.filter((p) => typeof p.offset === 'number' && p.offset >= 0).map((p) => ({ topic: p.topic, partition: p.partition, offset: p.offset! }));
  }

  /** Disconnects the consumers of groups not in `groups` (gone, or no longer asked about). */
  retain(groups: readonly string[]): void {
    const keep = new Set(groups);
    for (const [group, consumer] of this.consumers) {
      if (keep.has(group)) continue;
      this.consumers.delete(group);
      void consumer.then(disconnect, () => {});
    }
  }

  async close(): Promise<void> {
    const all = [...this.consumers.values()];
    this.consumers.clear();
    await Promise.all(all.map((c) => c.then(disconnect, () => {})));
  }

  private consumerOf(groupId: string, timeoutMs: number): Promise<KafkaConsumer> {
    let consumer = this.consumers.get(groupId);
    if (consumer === undefined) {
      const client = new RdKafka.KafkaConsumer(
        {
          ...connectionConfig(this.config),
          'client.id': `${this.config.kafka.clientId}-${this.clientId}`,
          'group.id': groupId,
          // It only reads: never commits, and never subscribes, so it never joins the group.
          'enable.auto.commit': false,
        } as ConsumerGlobalConfig,
        {},
      );
      consumer = connectClient(client, Math.max(timeoutMs, 5_000)).then(() => client);
      // A failed connect is forgotten, so that the next sample tries again.
      consumer.catch(() => this.consumers.delete(groupId));
      this.consumers.set(groupId, consumer);
    }
    return consumer;
  }
}

function disconnect(consumer: KafkaConsumer): Promise<void> {
  return promisify<unknown>((cb) => consumer.disconnect(cb as never)).then(
    () => {},
    () => {},
  );
}
