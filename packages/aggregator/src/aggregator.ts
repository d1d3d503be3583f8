import type { PulseConfig } from '@pulse/config';
import {
  ActivityState,
  createLatencyHistogram,
  foldEngineLatency,
  forEachOutput,
  packValues,
  OutputKind,
  type ActivityOptions,
  type Histogram,
} from '@pulse/engine';
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
import { ChangelogReader, snapshotKey } from './changelog.js';
import { deadLetterHeaders } from './dead-letters.js';

const ERR_ASSIGN_PARTITIONS = -175;
const ERR_REVOKE_PARTITIONS = -174;
const ERR_UNKNOWN_PARTITION = -190;
/** The topic of each kind of engine output (crates/pulse-engine/src/output.rs). */
const OUTPUT_TOPICS: Record<number, string> = { [OutputKind.ActivityCount]: TOPICS.userActivityCounts };

/** librdkafka's logical offset "beginning of the partition". */
const OFFSET_BEGINNING = -2;

interface OwnedPartition {
  /** Null while its snapshot is being restored. */
  state: ActivityState | null;
  /** First offset not yet reflected in `state`. */
  nextOffset: number;
  /** Processed records since the last checkpoint. */
  dirty: boolean;
}

export interface AggregatorCounters {
  consumed: number;
  accepted: number;
  deadLetters: number;
  outputs: number;
  checkpoints: number;
  restores: number;
}

export interface AggregatorProgress extends AggregatorCounters {
  partitions: number[];
  lag: number;
  stateKeys: number;
  stateBytes: number;
  /** Resident memory of the whole process (engine state, client queues, JavaScript heap). */
  rssBytes: number;
}

type Log = (message: string) => void;

/**
 * A member of the aggregator consumer group on `user-clicks`. For each assigned partition it restores
 * the latest snapshot from the changelog and seeks to the offset that snapshot covers; each consumed
 * batch crosses into the Rust engine in one call per partition; outputs and dead letters are produced;
 * every `commitIntervalMs` it checkpoints: outputs acknowledged, then snapshots written and
 * acknowledged, then offsets committed. The snapshot is the truth (state plus the offset it covers),
 * so a crash anywhere replays from the last snapshot and counts every event exactly once; outputs
 * carry absolute counts, so the records replayed after a crash repeat the same values.
 */
export class Aggregator {
  private consumer!: KafkaConsumer;
  private producer!: TrackedProducer;
  private changelog!: ChangelogReader;
  private readonly owned = new Map<number, OwnedPartition>();
  private readonly options: ActivityOptions;
  private restoreQueue: Promise<void> = Promise.resolve();
  private stopping = false;
  private loopDone: Promise<void> = Promise.resolve();
  private lastCheckpoint = Date.now();
  private checkpointing: Promise<void> | null = null;
  private fatal: Error | null = null;
  readonly counters: AggregatorCounters = { consumed: 0, accepted: 0, deadLetters: 0, outputs: 0, checkpoints: 0, restores: 0 };

  constructor(
    private readonly config: PulseConfig,
    private readonly log: Log = (m) => console.error(m),
  ) {
    this.options = {
      windowSizeMs: config.aggregator.windowSizeMs,
      graceMs: config.aggregator.graceMs,
      emitIntervalMs: config.aggregator.emitIntervalMs,
      maxKeysPerWindow: config.aggregator.maxKeysPerWindow,
    };
  }

