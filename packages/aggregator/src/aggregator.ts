import type { PulseConfig } from '@pulse/config';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ActivityState,
  BatchConsumer,
  BatchProducer,
  createLatencyHistogram,
  foldEngineLatency,
  recordAt,
  runValues,
  OutputKind,
  type ActivityOptions,
  type ConsumedBatch,
  type ConsumedRun,
  type Histogram,
  type KafkaSettings,
  type RecordHeader,
} from '@pulse/engine';
import { consumerConfig, PARTITIONER, TOPICS, CHANGELOG_MAX_MESSAGE_BYTES } from '@pulse/kafka';
import { ChangelogReader, snapshotKey } from './changelog.js';
import { deadLetterHeaders } from './dead-letters.js';

/** How long to wait before producing again when librdkafka's local queue is full. */
const QUEUE_FULL_BACKOFF_MS = 2;
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
  private consumer!: BatchConsumer;
  private producer!: BatchProducer;
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

  /**
   * Both Kafka clients are librdkafka driven from Rust (see packages/engine/src/kafka.ts): a poll
   * returns the whole batch as flat buffers, outputs go out as the engine's packed buffer, and delivery
   * reports are counted natively per epoch. No per-record JavaScript object exists on the hot path.
   */
  async start(): Promise<void> {
    const { config } = this;
    this.producer = new BatchProducer({
      'bootstrap.servers': config.kafka.bootstrapServers,
      'client.id': `${config.kafka.clientId}-aggregator`,
      // Outputs and snapshots must not be lost or duplicated by retries.
      'enable.idempotence': true,
      'acks': 'all',
      'linger.ms': 2,
      'batch.size': 262_144,
      'compression.type': 'lz4',
      'message.max.bytes': CHANGELOG_MAX_MESSAGE_BYTES + 1024,
      // Bounded local queue: when it is full, sending waits (backpressure) instead of growing memory.
      'queue.buffering.max.messages': 200_000,
      'partitioner': PARTITIONER,
    });
    this.producer.routeOutputs(OUTPUT_TOPICS);
    this.changelog = await ChangelogReader.connect(config);
    this.consumer = new BatchConsumer(
      consumerConfig(config, 'aggregator', config.aggregator.groupId, {
        'partition.assignment.strategy': 'cooperative-sticky',
        'enable.auto.offset.store': false,
        'fetch.wait.max.ms': 10,
        'session.timeout.ms': config.aggregator.sessionTimeoutMs,
        'heartbeat.interval.ms': Math.max(100, Math.floor(config.aggregator.sessionTimeoutMs / 10)),
        'statistics.interval.ms': 1000,
      }) as KafkaSettings,
    );
    this.consumer.subscribe([TOPICS.userClicks]);
    this.loopDone = this.loop();
  }

  /** Resolves when the aggregator stops; rejects if it stopped on an error. */
  done(): Promise<void> {
    return this.loopDone;
  }

  /**
   * Applies the rebalances the consumer saw during its last poll. Assigned partitions arrive paused:
   * nothing is processed until the state is restored and the position set.
   */
  private applyRebalances(): void {
    const assigned: number[] = [];
    for (const e of this.consumer.takeRebalanceEvents()) {
      if (e.assigned) {
        this.owned.set(e.partition, { state: null, nextOffset: -1, dirty: false });
        assigned.push(e.partition);
      } else {
        // The new owner restores from the changelog; state since our last checkpoint is replayed there.
        this.owned.delete(e.partition);
        this.log(`aggregator: revoked partition ${e.partition}`);
      }
    }
    if (assigned.length === 0) return;
    this.log(`aggregator: assigned partitions ${assigned.join(', ')}; restoring state`);
    this.restoreQueue = this.restoreQueue.then(() => this.restore(assigned)).catch((e: Error) => this.fail(e));
  }

  private async restore(partitions: number[]): Promise<void> {
    const snapshots = await this.changelog.readLatest(partitions);
    for (const p of partitions) {
      const owned = this.owned.get(p);
      if (owned === undefined || owned.state !== null) continue;
      const snapshot = snapshots.get(p) ?? null;
      const restored = snapshot ? ActivityState.restore(snapshot, this.options) : { state: ActivityState.create(this.options), nextOffset: OFFSET_BEGINNING };
      await this.seek(p, restored.nextOffset);
      if (this.owned.get(p) !== owned) continue; // revoked while restoring
      owned.state = restored.state;
      owned.nextOffset = Math.max(restored.nextOffset, 0);
      this.consumer.resume(TOPICS.userClicks, [p]);
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
        await this.consumer.seek(TOPICS.userClicks, partition, offset, 10_000);
        return;
      } catch (err) {
        if (!/Unknown partition/i.test((err as Error).message) || Date.now() > deadline || !this.owned.has(partition)) throw err;
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
    const pollTimeoutMs = Math.min(100, Math.max(5, this.config.aggregator.emitIntervalMs));
    while (!this.stopping) {
      const batch = await this.consumer.poll(batchSize, pollTimeoutMs);
      this.applyRebalances();
      if (this.stopping) break;
      const now = Date.now();
      if (batch.ends.length > 0) await this.process(batch, now);
      await this.flushDue(now);
      this.maybeCheckpoint(now);
    }
    if (this.fatal) throw this.fatal;
  }

  private async process(batch: ConsumedBatch, now: number): Promise<void> {
    this.counters.consumed += batch.ends.length;
    for (const run of batch.runs) {
      const owned = this.owned.get(run.partition);
      // Records of a partition still restoring were fetched before the pause; the seek re-reads them.
      if (owned === undefined || owned.state === null) continue;
      // After a restore the snapshot, not the committed offset, says where the state ends.
      let first = run.start;
      while (first < run.end && batch.offsets[first]! < owned.nextOffset) first++;
      if (first === run.end) continue;
      const values = first === run.start ? runValues(batch, run) : skipTo(batch, run, first);
      const result = owned.state.ingest(values, now);
      this.counters.accepted += result.accepted;
      if (result.rejected > 0) {
        for (const reject of owned.state.takeRejects()) await this.sendDeadLetter(batch, run, first + reject.index, reject.reason, reject.detail);
      }
      owned.nextOffset = batch.offsets[run.end - 1]! + 1;
      owned.dirty = true;
      await this.writeOutput(owned.state);
    }
  }

  private async sendDeadLetter(batch: ConsumedBatch, run: ConsumedRun, i: number, reason: string, detail: string): Promise<void> {
    const { value, key } = recordAt(batch, run, i);
    const source = { topic: TOPICS.userClicks, partition: run.partition, offset: batch.offsets[i]! };
    const headers: RecordHeader[] = deadLetterHeaders(source, reason, detail, 'aggregator').flatMap((h) => Object.entries(h).map(([name, v]) => ({ name, value: Buffer.from(v) })));
    await this.sendOne(TOPICS.deadLetters, null, key.length > 0 ? key : null, value, headers);
    this.counters.deadLetters++;
  }

  /** Sends one record, waiting while librdkafka's queue is full. */
  private async sendOne(topic: string, partition: number | null, key: Buffer | null, value: Buffer, headers?: RecordHeader[]): Promise<void> {
    while (!this.producer.send(topic, partition, key, value, headers)) await sleep(QUEUE_FULL_BACKOFF_MS);
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
    for (let from = 0; ; ) {
      const r = this.producer.sendOutputs(packed, from);
      this.counters.outputs += r.sent;
      if (!r.full) return;
      // librdkafka's queue is full: keep the order and wait for room.
      from = r.next;
      await sleep(QUEUE_FULL_BACKOFF_MS);
    }
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
    for (const s of snapshots) await this.sendOne(TOPICS.aggregatorChangelog, s.p, Buffer.from(snapshotKey(s.p)), s.bytes);
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
    if (failures.length > 0) throw new Error(`${failures.length} records were not acknowledged by Kafka (first: ${failures[0]!.topic}/${failures[0]!.partition}: ${failures[0]!.error}); not committing`);
  }

  /** Event time → reflected in state, since the last call (folded from each partition's engine buckets). */
  takeLatency(): Histogram {
    const h = createLatencyHistogram();
    for (const o of this.owned.values()) if (o.state !== null) foldEngineLatency(h, o.state.takeLatency());
    return h;
  }

  progress(): AggregatorProgress {
    const partitionStats = this.consumer.stats()?.topics[TOPICS.userClicks]?.partitions;
    let lag = 0;
    let stateKeys = 0;
    let stateBytes = 0;
    for (const [p, o] of this.owned) {
      if (o.state === null) continue;
      const stats = o.state.stats();
      stateKeys += stats.keys;
      stateBytes += stats.stateBytes;
      // From librdkafka's statistics (refreshed every second); before the first fetch, unknown: zero.
      const highOffset = partitionStats?.[String(p)]?.hi_offset ?? -1;
      if (highOffset >= 0) lag += Math.max(0, highOffset - o.nextOffset);
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
    await this.consumer.close().catch(() => {});
    await this.changelog.close().catch(() => {});
    await this.producer.flush();
  }
}

/** The records of `run` from `first` on, for when the start of a run was already reflected in state. */
function skipTo(batch: ConsumedBatch, run: ConsumedRun, first: number): { values: Buffer; ends: Uint32Array } {
  const base = batch.ends[first - 1]!;
  return {
    values: batch.values.subarray(run.valueStart + base, run.valueEnd),
    ends: batch.ends.subarray(first, run.end).map((e) => e - base),
  };
}
