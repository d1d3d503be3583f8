import { randomInt } from 'node:crypto';
import type { PulseConfig } from '@pulse/config';
import {
  ActivityState,
  PurchasesState,
  SensorState,
  createLatencyHistogram,
  foldEngineLatency,
  runValues,
  OutputKind,
  type ConsumedBatch,
  type ConsumedRun,
  type Histogram,
  type EncodedState,
  type PackedBatch,
  type PartitionState,
  type RestoredCheckpoint,
} from '@pulse/engine';
import { describeGap, type RetentionGap } from '@pulse/dead-letters';
import { TOPICS } from '@pulse/kafka';
import { createLogger, type Log } from '@pulse/log';
import { INPUT_TOPICS, baseRecords, deltaRecord, partTombstones, snapshotKey, type ChangelogRecord, type StoredCheckpoint } from './changelog.js';
import { connectKafka, type AggregatorIO, type TopicPartition } from './kafka-io.js';
import { overdue, wholeSnapshots } from './whole-snapshots.js';

/** The topic of each kind of engine output (crates/pulse-engine/src/output.rs). */
const OUTPUT_TOPICS: Record<number, string> = {
  [OutputKind.ActivityCount]: TOPICS.userActivityCounts,
  [OutputKind.Revenue]: TOPICS.revenue,
  [OutputKind.TopProducts]: TOPICS.topProducts,
  [OutputKind.UniqueUsers]: TOPICS.uniqueUsers,
  [OutputKind.Funnel]: TOPICS.funnel,
  [OutputKind.SensorStats]: TOPICS.sensorStats,
};

/** librdkafka's logical offset "beginning of the partition". */
const OFFSET_BEGINNING = -2;

interface OwnedPartition {
  readonly tp: TopicPartition;
  /** Null while its snapshot is being restored. */
  state: PartitionState | null;
  /** First offset not yet reflected in `state`. */
  nextOffset: number;
  /** Processed records since the last checkpoint. */
  dirty: boolean;
  /** Encoded bytes of the last whole snapshot and of the deltas since, to judge when a whole one is cheaper. */
  baseBytes: number;
  deltaBytes: number;
  /** The parts of the last whole snapshot, if it was written in parts: removed once a newer one is acknowledged. */
  parts: { chain: number; count: number } | null;
}

/** One partition's checkpoint: encoded at a consistent cut, then compressed off the event loop and written. */
interface TakenCheckpoint {
  readonly owned: OwnedPartition;
  readonly offset: number;
  readonly encoded: EncodedState;
  /** Set for a whole snapshot: its chain. */
  readonly chain: number | null;
  readonly seq: number;
}

export interface AggregatorCounters {
  consumed: number;
  accepted: number;
  deadLetters: number;
  outputs: number;
  checkpoints: number;
  /** Partition checkpoints written whole, and as deltas. */
  wholeSnapshots: number;
  deltas: number;
  /** Compressed bytes written to the changelog. */
  checkpointBytes: number;
  /** The longest synchronous encode of one partition's checkpoint (a turn of the event loop), ms. */
  longestEncodeMs: number;
  /** From the start of the last checkpoint to its offsets committed, ms. */
  lastCheckpointMs: number;
  restores: number;
  /** Records that retention deleted before they were processed (see restore). */
  skippedRecords: number;
}

export interface AggregatorProgress extends AggregatorCounters {
  /** Owned input partitions as `topic/partition`. */
  partitions: string[];
  /**
   * Records behind the end of the owned partitions. A high watermark is only as fresh as the last fetch,
   * and the client stops fetching while its local queue is full, so the lag is at least what waits in
   * that queue.
   */
  lag: number;
  /** Records fetched into the Kafka client's local queue and not yet consumed. */
  fetchQueue: number;
  stateKeys: number;
  stateBytes: number;
  /** Resident memory of the whole process (engine state, client queues, JavaScript heap). */
  rssBytes: number;
}

export interface AggregatorReadiness {
  ready: boolean;
  /** What keeps it from being ready (empty when ready). */
  reasons: string[];
  partitions: number;
  restoring: number;
  lag: number;
  checkpointAgeMs: number;
}

