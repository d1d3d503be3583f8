import { createLogger, type Log } from '@pulse/log';
import type { PulseConfig } from '@pulse/config';
import { BatchConsumer, RecsModel, batchValues, lagFromStats, type KafkaSettings, type RecommendationList, type RecommendedItem } from '@pulse/engine';
import { RdKafka, TrackedProducer, connectClient, connectionConfig, consumerConfig, describeTopic, promisify, STATS_INTERVAL_MS, TOPICS, CHANGELOG_MAX_MESSAGE_BYTES, type Message } from '@pulse/kafka';

const INPUTS = [TOPICS.userClicks, TOPICS.userPurchases] as const;
const MODEL_KEY = 'model';
const OFFSETS_HEADER = 'pulse.offsets';
/** librdkafka's logical offset "beginning of the partition". */
const OFFSET_BEGINNING = -2;
/**
 * Records per poll at most. A poll takes what the client has fetched, so batches are small while the
 * model keeps up; a large cap lets it catch up in few round trips, and a large batch holds up no request
 * (the model learns it in short slices between requests).
 */
const CONSUME_BATCH = 5000;

type Offsets = Record<string, Record<number, number>>;

export interface RecsServiceOptions {
  /** How often the model is written to the snapshot topic; 0 never. */
  snapshotIntervalMs: number;
  log?: Log;
}

/**
 * The recommendation model of one serving instance. The item model is global while Kafka partitions
 * users, so every instance reads all partitions of user-clicks and user-purchases (assign, no consumer
 * group) and folds every event into its own copy of the model; instances scale reads, not writes. On
 * start it restores the latest model snapshot from pulse-recs-model (written by any instance, each with
 * the offsets it covers) and reads on from those offsets, so a restart does not re-read all history.
 */
export class RecsService {
  private consumer!: BatchConsumer;
  private producer: TrackedProducer | null = null;
  private model!: RecsModel;
  private readonly next: Offsets = {};
  private running = false;
  private loopDone: Promise<void> = Promise.resolve();
  private lastSnapshot = Date.now();
  private snapshotting: Promise<void> | null = null;
  private readonly log: Log;
  readonly counters = { events: 0, learned: 0, invalid: 0, snapshots: 0 };

  constructor(
    private readonly config: PulseConfig,
    private readonly options: RecsServiceOptions,
  ) {
    this.log = options.log ?? createLogger('recs', config.log);
  }

  async start(): Promise<void> {
    const restored = await this.restore();
    this.model = restored?.model ?? new RecsModel();
    // The native client: a poll is one object however many records, so reading every partition of the
    // hot topics costs the serving process little and requests are not held up by it. A fetch waits for
    // 64 KB or 10 ms: without a minimum the client asks again for every few records (measured: the
    // broker at 82% of a core for 20 000 events/s); 64 KB and 10 ms against 16 KB and 5 ms took the
    // serving process from 50% to 45% of a core and the broker from 54% to 51% at 20 000 events/s.
    this.consumer = new BatchConsumer(consumerConfig(this.config, 'recs', `${this.config.aggregator.groupId}-recs`, { 'fetch.wait.max.ms': 10, 'fetch.min.bytes': 65_536, 'statistics.interval.ms': STATS_INTERVAL_MS }) as KafkaSettings);
    const assignment = [];
    for (const topic of INPUTS) {
      const partitions = await describeTopic(this.config, topic);
      this.next[topic] = {};
      for (const { partition: id } of partitions) {
        const offset = restored?.offsets[topic]?.[id] ?? OFFSET_BEGINNING;
        assignment.push({ topic, partition: id, offset });
        this.next[topic]![id] = Math.max(offset, 0);
      }
    }
    this.consumer.assign(assignment);
    if (this.options.snapshotIntervalMs > 0) this.producer = await TrackedProducer.connect({ ...connectionConfig(this.config), 'acks': -1, 'message.max.bytes': CHANGELOG_MAX_MESSAGE_BYTES + 1024 } as never);
    this.running = true;
    this.loopDone = this.loop();
    this.log.info(`reading ${INPUTS.join(' and ')} (${assignment.length} partitions) ${restored ? `from a model snapshot (${restored.bytes} bytes)` : 'from the beginning'}`);
  }

