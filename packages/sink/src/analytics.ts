import { LATENCY_STAGES, summarize, type LatencySummary } from './latency.js';
import type { KafkaMonitor, KafkaSnapshot } from './monitor.js';
import type { QueryRow, Store } from './store.js';
import { TABLES } from './tables.js';
import { mergeTopProducts, type MergedItem } from './top-products.js';

/** Rows an answer holds at most; longer answers are cut and say so (`truncated`). */
export const MAX_ROWS = 10_000;
const MINUTE = 60_000;
/** The aggregator's top-products and funnel window. */
export const TOP_WINDOW_MS = 5 * MINUTE;
/** Range of the latency percentiles in the overview. */
const LATENCY_RANGE_MS = 5 * MINUTE;

export const BUCKETS: Readonly<Record<string, number>> = { '1m': MINUTE, '5m': 5 * MINUTE, '15m': 15 * MINUTE, '1h': 60 * MINUTE, '1d': 1440 * MINUTE };
/** Top-products windows: the last one, or the last several 5-minute windows merged. */
export const TOP_WINDOWS: Readonly<Record<string, number>> = { '5m': 1, '15m': 3, '30m': 6, '1h': 12 };

/** Time range [from, to) in ms since the epoch. */
export interface Range {
  from: number;
  to: number;
}

const cut = <T>(rows: T[]) => ({ rows: rows.slice(0, MAX_ROWS), truncated: rows.length > MAX_ROWS });

export interface Overview {
  kafka: KafkaSnapshot;
  latencyMs: { output: LatencySummary; stored: LatencySummary; sinceMs: number };
  store: { kind: string };
}

/** The queries the API asks; `pulse serve` has them answered by the process that owns the store. */
export const ANALYTICS_QUERIES = ['userActivity', 'revenue', 'funnel', 'activeUsers', 'sensorStats', 'sensors', 'topProducts', 'overview'] as const;
export type AnalyticsQueries = Pick<Analytics, (typeof ANALYTICS_QUERIES)[number]>;

/** A row of sensor_stats as the API answers it. */
const sensorWindow = (w: QueryRow) => ({
  metric: w.metric,
  unit: w.unit,
  windowStart: w.window_start,
  windowEnd: w.window_end,
  count: w.count,
  min: w.min,
  max: w.max,
  mean: w.mean,
  ewma: w.ewma,
  anomalyScore: w.anomaly_score,
  final: w.final,
});

/**
 * The read side of the analytics store: every query is parameterized ($n), bounded by MAX_ROWS + 1
 * (to tell a cut answer), and sums the per-partition rows the aggregator writes.
 */
export class Analytics {
  constructor(
    readonly store: Store,
    private readonly monitor: KafkaMonitor | null = null,
    private readonly now: () => number = Date.now,
  ) {}

  async userActivity(userId: string, r: Range) {
    const rows = await this.store.query(
      `SELECT window_start, window_end, count, final FROM ${TABLES.userActivity.name} WHERE user_id = $1 AND window_start >= $2 AND window_start < $3 ORDER BY window_start LIMIT $4`,
      [userId, r.from, r.to, MAX_ROWS + 1],
    );
    const { rows: windows, truncated } = cut(rows.map((w) => ({ windowStart: w.window_start, windowEnd: w.window_end, count: w.count, final: w.final })));
    return { userId, from: r.from, to: r.to, windows, total: windows.reduce((n, w) => n + (w.count as number), 0), truncated };
  }

