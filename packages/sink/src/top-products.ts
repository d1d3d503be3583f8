/** One Space-Saving summary: true count of a listed product ∈ [count - error, count]; of any other ≤ threshold. */
export interface SpaceSavingSummary {
  threshold: number;
  items: readonly { productId: string; count: number; error: number }[];
}

export interface MergedItem {
  productId: string;
  /** Upper bound of the true count: the sum of the listed counts and of the thresholds of the summaries that do not list it. */
  count: number;
  /** count - lower bound. */
  error: number;
  /** Lower bound of the true count. */
  lower: number;
}

export interface MergedTop {
  items: MergedItem[];
  /**
   * How many leading items are certain to be in this order at the top: item i is, when its lower bound
   * is at least the upper bound of every item after it (listed or not).
   */
  exactLeading: number;
  /** Upper bound of any product listed by no summary. */
  unlistedUpper: number;
}

/**
 * Merges Space-Saving summaries of disjoint streams (partitions, windows): counts and errors add up,
 * and a summary that does not list a product contributes its threshold to both (its true count there is
 * anywhere in [0, threshold]). The result is the top k by upper bound, ties by lower bound then id.
 */
export function mergeTopProducts(summaries: readonly SpaceSavingSummary[], k: number): MergedTop {
  const totalThreshold = summaries.reduce((n, s) => n + s.threshold, 0);
  const acc = new Map<string, { count: number; error: number; listedThreshold: number }>();
  for (const s of summaries) {
    for (const it of s.items) {
      const a = acc.get(it.productId) ?? { count: 0, error: 0, listedThreshold: 0 };
      a.count += it.count;
      a.error += it.error;
      a.listedThreshold += s.threshold;
      acc.set(it.productId, a);
    }
  }
  const all: MergedItem[] = [...acc].map(([productId, a]) => {
    const unlisted = totalThreshold - a.listedThreshold;
    const count = a.count + unlisted;
    const error = a.error + unlisted;
    return { productId, count, error, lower: count - error };
  });
  all.sort((a, b) => b.count - a.count || b.lower - a.lower || (a.productId < b.productId ? -1 : 1));
  // Best upper bound of everything after position i, products listed nowhere included.
  const suffixMax = new Array<number>(all.length + 1);
  suffixMax[all.length] = totalThreshold;
  for (let i = all.length - 1; i >= 0; i--) suffixMax[i] = Math.max(all[i]!.count, suffixMax[i + 1]!);
  let exactLeading = 0;
  while (exactLeading < Math.min(k, all.length) && all[exactLeading]!.lower >= suffixMax[exactLeading + 1]!) exactLeading++;
  return { items: all.slice(0, k), exactLeading, unlistedUpper: totalThreshold };
}
