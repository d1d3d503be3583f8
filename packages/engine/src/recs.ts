import { native, type RawRecsOptions, type RecsEvalResult } from './native.js';
import { call, callAsync } from './call.js';
import type { PackedBatch } from './batch.js';

export type RecsOptions = RawRecsOptions;
export type { RecsEvalResult };

/**
 * Offline evaluation of the streaming recommender (docs/specification.md, "Recommendation evaluation") on the text of two
 * `SessionId\tItemId\tTime` files; the whole replay runs in the engine, in one call.
 */
export function evaluateRecommender(trainTsv: string, testTsv: string, k: number, options?: RecsOptions): RecsEvalResult {
  return call(() => native.evaluateRecommender(trainTsv, testTsv, k, options));
}

export type RecommendationList = import('./native.js').RecommendationList;
export type RecommendedItem = import('./native.js').RecommendedItem;

/** How long the model learns before it lets the event loop answer requests again. */
const LEARN_SLICE_US = 500;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The streaming recommender's state, held in Rust (see crates/pulse-engine/src/recs.rs). Queries are
 * synchronous; a batch is parsed and a snapshot taken on the thread pool, and a batch is learnt on the
 * event loop in slices of half a millisecond, so that it never holds up a request for longer (see
 * `RecsEngine` in crates/pulse-napi).
 */
export class RecsModel {
  private readonly engine: InstanceType<typeof native.RecsEngine>;

  constructor(options?: RecsOptions, engine?: InstanceType<typeof native.RecsEngine>) {
    this.engine = engine ?? new native.RecsEngine(options);
  }

  static restore(snapshot: Buffer, options?: RecsOptions): RecsModel {
    return new RecsModel(options, call(() => native.RecsEngine.restore(snapshot, options)));
  }

  /** Learns from a batch, a slice per event-loop turn; wait for one before giving the next, to keep their order. */
  async ingest(batch: PackedBatch): Promise<{ learned: number; skipped: number; invalid: number }> {
    const counts = await callAsync(() => this.engine.ingest(batch.values, batch.ends));
    while (call(() => this.engine.learnSome(LEARN_SLICE_US)) > 0) await nextTurn();
    return counts;
  }

  recommend(userId: string, k: number, excludeSeen: boolean): RecommendationList {
    return call(() => this.engine.recommend(userId, k, excludeSeen));
  }

  similar(productId: string, k: number): RecommendedItem[] {
    return call(() => this.engine.similar(productId, k));
  }

  /**
   * Takes a snapshot of the model off the JavaScript thread. Resolves once the model is encoded, with
   * the compression into the restorable frame still running in `frame`. Learning pauses for the
   * encoding, but an ingest already running may be partly in the snapshot: for a snapshot that
   * matches the batches fed, wait for their ingests first and start the next after this resolves.
   */
  async snapshot(): Promise<{ frame: Promise<Buffer> }> {
    const encoded = await callAsync(() => this.engine.encodeSnapshot());
    return { frame: callAsync(() => encoded.compress()) };
  }

  stats(): { events: number; items: number; users: number; sessions: number; evictedItems: number } {
    return this.engine.stats();
  }
}
