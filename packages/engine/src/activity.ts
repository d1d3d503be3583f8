import { native, type ActivityStatsInfo, type IngestResult, type RejectInfo } from './native.js';
import { call } from './call.js';
import type { PackedBatch } from './batch.js';

export interface ActivityOptions {
  windowSizeMs: number;
  graceMs: number;
  emitIntervalMs: number;
  maxKeysPerWindow: number;
}

export interface ActivityStats extends Omit<ActivityStatsInfo, 'rejected'> {
  rejected: Record<string, number>;
}

const REJECT_REASONS = native.rejectReasons();

/**
 * The activity-count state of one `user-clicks` partition, held in Rust. Every method is one native
 * call; errors are EngineErrors with stable codes.
 */
export class ActivityState {
  private constructor(private readonly engine: InstanceType<typeof native.ActivityEngine>) {}

  static create(options: ActivityOptions): ActivityState {
    return call(() => new ActivityState(new native.ActivityEngine(options)));
  }

  /** Restores from a snapshot; `nextOffset` is the first input offset it does not cover. */
  static restore(snapshot: Buffer, options: ActivityOptions): { state: ActivityState; nextOffset: number } {
    const engine = call(() => native.ActivityEngine.restore(snapshot, options));
    return { state: new ActivityState(engine), nextOffset: engine.restoredNextOffset ?? 0 };
  }

  ingest(batch: PackedBatch, nowMs: number): IngestResult {
    return call(() => this.engine.ingest(batch.values, batch.ends, nowMs));
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

  snapshot(nextOffset: number): Buffer {
    return call(() => this.engine.snapshot(nextOffset));
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

export function engineInfo(): { version: string; target: string } {
  return native.engineInfo();
}