/** What readiness is judged on. */
export interface ReadinessFacts {
  /** The error the aggregator stopped on, if any. */
  error: string | null;
  partitions: number;
  restoring: number;
  lag: number;
  checkpointAgeMs: number;
}

/** Ready: no error, every assigned partition restored, lag and checkpoint age within their bounds. */
export function readinessOf(f: ReadinessFacts, bounds: { readyMaxLag: number; readyMaxCheckpointAgeMs: number }): AggregatorReadiness {
  const reasons: string[] = [];
  if (f.error !== null) reasons.push(`stopped on an error: ${f.error}`);
  if (f.restoring > 0) reasons.push(`${f.restoring} of ${f.partitions} assigned partitions still restoring`);
  if (f.lag > bounds.readyMaxLag) reasons.push(`lag of ${f.lag} records, above aggregator.readyMaxLag (${bounds.readyMaxLag})`);
  if (f.checkpointAgeMs > bounds.readyMaxCheckpointAgeMs) {
    reasons.push(`last checkpoint ${Math.round(f.checkpointAgeMs / 1000)} s ago, above aggregator.readyMaxCheckpointAgeMs (${bounds.readyMaxCheckpointAgeMs / 1000} s)`);
  }
  return { ready: reasons.length === 0, reasons, partitions: f.partitions, restoring: f.restoring, lag: f.lag, checkpointAgeMs: f.checkpointAgeMs };
}

const ownedKey = (topic: string, partition: number) => `${topic}/${partition}`;

/**
 * A member of the aggregator consumer group on `user-clicks`, `user-purchases` and `sensor-data`.
 * Each assigned (topic, partition) has its own engine state: activity counts and click metrics,
 * purchase metrics, or sensor statistics. On assignment it restores the partition's latest snapshot
 * from the changelog and seeks to the offset that snapshot covers; each consumed batch crosses into
 * the Rust engine in one call per partition; outputs are routed by kind to their topics, rejects go
 * to dead-letters; every `commitIntervalMs` it checkpoints: outputs acknowledged, then snapshots
 * written and acknowledged, then offsets committed. The snapshot is the truth (state plus the offset
 * it covers), so a crash anywhere replays from the last snapshot and counts every event exactly once;
 * outputs carry absolute values, so the records replayed after a crash repeat the same values.
 * Kafka is reached only through `AggregatorIO` (kafka-io.ts).
 */
export class Aggregator {
  private io!: AggregatorIO;
  private readonly owned = new Map<string, OwnedPartition>();
  private restoreQueue: Promise<void> = Promise.resolve();
  /** Assigned partitions waiting for the restore queue. */
  private toRestore: TopicPartition[] = [];
  /** Revoked partitions not logged yet. */
  private revoked: TopicPartition[] = [];
  private stopping = false;
  private loopDone: Promise<void> = Promise.resolve();
  private lastCheckpoint = Date.now();
  /** When the last checkpoint finished (or found nothing to write). */
  private lastCheckpointDone = Date.now();
  private checkpointing: Promise<void> | null = null;
  private fatal: Error | null = null;
  /** Dead letters by `pulse.error.reason`. */
  readonly deadLetterReasons = new Map<string, number>();
  readonly counters: AggregatorCounters = { consumed: 0, accepted: 0, deadLetters: 0, outputs: 0, checkpoints: 0, wholeSnapshots: 0, deltas: 0, checkpointBytes: 0, longestEncodeMs: 0, lastCheckpointMs: 0, restores: 0, skippedRecords: 0 };

  constructor(
    private readonly config: PulseConfig,
    private readonly log: Log = createLogger('aggregator', config.log),
  ) {}

  async start(): Promise<void> {
    this.io = await connectKafka(this.config, INPUT_TOPICS, OUTPUT_TOPICS, {
      assigned: (tps) => this.onAssigned(tps),
      revoked: (tps) => this.onRevoked(tps),
    });
    this.loopDone = this.loop();
  }

  /** Resolves when the aggregator stops; rejects if it stopped on an error. */
  done(): Promise<void> {
    return this.loopDone;
  }