  async start(): Promise<void> {
    const { config } = this;
    this.producer = await TrackedProducer.connect({
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
    this.changelog = await ChangelogReader.connect(config);
    this.consumer = new RdKafka.KafkaConsumer(
      consumerConfig(config, 'aggregator', config.aggregator.groupId, {
        'partition.assignment.strategy': 'cooperative-sticky',
        'enable.auto.offset.store': false,
        'fetch.wait.max.ms': 10,
        'session.timeout.ms': config.aggregator.sessionTimeoutMs,
        'heartbeat.interval.ms': Math.max(100, Math.floor(config.aggregator.sessionTimeoutMs / 10)),
        'rebalance_cb': (err: LibrdKafkaError, assignment: { topic: string; partition: number }[]) => this.onRebalance(err, assignment),
      } as never),
      {},
    );
    await promisify<unknown>((cb) => this.consumer.connect({ timeout: 30_000 }, cb as never));
    this.consumer.setDefaultConsumeTimeout(Math.min(100, Math.max(5, config.aggregator.emitIntervalMs)));
    (this.consumer as unknown as { setDefaultIsTimeoutOnlyForFirstMessage(v: boolean): void }).setDefaultIsTimeoutOnlyForFirstMessage(true);
    this.consumer.subscribe([TOPICS.userClicks]);
    this.loopDone = this.loop();
  }

  /** Resolves when the aggregator stops; rejects if it stopped on an error. */
  done(): Promise<void> {
    return this.loopDone;
  }

  private onRebalance(err: LibrdKafkaError, assignment: { topic: string; partition: number }[]): void {
    const cooperative = (this.consumer as unknown as { rebalanceProtocol(): string }).rebalanceProtocol() === 'COOPERATIVE';
    const c = this.consumer as unknown as { incrementalAssign(a: unknown[]): void; incrementalUnassign(a: unknown[]): void };
    if (err.code === ERR_ASSIGN_PARTITIONS) {
      if (cooperative) c.incrementalAssign(assignment);
      else this.consumer.assign(assignment);
      // Nothing is processed until the partition's state is restored and its position set.
      this.consumer.pause(assignment);
      const partitions = assignment.map((a) => a.partition);
      for (const p of partitions) this.owned.set(p, { state: null, nextOffset: -1, dirty: false });
      this.log(`aggregator: assigned partitions ${partitions.join(', ')}; restoring state`);
      this.restoreQueue = this.restoreQueue.then(() => this.restore(partitions)).catch((e: Error) => this.fail(e));
    } else if (err.code === ERR_REVOKE_PARTITIONS) {
      // The new owner restores from the changelog; state since our last checkpoint is replayed there.
      for (const a of assignment) this.owned.delete(a.partition);
      if (cooperative) c.incrementalUnassign(assignment);
      else this.consumer.unassign();
      this.log(`aggregator: revoked partitions ${assignment.map((a) => a.partition).join(', ')}`);
    } else {
      this.fail(new Error(`rebalance error: ${err.message}`));
    }
  }

  private async restore(partitions: number[]): Promise<void> {
    const snapshots = await this.changelog.readLatest(partitions);
    for (const p of partitions) {
      const owned = this.owned.get(p);
      if (owned === undefined || owned.state !== null) continue;
      const snapshot = snapshots.get(p) ?? null;
      const restored = snapshot ? ActivityState.restore(snapshot, this.options) : { state: ActivityState.create(this.options), nextOffset: OFFSET_BEGINNING };
      const tp = { topic: TOPICS.userClicks, partition: p };
      await this.seek(tp.partition, restored.nextOffset);
      if (this.owned.get(p) !== owned) continue; // revoked while restoring
      owned.state = restored.state;
      owned.nextOffset = Math.max(restored.nextOffset, 0);
      this.consumer.resume([tp]);
      this.counters.restores++;
      this.log(`aggregator: partition ${p} restored ${snapshot ? `from a snapshot at offset ${restored.nextOffset} (${snapshot.length} bytes)` : 'empty (no snapshot): reading from the beginning'}`);
    }
  }

  /**
   * Positions a freshly assigned partition. Right after assignment librdkafka may not know the partition
   * yet ("Unknown partition"); that settles within moments, so retry for a while before giving up.
   */
  private async seek(partition: number, offset: number): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await promisify<unknown>((cb) => this.consumer.seek({ topic: TOPICS.userClicks, partition, offset }, 10_000, cb as never));
        return;
      } catch (err) {
        if ((err as { code?: number }).code !== ERR_UNKNOWN_PARTITION || Date.now() > deadline || !this.owned.has(partition)) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private fail(err: Error): void {
    this.fatal ??= err;
    this.stopping = true;
  }

  private async loop(): Promise<void> {
    const batchSize = this.config.aggregator.consumeBatchSize;
    while (!this.stopping) {
      const messages = await promisify<Message[]>((cb) => this.consumer.consume(batchSize, cb as never));
      if (this.stopping) break;
      const now = Date.now();
      if (messages.length > 0) await this.process(messages, now);
      await this.flushDue(now);
      this.maybeCheckpoint(now);
    }
    if (this.fatal) throw this.fatal;
  }

  private async process(messages: Message[], now: number): Promise<void> {
    this.counters.consumed += messages.length;
    const byPartition = new Map<number, Message[]>();
    for (const m of messages) {
      let list = byPartition.get(m.partition);
      if (list === undefined) byPartition.set(m.partition, (list = []));
      list.push(m);
    }
    for (const [p, list] of byPartition) {
      const owned = this.owned.get(p);
      // Records of a partition still restoring were fetched before the pause; the seek re-reads them.
      if (owned === undefined || owned.state === null) continue;
      // After a restore the snapshot, not the committed offset, says where the state ends.
      const fresh = list[0]!.offset >= owned.nextOffset ? list : list.filter((m) => m.offset >= owned.nextOffset);
      if (fresh.length === 0) continue;
      const result = owned.state.ingest(packValues(fresh.map((m) => m.value)), now);
      this.counters.accepted += result.accepted;
      if (result.rejected > 0) {
        for (const reject of owned.state.takeRejects()) {
          const source = fresh[reject.index]!;
          await this.producer.send(TOPICS.deadLetters, null, source.value, (source.key as Buffer | undefined) ?? null, deadLetterHeaders(source, reject.reason, reject.detail, 'aggregator'));
          this.counters.deadLetters++;
        }
      }
      owned.nextOffset = fresh[fresh.length - 1]!.offset + 1;
      owned.dirty = true;
      await this.writeOutput(owned.state);
    }
  }

  private async flushDue(now: number): Promise<void> {
    for (const owned of this.owned.values()) {
      if (owned.state === null) continue;
      if (owned.state.flushDue(now) > 0) await this.writeOutput(owned.state);
    }
  }

  private async writeOutput(state: ActivityState): Promise<void> {
    if (state.pendingOutput === 0) return;
    const packed = state.takeOutput();
    const blocked: [string, Buffer, Buffer][] = [];
    this.counters.outputs += forEachOutput(packed, (kind, key, value) => {
      const topic = OUTPUT_TOPICS[kind];
      if (topic === undefined) throw new Error(`the engine wrote an output of unknown kind ${kind}`);
      if (blocked.length > 0 || !this.producer.produce(topic, null, value, key)) blocked.push([topic, key, value]);
    });
    // librdkafka's queue was full: keep the order and wait for room.
    for (const [topic, key, value] of blocked) await this.producer.send(topic, null, value, key);
  }

  /** Starts a checkpoint if one is due and none is running; it proceeds while consumption goes on. */
  private maybeCheckpoint(now: number): void {
    if (this.checkpointing !== null || now - this.lastCheckpoint < this.config.aggregator.commitIntervalMs) return;
    this.lastCheckpoint = now;
    this.checkpointing = this.checkpoint()
      .catch((err: Error) => this.fail(err))
      .finally(() => (this.checkpointing = null));
  }

  /**
   * Outputs acknowledged → snapshots written and acknowledged → offsets committed. A snapshot is only
   * written once every output it covers is acknowledged, so no restore can skip an output that was lost.
   * The snapshots are taken synchronously (a consistent cut); the waiting happens while the loop goes on.
   */
  private async checkpoint(): Promise<void> {
    const ready = [...this.owned].filter(([, o]) => o.state !== null && o.dirty);
    if (ready.length === 0) return;
    const snapshots = ready.map(([p, o]) => ({ p, offset: o.nextOffset, bytes: o.state!.snapshot(o.nextOffset) }));
    for (const [, o] of ready) o.dirty = false;
    const covered = this.producer.closeEpoch();
    await this.producer.settled(covered);
    this.throwOnDeliveryFailure();
    for (const s of snapshots) await this.producer.send(TOPICS.aggregatorChangelog, s.p, s.bytes, snapshotKey(s.p));
    await this.producer.settled(this.producer.closeEpoch());
    this.throwOnDeliveryFailure();
    const offsets = snapshots.filter((s) => this.owned.has(s.p)).map((s) => ({ topic: TOPICS.userClicks, partition: s.p, offset: s.offset }));
    try {
      if (offsets.length > 0) this.consumer.commit(offsets);
    } catch (err) {
      // Committed offsets only feed lag monitoring; the snapshot already says where to resume.
      this.log(`aggregator: offset commit failed: ${(err as Error).message}`);
    }
    this.counters.checkpoints++;
  }

  private throwOnDeliveryFailure(): void {
    const failures = this.producer.takeFailures();
    if (failures.length > 0) throw new Error(`${failures.length} records were not acknowledged by Kafka (first: ${failures[0]!.message}); not committing`);
  }

  /** Event time → reflected in state, since the last call (folded from each partition's engine buckets). */
  takeLatency(): Histogram {
    const h = createLatencyHistogram();
    for (const o of this.owned.values()) if (o.state !== null) foldEngineLatency(h, o.state.takeLatency());
    return h;
  }

  progress(): AggregatorProgress {
    let lag = 0;
    let stateKeys = 0;
    let stateBytes = 0;
    for (const [p, o] of this.owned) {
      if (o.state === null) continue;
      const stats = o.state.stats();
      stateKeys += stats.keys;
      stateBytes += stats.stateBytes;
      try {
        const { highOffset } = this.consumer.getWatermarkOffsets(TOPICS.userClicks, p);
        if (highOffset >= 0) lag += Math.max(0, highOffset - o.nextOffset);
      } catch {
        // No fetch response yet for this partition: lag unknown, counted as zero.
      }
    }
    return { ...this.counters, partitions: [...this.owned.keys()].sort((a, b) => a - b), lag, stateKeys, stateBytes, rssBytes: process.memoryUsage.rss() };
  }

  private stopped: Promise<void> | null = null;

  /** Stops consuming, writes a final checkpoint, leaves the group and closes the clients. Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    await this.loopDone.catch(() => {});
    await this.restoreQueue;
    await this.checkpointing;
    if (!this.fatal) await this.checkpoint().catch((err: Error) => this.log(`aggregator: final checkpoint failed: ${err.message}`));
    await promisify<unknown>((cb) => this.consumer.disconnect(cb as never)).catch(() => {});
    await this.changelog.close().catch(() => {});
    await this.producer.close();
  }
}
