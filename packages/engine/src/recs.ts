import { native, type RawRecsOptions, type RecsEvalResult } from './native.js';
import { call, callAsync } from './call.js';
import type { PackedBatch } from './batch.js';

export type RecsOptions = RawRecsOptions;
export type { RecsEvalResult };

/**
 * Offline evaluation of the streaming recommender (PRODUCT.md §10) on the text of two
 * `SessionId\tItemId\tTime` files; the whole replay runs in the engine, in one call.
 */
export function evaluateRecommender(trainTsv: string, testTsv: string, k: number, options?: RecsOptions): RecsEvalResult {
  return call(() => native.evaluateRecommender(trainTsv, testTsv, k, options));
}

export type RecommendationList = import('./native.js').RecommendationList;
export type RecommendedItem = import('./native.js').RecommendedItem;

/**
 * The streaming recommender's state, held in Rust (see crates/pulse-engine/src/recs.rs). Queries are
 * synchronous; learning and snapshots run on the thread pool, so they never hold up a query for more
 * than one event's update (see `RecsEngine` in crates/pulse-napi).
 */
export class RecsModel {
  private readonly engine: InstanceType<typeof native.RecsEngine>;

  constructor(options?: RecsOptions, engine?: InstanceType<typeof native.RecsEngine>) {
    this.engine = engine ?? new native.RecsEngine(options);
  }

  static restore(snapshot: Buffer, options?: RecsOptions): RecsModel {
    return new RecsModel(options, call(() => native.RecsEngine.restore(snapshot, options)));
  }

  /** Learns from a batch off the JavaScript thread; wait for one before giving the next, to keep their order. */
  ingest(batch: PackedBatch): Promise<{ learned: number; skipped: number; invalid: number }> {
    return callAsync(() => this.engine.ingest(batch.values, batch.ends));
  }

  recommend(userId: string, k: number, excludeSeen: boolean): RecommendationList {
    return call(() => this.engine.recommend(userId, k, excludeSeen));
  }

  similar(productId: string, k: number): RecommendedItem[] {
    return call(() => this.engine.similar(productId, k));
  }

  /**
   * Takes a snapshot of the model as it is once everything fed so far is learnt: resolves when the
   * model is encoded (no ingest may run until then, or it would be part of the snapshot), with the
   * compression into the restorable frame still running off the thread in `frame`.
   */
  async snapshot(): Promise<{ frame: Promise<Buffer> }> {
    const encoded = await callAsync(() => this.engine.encodeSnapshot());
    return { frame: callAsync(() => encoded.compress()) };
  }

  stats(): { events: number; items: number; users: number; pairs: number; droppedItems: number } {
    return this.engine.stats();
  }
}
