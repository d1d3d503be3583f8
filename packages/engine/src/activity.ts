import { native, type ActivityStatsInfo, type EncodedState, type IngestResult, type RejectInfo } from './native.js';
import { call, callAsync } from './call.js';
import type { PackedBatch } from './batch.js';

export interface ActivityOptions {
  windowSizeMs: number;
  graceMs: number;
  emitIntervalMs: number;
  maxKeysPerWindow: number;
  /** The input partition, named in the click-metric records (default 0). */
  partition?: number;
  /** Products each top-K summary monitors (default 1000). */
  topKCapacity?: number;
  /** Products each top-K record lists (default 10). */
  topKSize?: number;
  /** HyperLogLog precision p, 4..16 (default 14: standard error 1.04/√2^p = 0.81 %). */
  hllPrecision?: number;
  /** How far ahead of its record's Kafka timestamp (or the wall clock, if earlier) an event time may be; further is rejected as `future` (default: no bound). */
  maxFutureMs?: number;
  /** Partitions of the input topic; with it, a record whose key belongs to another partition is rejected as `wrong_partition`. */
  partitions?: number;
}

export interface PurchaseOptions {
  partition: number;
  graceMs: number;
  emitIntervalMs: number;
  maxKeysPerWindow: number;
  topKCapacity?: number;
  topKSize?: number;
  hllPrecision?: number;
  /** How far ahead of its record's Kafka timestamp (or the wall clock, if earlier) an event time may be; further is rejected as `future` (default: no bound). */
  maxFutureMs?: number;
  /** Partitions of the input topic; with it, a record whose key belongs to another partition is rejected as `wrong_partition`. */
  partitions?: number;
}

export interface SensorOptions {
  graceMs: number;
  emitIntervalMs: number;
  maxKeysPerWindow: number;
  /** Weight of the newest reading in the EWMA, in (0, 1] (default 0.1). */
  ewmaAlpha?: number;
  /** The input partition (default 0). */
  partition?: number;
  /** How far ahead of its record's Kafka timestamp (or the wall clock, if earlier) an event time may be; further is rejected as `future` (default: no bound). */
  maxFutureMs?: number;
  /** Partitions of the input topic; with it, a record whose key belongs to another partition is rejected as `wrong_partition`. */
  partitions?: number;
}

/** A partition restored from its last whole snapshot and the deltas after it (see PartitionState.encodeDelta). */
export interface RestoredCheckpoint<S> {
  state: S;
  /** The first input offset the restored state does not cover. */
  nextOffset: number;
  /** Why deltas were left out (one did not follow the chain), if they were; the state is then as of the last applied. */
  warning: string | null;
}

export interface ActivityStats extends Omit<ActivityStatsInfo, 'rejected'> {
  rejected: Record<string, number>;
}

/** What every native per-partition engine offers (ActivityEngine, PurchasesEngine, SensorEngine). */
interface NativePartition {
  readonly restoredNextOffset: number | null;
  readonly pendingOutput: number;
  ingest(values: Uint8Array, ends: Uint32Array, recordTimes: Float64Array, nowMs: number): IngestResult;
  takeRejects(): RejectInfo[];
  flushDue(nowMs: number): number;
  takeOutput(): Buffer;
  encodeBase(nextOffset: number, chain: number): EncodedState;
  encodeDelta(nextOffset: number): EncodedState | null;
  readonly chain: number[];
  readonly restoreWarning: string | null;
  takeLatency(): Uint32Array;
  stats(): ActivityStatsInfo;
}

const REJECT_REASONS = native.rejectReasons();
const NO_TIMES = new Float64Array(0);

/**
 * The state of one input partition, held in Rust. Every method is one native call; errors are
 * EngineErrors with stable codes. The three kinds of partition share this interface, so that the
 * aggregator treats them alike.
 */
export class PartitionState {
  protected constructor(private readonly engine: NativePartition) {}

  /** Wraps an engine restored from a checkpoint with the offset it covers up to and why deltas were left out, if they were. */
  protected static fromCheckpoint<S extends PartitionState>(state: S, engine: NativePartition): RestoredCheckpoint<S> {
    return { state, nextOffset: engine.restoredNextOffset ?? 0, warning: engine.restoreWarning };
  }

