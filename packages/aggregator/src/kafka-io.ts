/**
 * Every call the aggregator makes to its Kafka clients lives in this module: the group consumer of the
 * input topics and the producer of outputs, dead letters and snapshots (both librdkafka driven from
 * Rust: a poll is one batch of flat buffers, outputs go out as the engine's packed buffer, delivery
 * reports are counted natively per epoch), and the reader of the changelog (the JavaScript client:
 * restores are rare). The aggregator sees only the `AggregatorIO` interface below.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { PulseConfig } from '@pulse/config';
import { BatchConsumer, BatchProducer, recordAt, type ConsumedBatch, type ConsumedRun, type KafkaSettings, type LibrdKafkaStats, type RecordHeader } from '@pulse/engine';
import { RdKafka, connectClient, connectionConfig, consumerConfig, describeTopic, topicOffsets, promisify, PARTITIONER, TOPICS, CHANGELOG_MAX_MESSAGE_BYTES, type KafkaConsumer, type Message } from '@pulse/kafka';
import { assembleCheckpoint, belongsTo, changelogPartition, snapshotKey, type ChangelogRecord, type StoredCheckpoint } from './changelog.js';
import { deadLetterHeaders, recordRetentionGaps, type RetentionGap } from '@pulse/dead-letters';

export interface TopicPartition {
  topic: string;
  partition: number;
}

/** Told of rebalances as the consumer reports them, before the records of the same poll; `assigned` partitions arrive paused. */
export interface RebalanceListener {
  assigned(partitions: TopicPartition[]): void;
  revoked(partitions: TopicPartition[]): void;
}

export interface AggregatorIO {
  /** Up to `max` records, grouped in one run per partition; waits at most `timeoutMs` for the first. */
  consume(max: number, timeoutMs: number): Promise<ConsumedBatch>;
  /** The topic a run of a batch comes from. */
  topicOf(run: ConsumedRun): string;
  resume(partitions: TopicPartition[]): void;
  /** Positions a freshly assigned partition; `stillOwned` stops the retries once it is revoked. */
  seek(tp: TopicPartition, offset: number, stillOwned: () => boolean): Promise<void>;
  /** Queues the engine's packed outputs in order, waiting for room while the local queue is full; resolves to the records sent. */
  sendOutputs(packed: Buffer): Promise<number>;
  /** Record `i` of a batch to dead-letters, with the §5 headers. */
  deadLetter(batch: ConsumedBatch, run: ConsumedRun, i: number, reason: string, detail: string): Promise<void>;
  /** Writes the changelog records of a checkpoint of an input partition, in order. */
  writeCheckpoint(tp: TopicPartition, records: readonly ChangelogRecord[]): Promise<void>;
  /** Resolves when everything produced so far is acknowledged or failed; throws if any failed. */
  acknowledged(): Promise<void>;
  /** Records the offsets reached (for lag monitoring; the snapshots say where to resume). */
  commit(offsets: (TopicPartition & { offset: number })[]): void;
  /** The high watermark of a partition as last fetched, or null if unknown. */
  highWatermark(tp: TopicPartition): number | null;
  /**
   * Records fetched into the client's local queue and not yet consumed, as librdkafka reports them for
   * a partition: the queue of every partition is the consumer's one queue, so this is its whole length.
   */
  fetchQueue(tp: TopicPartition): number;
  /** How many partitions a topic has now. */
  partitionCount(topic: string): Promise<number>;
  /** Partition → the first offset still in its log. */
  logStart(topic: string): Promise<Map<number, number>>;
  /** Puts records that retention deleted before they were processed on record (dead-letters, `retention_gap`). */
  recordGaps(gaps: readonly RetentionGap[]): Promise<void>;
  /** The latest checkpoint of each input partition by `snapshotKey`, or null where it has none. */
  readCheckpoints(partitions: TopicPartition[]): Promise<Map<string, StoredCheckpoint | null>>;
  close(): Promise<void>;
}

/** How long to wait before producing again when librdkafka's local queue is full. */
const QUEUE_FULL_BACKOFF_MS = 2;