  private onAssigned(tps: TopicPartition[]): void {
    for (const tp of tps) this.owned.set(ownedKey(tp.topic, tp.partition), { tp, state: null, nextOffset: -1, dirty: false, baseBytes: 0, deltaBytes: 0, parts: null });
    // A rebalance arrives a partition at a time: the ones assigned meanwhile are restored together.
    this.toRestore.push(...tps);
    this.restoreQueue = this.restoreQueue.then(() => this.restore(this.toRestore.splice(0))).catch((e: Error) => this.fail(e));
  }

  private onRevoked(tps: TopicPartition[]): void {
    // The new owner restores from the changelog; state since our last checkpoint is replayed there.
    for (const tp of tps) this.owned.delete(ownedKey(tp.topic, tp.partition));
    // One line for the partitions of one rebalance, which arrive one at a time.
    if (this.revoked.length === 0) queueMicrotask(() => this.log.info(`revoked partitions ${describe(this.revoked.splice(0))}`));
    this.revoked.push(...tps);
  }

  /**
   * A new engine state for an input partition, or one restored from its checkpoint on the thread pool
   * (decoding millions of users takes far longer than a turn of the event loop may), by its topic.
   */
  private async openState(tp: TopicPartition, checkpoint: StoredCheckpoint | null, partitions: number | undefined): Promise<RestoredCheckpoint<PartitionState>> {
    const a = this.config.aggregator;
    const common = { partition: tp.partition, partitions, graceMs: a.graceMs, emitIntervalMs: a.emitIntervalMs, maxKeysPerWindow: a.maxKeysPerWindow, maxFutureMs: a.maxFutureMs };
    const sketches = { topKCapacity: a.topKCapacity, topKSize: Math.min(a.topKSize, a.topKCapacity), hllPrecision: a.hllPrecision };
    const fresh = <S extends PartitionState>(state: S) => ({ state, nextOffset: OFFSET_BEGINNING, warning: null });
    switch (tp.topic) {
      case TOPICS.userClicks: {
        const options = { ...common, ...sketches, windowSizeMs: a.windowSizeMs };
        return checkpoint ? ActivityState.restoreCheckpoint(checkpoint.base, checkpoint.deltas, options) : fresh(ActivityState.create(options));
      }
      case TOPICS.userPurchases: {
        const options = { ...common, ...sketches };
        return checkpoint ? PurchasesState.restoreCheckpoint(checkpoint.base, checkpoint.deltas, options) : fresh(PurchasesState.create(options));
      }
      case TOPICS.sensorData: {
        const options = { ...common, ewmaAlpha: a.ewmaAlpha };
        return checkpoint ? SensorState.restoreCheckpoint(checkpoint.base, checkpoint.deltas, options) : fresh(SensorState.create(options));
      }
      default:
        throw new Error(`assigned ${tp.topic}, which the aggregator does not consume`);
    }
  }

