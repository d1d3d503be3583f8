import { native, type RawRecsOptions, type RecsEvalResult } from './native.js';
import { call } from './call.js';

export type RecsOptions = RawRecsOptions;
export type { RecsEvalResult };

/**
 * Offline evaluation of the streaming recommender (PRODUCT.md §10) on the text of two
 * `SessionId\tItemId\tTime` files; the whole replay runs in the engine, in one call.
 */
export function evaluateRecommender(trainTsv: string, testTsv: string, k: number, options?: RecsOptions): RecsEvalResult {
  return call(() => native.evaluateRecommender(trainTsv, testTsv, k, options));
}