/** Connects the aggregator's clients: the group consumer on `topics`, a producer and a changelog reader. */
export async function connectKafka(config: PulseConfig, topics: readonly string[], outputTopics: Readonly<Record<number, string>>, listener: RebalanceListener): Promise<AggregatorIO> {
  const producer = new BatchProducer({
    ...connectionConfig(config),
    'client.id': `${config.kafka.clientId}-aggregator`,
    // Outputs and snapshots must not be lost or duplicated by retries.
    'enable.idempotence': true,
    'acks': 'all',
    'linger.ms': config.aggregator.outputLingerMs,
    'batch.size': 262_144,
    'compression.type': 'lz4',
    'message.max.bytes': CHANGELOG_MAX_MESSAGE_BYTES + 1024,
    // Bounded local queue: when it is full, sending waits (backpressure) instead of growing memory.
    'queue.buffering.max.messages': 200_000,
    'partitioner': PARTITIONER,
  });
  producer.routeOutputs(outputTopics);
  const changelog = await ChangelogReader.connect(config);
  const consumer = new BatchConsumer(
    consumerConfig(config, 'aggregator', config.aggregator.groupId, {
      'partition.assignment.strategy': 'cooperative-sticky',
      'enable.auto.offset.store': false,
      'fetch.wait.max.ms': 10,
      'fetch.min.bytes': config.aggregator.fetchMinBytes,
      'session.timeout.ms': config.aggregator.sessionTimeoutMs,
      'heartbeat.interval.ms': Math.max(100, Math.floor(config.aggregator.sessionTimeoutMs / 10)),
      // Also the source of highWatermark().
      'statistics.interval.ms': 1000,
    }) as KafkaSettings,
  );
  consumer.subscribe(topics);
  return new NativeIO(consumer, producer, changelog, listener, config);
}

class NativeIO implements AggregatorIO {
  private topics: string[] = [];
  private stats: { at: number; report: LibrdKafkaStats | null } = { at: 0, report: null };

  constructor(
    private readonly consumer: BatchConsumer,
    private readonly producer: BatchProducer,
    private readonly changelog: ChangelogReader,
    private readonly listener: RebalanceListener,
    private readonly config: PulseConfig,
  ) {}

  async consume(max: number, timeoutMs: number): Promise<ConsumedBatch> {
    const batch = await this.consumer.poll(max, timeoutMs);
    // Rebalances seen during the poll, in order, before its records are processed.
    for (const e of this.consumer.takeRebalanceEvents()) {
      const tp = [{ topic: e.topic, partition: e.partition }];
      if (e.assigned) this.listener.assigned(tp);
      else this.listener.revoked(tp);
    }
    if (batch.runs.some((r) => r.topic >= this.topics.length)) this.topics = this.consumer.topics();
    return batch;
  }

  topicOf(run: ConsumedRun): string {
    return this.topics[run.topic]!;
  }

  resume(partitions: TopicPartition[]): void {
    for (const tp of partitions) this.consumer.resume(tp.topic, [tp.partition]);
  }

  /**
   * Right after assignment librdkafka may not know the partition yet ("Unknown partition") or not have
   * set up its fetcher ("Erroneous state"); both settle within moments.
   */
  async seek(tp: TopicPartition, offset: number, stillOwned: () => boolean): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await this.consumer.seek(tp.topic, tp.partition, offset, 10_000);
        return;
      } catch (err) {
        if (!/Unknown partition|Erroneous state/i.test((err as Error).message) || Date.now() > deadline || !stillOwned()) throw err;
        await sleep(100);
      }
    }
  }

  async sendOutputs(packed: Buffer): Promise<number> {
    let sent = 0;
    for (let from = 0; ; ) {
      const r = this.producer.sendOutputs(packed, from);
      sent += r.sent;
      if (!r.full) return sent;
      from = r.next;
      await sleep(QUEUE_FULL_BACKOFF_MS);
    }
  }

  private async sendOne(topic: string, partition: number | null, key: Buffer | null, value: Buffer | null, headers?: RecordHeader[]): Promise<void> {
    while (!this.producer.send(topic, partition, key, value, headers)) await sleep(QUEUE_FULL_BACKOFF_MS);
  }

  async deadLetter(batch: ConsumedBatch, run: ConsumedRun, i: number, reason: string, detail: string): Promise<void> {
    const { value, key } = recordAt(batch, run, i);
    const source = { topic: this.topicOf(run), partition: run.partition, offset: batch.offsets[i]! };
    await this.sendOne(TOPICS.deadLetters, null, key.length > 0 ? key : null, value, deadLetterHeaders(source, reason, detail, 'aggregator'));
  }

  async writeCheckpoint(tp: TopicPartition, records: readonly ChangelogRecord[]): Promise<void> {
    const partition = changelogPartition(tp.topic, tp.partition);
    for (const r of records) await this.sendOne(TOPICS.aggregatorChangelog, partition, Buffer.from(r.key), r.value);
  }

  async acknowledged(): Promise<void> {
    await this.producer.settled(this.producer.closeEpoch());
    const failures = this.producer.takeFailures();
    if (failures.length > 0) {
      const f = failures[0]!;
      throw new Error(`${failures.length} records were not acknowledged by Kafka (first: ${f.topic}/${f.partition}: ${f.error}); not committing`);
    }
  }

  commit(offsets: (TopicPartition & { offset: number })[]): void {
    if (offsets.length > 0) this.consumer.commit(offsets);
  }

  highWatermark(tp: TopicPartition): number | null {
    const high = this.partitionStats(tp)?.hi_offset ?? -1;
    return high >= 0 ? high : null;
  }

  fetchQueue(tp: TopicPartition): number {
    return this.partitionStats(tp)?.fetchq_cnt ?? 0;
  }

  private partitionStats(tp: TopicPartition) {
    // From librdkafka's statistics, which it refreshes every second: parsed once per half second here.
    const now = Date.now();
    if (now - this.stats.at > 500) this.stats = { at: now, report: this.consumer.stats() };
    return this.stats.report?.topics[tp.topic]?.partitions[String(tp.partition)];
  }

  async partitionCount(topic: string): Promise<number> {
    return (await describeTopic(this.config, topic)).length;
  }

  async logStart(topic: string): Promise<Map<number, number>> {
    return new Map((await topicOffsets(this.config, topic)).map((o) => [o.partition, o.low]));
  }

  recordGaps(gaps: readonly RetentionGap[]): Promise<void> {
    return recordRetentionGaps(this.config, gaps, 'aggregator');
  }

  readCheckpoints(partitions: TopicPartition[]): Promise<Map<string, StoredCheckpoint | null>> {
    return this.changelog.readLatest(partitions);
  }

  async close(): Promise<void> {
    await this.consumer.close().catch(() => {});
    await this.changelog.close().catch(() => {});
    await this.producer.flush();
  }
}