  private async restore(tps: TopicPartition[]): Promise<void> {
    if (tps.length === 0) return;
    const started = Date.now();
    /** Topic → partitions restored, and how many of them from a snapshot. */
    const restoredOf = new Map<string, { partitions: number; fromSnapshots: number }>();
    const checkpoints = await this.io.readCheckpoints(tps);
    const partitionCounts = await this.partitionCounts(tps);
    const logStarts = new Map<string, Map<number, number>>();
    const gaps: RetentionGap[] = [];
    // Decoded side by side on the thread pool.
    const opened = await Promise.all(tps.map((tp) => this.openState(tp, checkpoints.get(snapshotKey(tp.topic, tp.partition)) ?? null, partitionCounts.get(tp.topic))));
    for (const [i, tp] of tps.entries()) {
      const key = ownedKey(tp.topic, tp.partition);
      const owned = this.owned.get(key);
      if (owned === undefined || owned.state !== null) continue;
      const snapshot = checkpoints.get(snapshotKey(tp.topic, tp.partition)) ?? null;
      const restored = opened[i]!;
      if (restored.warning !== null) this.log.warn(`${tp.topic}/${tp.partition}: ${restored.warning}`);
      let nextOffset = restored.nextOffset;
      // Records deleted by retention while no one processed them are skipped, and said so, never silently.
      if (snapshot !== null && nextOffset >= 0) {
        if (!logStarts.has(tp.topic)) logStarts.set(tp.topic, await this.io.logStart(tp.topic));
        const first = logStarts.get(tp.topic)!.get(tp.partition) ?? 0;
        if (nextOffset < first) {
          gaps.push({ topic: tp.topic, partition: tp.partition, from: nextOffset, to: first });
          nextOffset = first;
        }
      }
      await this.io.seek(tp, nextOffset, () => this.owned.get(key) === owned);
      if (this.owned.get(key) !== owned) continue; // revoked while restoring
      owned.state = restored.state;
      owned.nextOffset = Math.max(nextOffset, 0);
      // A partition without a checkpoint gets a whole (empty) one at once, so that no later restore
      // searches the changelog to its start for a key never written.
      owned.dirty ||= nextOffset !== restored.nextOffset || snapshot === null;
      owned.parts = snapshot?.parts ?? null;
      this.io.resume([tp]);
      this.counters.restores++;
      const r = restoredOf.get(tp.topic) ?? { partitions: 0, fromSnapshots: 0 };
      restoredOf.set(tp.topic, { partitions: r.partitions + 1, fromSnapshots: r.fromSnapshots + (snapshot === null ? 0 : 1) });
    }
    const restored = [...restoredOf.values()].reduce((n, r) => n + r.partitions, 0);
    const byTopic = [...restoredOf].map(([topic, r]) => `${topic} ${r.partitions} (${r.fromSnapshots} from snapshots)`).join(', ');
    if (restored > 0) this.log.info(`restored ${restored} partitions in ${Date.now() - started} ms: ${byTopic}; those without one read from the beginning`);
    for (const g of gaps) {
      this.counters.skippedRecords += g.to - g.from;
      this.log.warn(`${describeGap(g)}`);
    }
    await this.io.recordGaps(gaps);
  }

  /** With the murmur2 check on, the partition count of each topic of `tps`, read now: a topic may have grown. */
  private async partitionCounts(tps: TopicPartition[]): Promise<Map<string, number>> {
    if (this.config.aggregator.partitioner !== 'murmur2') return new Map();
    const topics = [...new Set(tps.map((tp) => tp.topic))];
    return new Map(await Promise.all(topics.map(async (topic) => [topic, await this.io.partitionCount(topic)] as const)));
  }

  private fail(err: Error): void {
    this.fatal ??= err;
    this.stopping = true;
  }