  private async restore(): Promise<{ model: RecsModel; offsets: Offsets; bytes: number } | null> {
    const reader = new RdKafka.KafkaConsumer(consumerConfig(this.config, 'recs-restore', `${this.config.aggregator.groupId}-recs-restore`, { 'fetch.message.max.bytes': CHANGELOG_MAX_MESSAGE_BYTES }), {});
    await connectClient(reader);
    try {
      const { lowOffset, highOffset } = await promisify<{ lowOffset: number; highOffset: number }>((cb) => reader.queryWatermarkOffsets(TOPICS.recsModel, 0, 10_000, cb as never));
      if (highOffset <= lowOffset) return null;
      reader.setDefaultConsumeTimeout(200);
      reader.assign([{ topic: TOPICS.recsModel, partition: 0, offset: highOffset - 1 }]);
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const [m] = await promisify<Message[]>((cb) => reader.consume(1, cb as never));
        if (m === undefined || m.offset !== highOffset - 1 || m.value === null) continue;
        const header = m.headers?.find((h) => OFFSETS_HEADER in h)?.[OFFSETS_HEADER];
        if (header === undefined) throw new Error(`${TOPICS.recsModel}: the latest snapshot has no ${OFFSETS_HEADER} header`);
        return { model: RecsModel.restore(m.value), offsets: JSON.parse(header.toString()) as Offsets, bytes: m.value.length };
      }
      throw new Error(`timed out reading the model snapshot from ${TOPICS.recsModel}`);
    } finally {
      await promisify<unknown>((cb) => reader.disconnect(cb as never)).catch(() => {});
    }
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const batch = await this.consumer.poll(CONSUME_BATCH, 20);
      // Parsed off the event loop and learnt in short slices, so requests are answered meanwhile; one
      // batch at a time, so that batches are learnt in order and the offsets below are those of the model.
      const r = await this.model.ingest(batchValues(batch));
      this.counters.events += batch.ends.length;
      this.counters.learned += r.learned;
      this.counters.invalid += r.invalid;
      const topics = this.consumer.topics();
      for (const run of batch.runs) this.next[topics[run.topic]!]![run.partition] = batch.offsets[run.end - 1]! + 1;
      const now = Date.now();
      if (this.producer !== null && this.snapshotting === null && now - this.lastSnapshot >= this.options.snapshotIntervalMs) {
        this.lastSnapshot = now;
        // The model and the offsets it covers, taken together between two batches; only the encoding
        // holds up the next batch, compressing and writing go on beside it.
        const offsets = JSON.stringify(this.next);
        const { frame } = await this.model.snapshot();
        this.snapshotting = this.writeSnapshot(frame, offsets).finally(() => (this.snapshotting = null));
      }
    }
  }

  private async writeSnapshot(frame: Promise<Buffer>, offsets: string): Promise<void> {
    try {
      await this.producer!.send(TOPICS.recsModel, 0, await frame, MODEL_KEY, [{ [OFFSETS_HEADER]: offsets }]);
      await this.producer!.flush();
      const failures = this.producer!.takeFailures();
      if (failures.length > 0) throw failures[0];
      this.counters.snapshots++;
    } catch (err) {
      this.log.warn(`model snapshot not written: ${(err as Error).message}`);
    }
  }

  /** The consumer's latest librdkafka statistics (lag, fetch queues, round trips), or null before the first. */
  kafkaStats(): object | null {
    return this.consumer?.stats() ?? null;
  }

  /**
   * Records of the click and purchase topics not learnt yet, from librdkafka's statistics (refreshed
   * every few seconds); null until they cover every partition.
   */
  lag(): number | null {
    const positions = Object.entries(this.next).flatMap(([topic, next]) => Object.entries(next).map(([p, offset]) => [topic, Number(p), offset] as const));
    const { lag, unknown } = lagFromStats(this.consumer?.stats() ?? null, positions);
    return unknown > 0 ? null : lag;
  }

  /** Ready while the model is within recs.readyMaxLag records of the topics' ends: not before it has caught up, and no longer when it falls behind. */
  ready(): boolean {
    const lag = this.lag();
    return lag !== null && lag <= this.config.recs.readyMaxLag;
  }

  recommend(userId: string, k: number, excludeSeen: boolean): RecommendationList {
    return this.model.recommend(userId, k, excludeSeen);
  }

  similar(productId: string, k: number): RecommendedItem[] {
    return this.model.similar(productId, k);
  }

  stats() {
    return { ...this.counters, ...this.model.stats() };
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loopDone;
    await this.snapshotting;
    await this.consumer.close().catch(() => {});
    await this.producer?.close();
  }
}
