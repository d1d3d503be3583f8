/**
 * Every call the aggregator makes to its Kafka client lives in this module: the group consumer of the
 * input topics, the producer of outputs, dead letters and snapshots, and the reader of the changelog.
 * The aggregator sees only the `AggregatorIO` interface below, so the client can be replaced here alone.
 */
import type { PulseConfig } from '@pulse/config';
import {
  RdKafka,
  TrackedProducer,
  consumerConfig,
  promisify,
  PARTITIONER,
  TOPICS,
  CHANGELOG_MAX_MESSAGE_BYTES,
  type KafkaConsumer,
  type LibrdKafkaError,
  type Message,
} from '@pulse/kafka';
import { changelogPartition, snapshotKey } from './changelog.js';
import { deadLetterHeaders } from './dead-letters.js';

export interface TopicPartition {
  topic: string;
  partition: number;
}

/** A consumed input record: what the aggregator reads of it. */
export interface InputRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key?: Buffer | string | null;
  readonly value: Buffer | null;
}

/** Called from the consumer's rebalance callback; `assigned` partitions arrive paused. */
export interface RebalanceListener {
  assigned(partitions: TopicPartition[]): void;
  revoked(partitions: TopicPartition[]): void;
  failed(err: Error): void;
}

export interface AggregatorIO {
  /** Up to `max` records; waits at most about `timeoutMs` for the first. */
  consume(max: number): Promise<InputRecord[]>;
  resume(partitions: TopicPartition[]): void;
  /** Positions a freshly assigned partition; `stillOwned` stops the retries once it is revoked. */
  seek(tp: TopicPartition, offset: number, stillOwned: () => boolean): Promise<void>;
  /** Queues an output record; false when the local queue is full (then `send` waits for room). */
  produce(topic: string, key: Buffer, value: Buffer): boolean;
  send(topic: string, key: Buffer, value: Buffer): Promise<void>;
  deadLetter(source: InputRecord, reason: string, detail: string): Promise<void>;
  writeSnapshot(tp: TopicPartition, snapshot: Buffer): Promise<void>;
  /** Resolves when everything produced so far is acknowledged or failed; throws if any failed. */
  acknowledged(): Promise<void>;
  /** Records the offsets reached (for lag monitoring; the snapshots say where to resume). */
  commit(offsets: (TopicPartition & { offset: number })[]): void;
  /** The high watermark of a partition as last fetched, or null if unknown. */
  highWatermark(tp: TopicPartition): number | null;
  /** The latest snapshot of each input partition, or null where it has none. */
  readSnapshots(partitions: TopicPartition[]): Promise<Map<string, Buffer | null>>;
  close(): Promise<void>;
}

const ERR_ASSIGN_PARTITIONS = -175;
const ERR_REVOKE_PARTITIONS = -174;
const ERR_UNKNOWN_PARTITION = -190;

/** Connects the aggregator's clients: the group consumer on `topics`, a producer and a changelog reader. */
export async function connectKafka(config: PulseConfig, topics: readonly string[], listener: RebalanceListener): Promise<AggregatorIO> {
  const producer = await TrackedProducer.connect({
    'bootstrap.servers': config.kafka.bootstrapServers,
    'client.id': `${config.kafka.clientId}-aggregator`,
    // Outputs and snapshots must not be lost or duplicated by retries.
    'enable.idempotence': true,
    'acks': -1,
    'linger.ms': 2,
    'batch.size': 262_144,
    'compression.type': 'lz4',
    'message.max.bytes': CHANGELOG_MAX_MESSAGE_BYTES + 1024,
    // Bounded local queue: when it is full, produce waits (backpressure) instead of growing memory.
    'queue.buffering.max.messages': 200_000,
    'partitioner': PARTITIONER,
  } as never);
  const changelog = await ChangelogReader.connect(config);
  const io = new RdKafkaIO(producer, changelog);
  const consumer = new RdKafka.KafkaConsumer(
    consumerConfig(config, 'aggregator', config.aggregator.groupId, {
      'partition.assignment.strategy': 'cooperative-sticky',
      'enable.auto.offset.store': false,
      'fetch.wait.max.ms': 10,
      'session.timeout.ms': config.aggregator.sessionTimeoutMs,
      'heartbeat.interval.ms': Math.max(100, Math.floor(config.aggregator.sessionTimeoutMs / 10)),
      'rebalance_cb': (err: LibrdKafkaError, assignment: TopicPartition[]) => io.onRebalance(err, assignment, listener),
    } as never),
    {},
  );
  io.consumer = consumer;
  await promisify<unknown>((cb) => consumer.connect({ timeout: 30_000 }, cb as never));
  consumer.setDefaultConsumeTimeout(Math.min(100, Math.max(5, config.aggregator.emitIntervalMs)));
  (consumer as unknown as { setDefaultIsTimeoutOnlyForFirstMessage(v: boolean): void }).setDefaultIsTimeoutOnlyForFirstMessage(true);
  consumer.subscribe([...topics]);
  return io;
}