/** Whether a changelog key belongs to one of the wanted checkpoints. */
function wanted(key: string, checkpoints: ReadonlySet<string>): boolean {
  for (const k of checkpoints) if (belongsTo(key, k)) return true;
  return false;
}

/** Records read back per step when searching a changelog partition from its end; grows 4× a step. */
const FIRST_SPAN = 64;

/**
 * Reads the latest checkpoint of input partitions from the compacted changelog. A changelog partition
 * holds the checkpoints of several input partitions; each is its latest whole snapshot plus the deltas
 * after it (changelog.ts), so each partition is read backwards from its end in growing spans until
 * every wanted checkpoint is whole: the recent records, not the whole history, in the usual case.
 * Every input partition gets a whole snapshot as soon as it is first assigned, so the search for one
 * never has to read a partition to its start.
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
    await connectClient(consumer);
    consumer.setDefaultConsumeTimeout(200);
    return new ChangelogReader(consumer);
  }

  /** Checkpoints by `snapshotKey(topic, partition)`; null where an input partition has none. */
  async readLatest(partitions: readonly TopicPartition[], timeoutMs = 60_000): Promise<Map<string, StoredCheckpoint | null>> {
    const result = new Map<string, StoredCheckpoint | null>();
    /** Per changelog partition: the checkpoints still wanted, the latest record of each of their keys, and the offset below which it is unread. */
    const searches = new Map<number, { keys: Set<string>; latest: Map<string, { offset: number; value: Buffer | null }>; low: number; end: number }>();
    for (const tp of partitions) {
      const cp = changelogPartition(tp.topic, tp.partition);
      let search = searches.get(cp);
      if (search === undefined) searches.set(cp, (search = { keys: new Set(), latest: new Map(), low: 0, end: 0 }));
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
      // One pass over all changelog partitions that still miss checkpoints, each over its next span back.
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
        // Spans go back in time: a key already seen has its latest record.
        for (const r of found.get(cp) ?? []) if (!s.latest.has(r.key)) s.latest.set(r.key, r);
        for (const key of [...s.keys]) {
          const checkpoint = assembleCheckpoint(key, s.latest, s.end <= s.low);
          if (checkpoint === undefined) continue;
          result.set(key, checkpoint);
          s.keys.delete(key);
        }
      }
    }
    return result;
  }

  /** Each key's last record among the records of the wanted checkpoints within offsets [start, end) of each changelog partition. */
  private async readRanges(
    ranges: Map<number, { start: number; end: number; keys: ReadonlySet<string> }>,
    deadline: number,
  ): Promise<Map<number, { key: string; offset: number; value: Buffer | null }[]>> {
    const found = new Map<number, Map<string, { key: string; offset: number; value: Buffer | null }>>();
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
          if (!wanted(key, range.keys)) continue;
          let byKey = found.get(m.partition);
          if (byKey === undefined) found.set(m.partition, (byKey = new Map()));
          byKey.set(key, { key, offset: m.offset, value: m.value ?? null });
        }
      }
    } finally {
      this.consumer.unassign();
    }
    return new Map([...found].map(([cp, byKey]) => [cp, [...byKey.values()]]));
  }

  async close(): Promise<void> {
    await promisify<unknown>((cb) => this.consumer.disconnect(cb as never));
  }
}