  private async loop(): Promise<void> {
    const batchSize = this.config.aggregator.consumeBatchSize;
    const pollTimeoutMs = Math.min(100, Math.max(5, this.config.aggregator.emitIntervalMs));
    while (!this.stopping) {
      const batch = await this.io.consume(batchSize, pollTimeoutMs).catch((err: Error) => {
        this.fail(err);
        return null;
      });
      if (this.stopping || batch === null) break;
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
      const owned = this.owned.get(ownedKey(this.io.topicOf(run), run.partition));
      // Records of a partition still restoring were fetched before the pause; the seek re-reads them.
      if (owned === undefined || owned.state === null) continue;
      // After a restore the snapshot, not the committed offset, says where the state ends.
      let first = run.start;
      while (first < run.end && batch.offsets[first]! < owned.nextOffset) first++;
      if (first === run.end) continue;
      const result = owned.state.ingest(first === run.start ? runValues(batch, run) : skipTo(batch, run, first), now);
      this.counters.accepted += result.accepted;
      if (result.rejected > 0) {
        for (const reject of owned.state.takeRejects()) {
          await this.io.deadLetter(batch, run, first + reject.index, reject.reason, reject.detail);
          this.counters.deadLetters++;
          this.deadLetterReasons.set(reject.reason, (this.deadLetterReasons.get(reject.reason) ?? 0) + 1);
        }
      }
      owned.nextOffset = batch.offsets[run.end - 1]! + 1;
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

  private async writeOutput(state: PartitionState): Promise<void> {
    if (state.pendingOutput === 0) return;
    this.counters.outputs += await this.io.sendOutputs(state.takeOutput());
  }

  /** Starts a checkpoint if one is due and none is running; it proceeds while consumption goes on. */
  private maybeCheckpoint(now: number): void {
    if (this.checkpointing !== null || now - this.lastCheckpoint < this.config.aggregator.commitIntervalMs) return;
    this.lastCheckpoint = now;
    this.checkpointing = this.checkpoint()
      .then(() => {
        this.lastCheckpointDone = Date.now();
      })
      .catch((err: Error) => this.fail(err))
      .finally(() => (this.checkpointing = null));
  }

  /**
   * Outputs acknowledged → checkpoints written and acknowledged → offsets committed. A checkpoint is
   * only written once every output it covers is acknowledged, so no restore can skip an output that
   * was lost. Each partition's state is encoded synchronously (a consistent cut at its own offset),
   * one partition per turn of the event loop; compression runs on the thread pool and the waiting
   * happens while the loop goes on. A user-clicks partition writes deltas (what changed since its
   * last checkpoint) between whole snapshots, so that a large, slowly changing state costs what changed.
   */
  private async checkpoint(): Promise<void> {
    const maxDeltas = this.config.aggregator.maxDeltas;
    // The changed partitions, and the unchanged ones whose whole snapshot is overdue: an idle moment
    // is a good one to shorten a chain, and its restores.
    const chains = [...this.owned.values()]
      .filter((o) => o.state !== null)
      .map((o) => ({ o, ...o.state!.chain, baseBytes: o.baseBytes, deltaBytes: o.deltaBytes }))
      .filter((c) => c.o.dirty || overdue(c, maxDeltas) >= 1);
    if (chains.length === 0) return;
    const started = performance.now();
    const taken: TakenCheckpoint[] = [];
    const whole = wholeSnapshots(chains, maxDeltas);
    for (const c of chains) {
      const o = c.o;
      if (o.state === null || this.owned.get(ownedKey(o.tp.topic, o.tp.partition)) !== o || (!o.dirty && !whole.has(c))) continue;
      const encodeStarted = performance.now();
      const delta = whole.has(c) ? null : o.state.encodeDelta(o.nextOffset);
      if (delta !== null) {
        taken.push({ owned: o, offset: o.nextOffset, encoded: delta, chain: null, seq: c.seq + 1 });
        o.deltaBytes += delta.encodedBytes;
      } else {
        const newChain = nextChain(c.chain);
        const base = o.state.encodeBase(o.nextOffset, newChain);
        taken.push({ owned: o, offset: o.nextOffset, encoded: base, chain: newChain, seq: 0 });
        o.baseBytes = base.encodedBytes;
        o.deltaBytes = 0;
      }
      o.dirty = false;
      this.counters.longestEncodeMs = Math.max(this.counters.longestEncodeMs, performance.now() - encodeStarted);
      await new Promise((resolve) => setImmediate(resolve));
    }
    const frames = await Promise.all(taken.map((t) => t.encoded.compress()));
    await this.io.acknowledged();
    const replacedParts: { owned: OwnedPartition; parts: { chain: number; count: number } }[] = [];
    for (const [i, t] of taken.entries()) {
      const key = snapshotKey(t.owned.tp.topic, t.owned.tp.partition);
      let records: ChangelogRecord[];
      if (t.chain === null) {
        records = [deltaRecord(key, t.seq, frames[i]!)];
        this.counters.deltas++;
      } else {
        records = baseRecords(key, t.chain, frames[i]!, this.config.aggregator.snapshotPartBytes);
        if (t.owned.parts !== null) replacedParts.push({ owned: t.owned, parts: t.owned.parts });
        t.owned.parts = records.length > 1 ? { chain: t.chain, count: records.length - 1 } : null;
        this.counters.wholeSnapshots++;
      }
      this.counters.checkpointBytes += frames[i]!.length;
      await this.io.writeCheckpoint(t.owned.tp, records);
    }
    await this.io.acknowledged();
    for (const r of replacedParts) await this.io.writeCheckpoint(r.owned.tp, partTombstones(snapshotKey(r.owned.tp.topic, r.owned.tp.partition), r.parts.chain, r.parts.count));
    const offsets = taken.filter((t) => this.owned.get(ownedKey(t.owned.tp.topic, t.owned.tp.partition)) === t.owned).map((t) => ({ ...t.owned.tp, offset: t.offset }));
    try {
      this.io.commit(offsets);
    } catch (err) {
      // Committed offsets only feed lag monitoring; the checkpoint already says where to resume.
      this.log.warn(`offset commit failed: ${(err as Error).message}`);
    }
    this.counters.checkpoints++;
    this.counters.lastCheckpointMs = performance.now() - started;
  }

  /** Event time → reflected in state, since the last call (folded from each partition's engine buckets). */
  takeLatency(): Histogram {
    const h = createLatencyHistogram();
    for (const o of this.owned.values()) if (o.state !== null) foldEngineLatency(h, o.state.takeLatency());
    return h;
  }

  progress(): AggregatorProgress {
    let lag = 0;
    let fetchQueue = 0;
    let stateKeys = 0;
    let stateBytes = 0;
    for (const o of this.owned.values()) {
      if (o.state === null) continue;
      const stats = o.state.stats();
      stateKeys += stats.keys;
      stateBytes += stats.stateBytes;
      // Unknown before the first fetch response: counted as zero.
      const high = this.io.highWatermark(o.tp);
      if (high !== null) lag += Math.max(0, high - o.nextOffset);
      fetchQueue = Math.max(fetchQueue, this.io.fetchQueue(o.tp));
    }
    const topicOrder = (tp: TopicPartition) => (INPUT_TOPICS as readonly string[]).indexOf(tp.topic);
    const partitions = [...this.owned.values()]
      .map((o) => o.tp)
      .sort((a, b) => topicOrder(a) - topicOrder(b) || a.partition - b.partition)
      .map((tp) => ownedKey(tp.topic, tp.partition));
    return { ...this.counters, partitions, lag: Math.max(lag, fetchQueue), fetchQueue, stateKeys, stateBytes, rssBytes: process.memoryUsage.rss() };
  }

  /**
   * Whether this member does its work now: every assigned partition restored, lag within
   * aggregator.readyMaxLag, a checkpoint within aggregator.readyMaxCheckpointAgeMs, no fatal error.
   */
  readiness(now = Date.now()): AggregatorReadiness {
    return readinessOf(
      {
        error: this.fatal?.message ?? null,
        partitions: this.owned.size,
        restoring: [...this.owned.values()].filter((o) => o.state === null).length,
        lag: this.progress().lag,
        checkpointAgeMs: now - this.lastCheckpointDone,
      },
      this.config.aggregator,
    );
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
    if (!this.fatal) await this.checkpoint().catch((err: Error) => this.log.warn(`final checkpoint failed: ${err.message}`));
    await this.io.close();
  }
}

/** A new delta chain id, never 0 (no chain) and never the current one. */
function nextChain(current: number): number {
  for (;;) {
    const chain = randomInt(1, 2 ** 32);
    if (chain !== current) return chain;
  }
}

/** `user-clicks 0, 1, 2; sensor-data 5` */
function describe(tps: TopicPartition[]): string {
  const byTopic = new Map<string, number[]>();
  for (const tp of tps) {
    let list = byTopic.get(tp.topic);
    if (list === undefined) byTopic.set(tp.topic, (list = []));
    list.push(tp.partition);
  }
  return [...byTopic].map(([topic, ps]) => `${topic} ${ps.sort((a, b) => a - b).join(', ')}`).join('; ');
}

/** The records of `run` from `first` on, for when the start of a run was already reflected in state. */
function skipTo(batch: ConsumedBatch, run: ConsumedRun, first: number): PackedBatch {
  const base = batch.ends[first - 1]!;
  return {
    values: batch.values.subarray(run.valueStart + base, run.valueEnd),
    ends: batch.ends.subarray(first, run.end).map((e) => e - base),
    times: batch.timestamps.subarray(first, run.end),
  };
}