class RdKafkaIO implements AggregatorIO {
  consumer!: KafkaConsumer;

  constructor(
    private readonly producer: TrackedProducer,
    private readonly changelog: ChangelogReader,
  ) {}

  onRebalance(err: LibrdKafkaError, assignment: TopicPartition[], listener: RebalanceListener): void {
    const cooperative = (this.consumer as unknown as { rebalanceProtocol(): string }).rebalanceProtocol() === 'COOPERATIVE';
    const c = this.consumer as unknown as { incrementalAssign(a: unknown[]): void; incrementalUnassign(a: unknown[]): void };
    const partitions = assignment.map((a) => ({ topic: a.topic, partition: a.partition }));
    if (err.code === ERR_ASSIGN_PARTITIONS) {
      if (cooperative) c.incrementalAssign(assignment);
      else this.consumer.assign(assignment);
      // Nothing is processed until the partition's state is restored and its position set.
      this.consumer.pause(assignment);
      listener.assigned(partitions);
    } else if (err.code === ERR_REVOKE_PARTITIONS) {
      listener.revoked(partitions);
      if (cooperative) c.incrementalUnassign(assignment);
      else this.consumer.unassign();
    } else {
      listener.failed(new Error(`rebalance error: ${err.message}`));
    }
  }

  consume(max: number): Promise<InputRecord[]> {
    return promisify<Message[]>((cb) => this.consumer.consume(max, cb as never));
  }

  resume(partitions: TopicPartition[]): void {
    this.consumer.resume(partitions);
  }

  /** Right after assignment librdkafka may not know the partition yet ("Unknown partition"); that settles within moments. */
  async seek(tp: TopicPartition, offset: number, stillOwned: () => boolean): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await promisify<unknown>((cb) => this.consumer.seek({ ...tp, offset }, 10_000, cb as never));
        return;
      } catch (err) {
        if ((err as { code?: number }).code !== ERR_UNKNOWN_PARTITION || Date.now() > deadline || !stillOwned()) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  produce(topic: string, key: Buffer, value: Buffer): boolean {
    return this.producer.produce(topic, null, value, key);
  }

  send(topic: string, key: Buffer, value: Buffer): Promise<void> {
    return this.producer.send(topic, null, value, key);
  }

  deadLetter(source: InputRecord, reason: string, detail: string): Promise<void> {
    const key = typeof source.key === 'string' ? Buffer.from(source.key) : (source.key ?? null);
    return this.producer.send(TOPICS.deadLetters, null, source.value, key, deadLetterHeaders(source, reason, detail, 'aggregator'));
  }

  writeSnapshot(tp: TopicPartition, snapshot: Buffer): Promise<void> {
    return this.producer.send(TOPICS.aggregatorChangelog, changelogPartition(tp.topic, tp.partition), snapshot, snapshotKey(tp.topic, tp.partition));
  }

  async acknowledged(): Promise<void> {
    await this.producer.settled(this.producer.closeEpoch());
    const failures = this.producer.takeFailures();
    if (failures.length > 0) throw new Error(`${failures.length} records were not acknowledged by Kafka (first: ${failures[0]!.message}); not committing`);
  }

  commit(offsets: (TopicPartition & { offset: number })[]): void {
    if (offsets.length > 0) this.consumer.commit(offsets);
  }

  highWatermark(tp: TopicPartition): number | null {
    try {
      const { highOffset } = this.consumer.getWatermarkOffsets(tp.topic, tp.partition);
      return highOffset >= 0 ? highOffset : null;
    } catch {
      // No fetch response yet for this partition.
      return null;
    }
  }

  readSnapshots(partitions: TopicPartition[]): Promise<Map<string, Buffer | null>> {
    return this.changelog.readLatest(partitions);
  }

  async close(): Promise<void> {
    await promisify<unknown>((cb) => this.consumer.disconnect(cb as never)).catch(() => {});
    await this.changelog.close().catch(() => {});
    await this.producer.close();
  }
}