  async revenue(bucket: string, r: Range, currency: string | null) {
    const bucketMs = BUCKETS[bucket]!;
    const params: (string | number)[] = [bucketMs, r.from, r.to, MAX_ROWS + 1];
    if (currency !== null) params.push(currency);
    const rows = await this.store.query(
      `SELECT window_start - (window_start % $1) AS bucket_start, currency, CAST(SUM(orders) AS BIGINT) AS orders, CAST(SUM(items) AS BIGINT) AS items,
              SUM(revenue) AS revenue, bool_and(final) AS final
         FROM ${TABLES.revenue.name} WHERE window_start >= $2 AND window_start < $3${currency !== null ? ' AND currency = $5' : ''}
        GROUP BY 1, 2 ORDER BY 1, 2 LIMIT $4`,
      params,
    );
    const { rows: buckets, truncated } = cut(
      rows.map((b) => ({
        start: b.bucket_start as number,
        end: (b.bucket_start as number) + bucketMs,
        currency: b.currency,
        orders: b.orders,
        items: b.items,
        // Sums of float amounts: cents are what a currency has.
        revenue: Math.round((b.revenue as number) * 100) / 100,
        final: b.final,
      })),
    );
    return { bucket, from: r.from, to: r.to, buckets, truncated };
  }

  async funnel(r: Range) {
    const rows = await this.store.query(
      `SELECT window_start, MAX(window_end) AS window_end, CAST(SUM(views) AS BIGINT) AS views, CAST(SUM(carts) AS BIGINT) AS carts, CAST(SUM(purchases) AS BIGINT) AS purchases,
              SUM(viewers) AS viewers, SUM(carters) AS carters, SUM(buyers) AS buyers, bool_and(final) AS final
         FROM ${TABLES.funnel.name} WHERE window_start >= $1 AND window_start < $2 GROUP BY window_start ORDER BY window_start LIMIT $3`,
      [r.from, r.to, MAX_ROWS + 1],
    );
    const ratio = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 10_000) / 10_000 : null);
    const { rows: windows, truncated } = cut(
      rows.map((w) => {
        const [viewers, carters, buyers] = [Math.round(w.viewers as number), Math.round(w.carters as number), Math.round(w.buyers as number)];
        return {
          windowStart: w.window_start,
          windowEnd: w.window_end,
          views: w.views as number,
          carts: w.carts as number,
          purchases: w.purchases as number,
          viewers,
          carters,
          buyers,
          viewToCart: ratio(carters, viewers),
          cartToPurchase: ratio(buyers, carters),
          final: w.final,
        };
      }),
    );
    // Events add up over windows; distinct users do not (one user is in many windows), so no user totals.
    const total = { views: 0, carts: 0, purchases: 0 };
    for (const w of windows) {
      total.views += w.views;
      total.carts += w.carts;
      total.purchases += w.purchases;
    }
    return { from: r.from, to: r.to, windows, total, truncated };
  }

  async activeUsers(granularity: string, r: Range) {
    const rows = await this.store.query(
      `SELECT window_start, MAX(window_end) AS window_end, SUM(estimate) AS estimate, bool_and(final) AS final
         FROM ${TABLES.uniqueUsers.name} WHERE granularity = $1 AND window_start >= $2 AND window_start < $3 GROUP BY window_start ORDER BY window_start LIMIT $4`,
      [granularity, r.from, r.to, MAX_ROWS + 1],
    );
    const { rows: windows, truncated } = cut(rows.map((w) => ({ windowStart: w.window_start, windowEnd: w.window_end, users: Math.round(w.estimate as number), final: w.final })));
    return { granularity, from: r.from, to: r.to, windows, truncated };
  }

  async sensorStats(sensorId: string, r: Range) {
    const rows = await this.store.query(
      `SELECT metric, unit, window_start, window_end, count, min, max, mean, ewma, anomaly_score, final FROM ${TABLES.sensorStats.name}
        WHERE sensor_id = $1 AND window_start >= $2 AND window_start < $3 ORDER BY window_start, metric LIMIT $4`,
      [sensorId, r.from, r.to, MAX_ROWS + 1],
    );
    const { rows: windows, truncated } = cut(rows.map(sensorWindow));
    return { sensorId, from: r.from, to: r.to, windows, truncated };
  }

  /**
   * Every sensor and metric seen in the range, worst first: each with its latest window's statistics
   * and the highest anomaly score of its windows in the range (`worstScore`).
   */
  async sensors(r: Range, limit: number) {
    const rows = await this.store.query(
      // Aggregate first, then fetch only the listed sensors' latest rows by their key.
      `WITH listed AS (
         SELECT sensor_id, metric, MAX(window_start) AS latest, MAX(anomaly_score) AS worst FROM ${TABLES.sensorStats.name}
          WHERE window_start >= $1 AND window_start < $2 GROUP BY sensor_id, metric ORDER BY worst DESC NULLS LAST, sensor_id, metric LIMIT $3)
       SELECT s.sensor_id, s.metric, s.unit, s.window_start, s.window_end, s.count, s.min, s.max, s.mean, s.ewma, s.anomaly_score, s.final, listed.worst
         FROM listed JOIN ${TABLES.sensorStats.name} AS s ON s.sensor_id = listed.sensor_id AND s.metric = listed.metric AND s.window_start = listed.latest
        ORDER BY listed.worst DESC NULLS LAST, s.sensor_id, s.metric`,
      [r.from, r.to, limit + 1],
    );
    const sensors = rows.slice(0, limit).map((w) => ({ sensorId: w.sensor_id, ...sensorWindow(w), worstScore: w.worst }));
    return { from: r.from, to: r.to, sensors, truncated: rows.length > limit };
  }

  /**
   * Top k products of a metric over the latest `window` (or the one ending at or containing `at`):
   * the per-partition, per-5-minute Space-Saving lists merged (see mergeTopProducts).
   */
  async topProducts(metric: string, window: string, k: number, at: number | null) {
    const windows = TOP_WINDOWS[window]!;
    let last: number | null;
    if (at !== null) {
      last = at - (at % TOP_WINDOW_MS);
    } else {
      const [row] = await this.store.query(`SELECT MAX(window_start) AS w FROM ${TABLES.topProducts.name} WHERE metric = $1`, [metric]);
      last = (row?.w as number | null | undefined) ?? null;
    }
    if (last === null) return { metric, window, windowStart: null, windowEnd: null, items: [] as (MergedItem & { exact: boolean })[], exactLeading: 0, final: false, partitions: 0 };
    const first = last - (windows - 1) * TOP_WINDOW_MS;
    const rows = await this.store.query(
      `SELECT source_partition, window_start, threshold, items, final FROM ${TABLES.topProducts.name} WHERE metric = $1 AND window_start >= $2 AND window_start <= $3 LIMIT $4`,
      [metric, first, last, MAX_ROWS],
    );
    const merged = mergeTopProducts(
      rows.map((r) => ({ threshold: r.threshold as number, items: JSON.parse(r.items as string) as { productId: string; count: number; error: number }[] })),
      k,
    );
    return {
      metric,
      window,
      windowStart: first,
      windowEnd: last + TOP_WINDOW_MS,
      items: merged.items.map((it, i) => ({ ...it, exact: i < merged.exactLeading })),
      exactLeading: merged.exactLeading,
      final: rows.length > 0 && rows.every((r) => r.final === true),
      partitions: new Set(rows.map((r) => r.source_partition)).size,
    };
  }

  async overview(): Promise<Overview> {
    const since = this.now() - LATENCY_RANGE_MS;
    const rows = await this.store.query(
      `SELECT stage, bucket, CAST(SUM(count) AS BIGINT) AS count FROM ${TABLES.latency.name} WHERE minute_start >= $1 GROUP BY stage, bucket`,
      [since - (since % MINUTE)],
    );
    const of = (stage: string) => summarize(rows.filter((r) => r.stage === stage).map((r) => ({ bucket: r.bucket as number, count: r.count as number })));
    return {
      kafka: this.monitor?.snapshot() ?? { sampledAt: null, intervalMs: null, topics: [], lag: [], error: 'not monitoring Kafka' },
      latencyMs: { output: of(LATENCY_STAGES.output), stored: of(LATENCY_STAGES.stored), sinceMs: LATENCY_RANGE_MS },
      store: { kind: this.store.kind },
    };
  }
}