  ingest(batch: PackedBatch, nowMs: number): IngestResult {
    return call(() => this.engine.ingest(batch.values, batch.ends, batch.times ?? NO_TIMES, nowMs));
  }

  takeRejects(): RejectInfo[] {
    return this.engine.takeRejects();
  }

  flushDue(nowMs: number): number {
    return call(() => this.engine.flushDue(nowMs));
  }

  get pendingOutput(): number {
    return this.engine.pendingOutput;
  }

  takeOutput(): Buffer {
    return this.engine.takeOutput();
  }

  /**
   * The whole state covering offsets before `nextOffset`, starting delta chain `chain` (1 to 2³²−1):
   * encoded here, a consistent cut; `compress()` runs on the thread pool.
   */
  encodeBase(nextOffset: number, chain: number): EncodedState {
    return call(() => this.engine.encodeBase(nextOffset, chain));
  }

  /** What changed since the last checkpoint, as the next delta of the chain; null where the state is always written whole, or no chain has started. */
  encodeDelta(nextOffset: number): EncodedState | null {
    return call(() => this.engine.encodeDelta(nextOffset));
  }

  /** The delta chain this state continues (0: none yet) and the deltas written or applied since its whole snapshot. */
  get chain(): { chain: number; seq: number } {
    const [chain = 0, seq = 0] = this.engine.chain;
    return { chain, seq };
  }

  takeLatency(): Uint32Array {
    return this.engine.takeLatency();
  }

  stats(): ActivityStats {
    const s = this.engine.stats();
    const rejected: Record<string, number> = {};
    REJECT_REASONS.forEach((reason, i) => (rejected[reason] = s.rejected[i] ?? 0));
    return { ...s, rejected };
  }
}

/** A `user-clicks` partition: activity counts plus top products, unique users and the click side of the funnel. */
export class ActivityState extends PartitionState {
  static create(options: ActivityOptions): ActivityState {
    return call(() => new ActivityState(new native.ActivityEngine(options)));
  }

  /** Restores from a whole snapshot and the deltas after it, oldest first, off the event loop. */
  static async restoreCheckpoint(snapshot: Buffer, deltas: Buffer[], options: ActivityOptions): Promise<RestoredCheckpoint<ActivityState>> {
    const engine = await callAsync(() => native.ActivityEngine.restoreCheckpoint(snapshot, deltas, options));
    return PartitionState.fromCheckpoint(new ActivityState(engine), engine);
  }
}

/** A `user-purchases` partition: revenue, purchased products and the purchase side of the funnel. */
export class PurchasesState extends PartitionState {
  static create(options: PurchaseOptions): PurchasesState {
    return call(() => new PurchasesState(new native.PurchasesEngine(options)));
  }

  /** Restores from a whole snapshot and the deltas after it, oldest first, off the event loop. */
  static async restoreCheckpoint(snapshot: Buffer, deltas: Buffer[], options: PurchaseOptions): Promise<RestoredCheckpoint<PurchasesState>> {
    const engine = await callAsync(() => native.PurchasesEngine.restoreCheckpoint(snapshot, deltas, options));
    return PartitionState.fromCheckpoint(new PurchasesState(engine), engine);
  }
}

/** A `sensor-data` partition: per-sensor statistics and EWMA anomaly scores. */
export class SensorState extends PartitionState {
  static create(options: SensorOptions): SensorState {
    return call(() => new SensorState(new native.SensorEngine(options)));
  }

  /** Restores from a whole snapshot and the deltas after it, oldest first, off the event loop. */
  static async restoreCheckpoint(snapshot: Buffer, deltas: Buffer[], options: SensorOptions): Promise<RestoredCheckpoint<SensorState>> {
    const engine = await callAsync(() => native.SensorEngine.restoreCheckpoint(snapshot, deltas, options));
    return PartitionState.fromCheckpoint(new SensorState(engine), engine);
  }
}

export function engineInfo(): { version: string; target: string } {
  return native.engineInfo();
}

/** The partition of `key` among `partitions` under Kafka's default partitioner (murmur2). */
export function kafkaPartition(key: string, partitions: number): number {
  return call(() => native.kafkaPartition(key, partitions));
}