/** Records read back per step when searching a changelog partition from its end; grows 4× a step. */
const FIRST_SPAN = 64;

/**
 * Reads the latest snapshot of input partitions from the compacted changelog. A changelog partition
 * holds the keys of several input partitions; the latest snapshot of a key is its last record, so
 * each partition is read backwards from its end in growing spans until every wanted key is found:
 * the recent records, not the whole history, in the usual case.
 */
class ChangelogReader {
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

  /** Snapshots by `snapshotKey(topic, partition)`; null where an input partition has none. */
  async readLatest(partitions: readonly TopicPartition[], timeoutMs = 60_000): Promise<Map<string, Buffer | null>> {
    const result = new Map<string, Buffer | null>();
    /** Per changelog partition: the keys still wanted and the offset below which it is still unread. */
    const searches = new Map<number, { keys: Set<string>; low: number; end: number }>();
    for (const tp of partitions) {
      const cp = changelogPartition(tp.topic, tp.partition);
      let search = searches.get(cp);
      if (search === undefined) searches.set(cp, (search = { keys: new Set(), low: 0, end: 0 }));
      search.keys.add(snapshotKey(tp.topic, tp.partition));
      result.set(snapshotKey(tp.topic, tp.partition), null);
    }
    for (const [cp, search] of searches) {
      const { lowOffset, highOffset } = await promisify<{ lowOffset: number; highOffset: number }>((cb) =>
        this.consumer.queryWatermarkOffsets(TOPICS.aggregatorChangelog, cp, 10_000, cb as never),
      );
      search.low = lowOffset;
      search.end = highOffset;
    }
    const deadline = Date.now() + timeoutMs;
    for (let span = FIRST_SPAN; ; span *= 4) {
      // One pass over all changelog partitions that still miss keys, each over its next span back.
      const ranges = new Map<number, { start: number; end: number; keys: ReadonlySet<string> }>();
      for (const [cp, s] of searches) {
        if (s.keys.size === 0 || s.end <= s.low) continue;
        ranges.set(cp, { start: Math.max(s.low, s.end - span), end: s.end, keys: s.keys });
      }
      if (ranges.size === 0) break;
      const found = await this.readRanges(ranges, deadline);
      for (const [cp, range] of ranges) {
        const s = searches.get(cp)!;
        s.end = range.start;
        for (const [key, value] of found.get(cp) ?? []) {
          result.set(key, value);
          s.keys.delete(key);
        }
      }
    }
    return result;
  }

  /** The last record of each wanted key within offsets [start, end) of each changelog partition. */
  private async readRanges(ranges: Map<number, { start: number; end: number; keys: ReadonlySet<string> }>, deadline: number): Promise<Map<number, Map<string, Buffer>>> {
    const found = new Map<number, Map<string, Buffer>>();
    const open = new Set(ranges.keys());
    this.consumer.assign([...ranges].map(([cp, r]) => ({ topic: TOPICS.aggregatorChangelog, partition: cp, offset: r.start })));
    try {
      // Compaction may have removed offsets, but never a partition's last record: a range is done at
      // the first record at or past its last offset.
      while (open.size > 0) {
        if (Date.now() > deadline) throw new Error(`timed out reading snapshots from ${TOPICS.aggregatorChangelog} partitions ${[...open].join(', ')}`);
        const messages = await promisify<Message[]>((cb) => this.consumer.consume(100, cb as never));
        for (const m of messages) {
          const range = ranges.get(m.partition);
          if (range === undefined || !open.has(m.partition) || m.offset < range.start) continue;
          if (m.offset >= range.end - 1) open.delete(m.partition);
          if (m.offset >= range.end) continue;
          const key = m.key === undefined || m.key === null ? '' : m.key.toString();
          if (!range.keys.has(key) || !m.value) continue;
          let byKey = found.get(m.partition);
          if (byKey === undefined) found.set(m.partition, (byKey = new Map()));
          byKey.set(key, m.value);
        }
      }
    } finally {
      this.consumer.unassign();
    }
    return found;
  }

  async close(): Promise<void> {
    await promisify<unknown>((cb) => this.consumer.disconnect(cb as never));
  }
}
