/**
 * End-to-end latency kept in the store as a log-bucketed histogram (one row per stage, minute and
 * bucket, counts added in the same transaction as the offsets, so a replay after a crash never counts
 * twice). Bucket b ≥ 1 holds latencies in [GROWTH^(b-1), GROWTH^b) ms; bucket 0 holds those under 1 ms
 * (and negative ones from clock skew). Percentiles are reported as a bucket's upper bound: at most 5 %
 * above the true value.
 */
const GROWTH = 1.05;
const LOG_GROWTH = Math.log(GROWTH);

/** Stages measured from the oldest event time a user-activity-counts update reflects. */
export const LATENCY_STAGES = {
  /** → the update's Kafka record timestamp (written by the aggregator). */
  output: 'output',
  /** → the update committed in the store (what the API can serve). */
  stored: 'stored',
} as const;

export function latencyBucket(ms: number): number {
  return ms < 1 ? 0 : 1 + Math.floor(Math.log(ms) / LOG_GROWTH);
}

export function bucketUpperMs(bucket: number): number {
  return bucket === 0 ? 1 : Math.round(GROWTH ** bucket);
}

export interface LatencySummary {
  count: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
}

/** Percentiles from (bucket, count) pairs. */
export function summarize(buckets: readonly { bucket: number; count: number }[]): LatencySummary {
  const sorted = [...buckets].filter((b) => b.count > 0).sort((a, b) => a.bucket - b.bucket);
  const count = sorted.reduce((n, b) => n + b.count, 0);
  if (count === 0) return { count, p50: null, p95: null, p99: null, max: null };
  const at = (q: number) => {
    const rank = Math.ceil(q * count);
    let seen = 0;
    for (const b of sorted) {
      seen += b.count;
      if (seen >= rank) return bucketUpperMs(b.bucket);
    }
    return bucketUpperMs(sorted[sorted.length - 1]!.bucket);
  };
  return { count, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: bucketUpperMs(sorted[sorted.length - 1]!.bucket) };
}
