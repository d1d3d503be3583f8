import { TOPICS } from '@pulse/kafka';
import type { AnalyticsQueries } from '@pulse/sink';

const MINUTE = 60_000;
const INPUT_TOPICS: ReadonlySet<string> = new Set([TOPICS.userClicks, TOPICS.userPurchases, TOPICS.sensorData]);
const OUTPUT_TOPICS: ReadonlySet<string> = new Set([TOPICS.userActivityCounts, TOPICS.revenue, TOPICS.topProducts, TOPICS.uniqueUsers, TOPICS.funnel, TOPICS.sensorStats]);

/** Firing and pending alerts as GET /api/v1/alerts reports them; null when alerting is not running. */
export type AlertCounts = { firing: number; pending: number } | null;

/** One update of the stream (docs/dashboard.md, "The stream"). */
export interface LiveUpdate {
  /** When it was computed, ms since the epoch. */
  t: number;
  eventsInPerSec: number;
  eventsOutPerSec: number;
  topics: { topic: string; eventsPerSec: number }[];
  /** End-to-end latency over the last 5 minutes, event creation → output record; null without data. */
  latencyMs: { p50: number | null; p95: number | null; p99: number | null };
  consumerLag: number;
  lagByGroup: { group: string; lag: number }[];
  deadLettersPerMin: number;
  /** Revenue and orders of the last 60 s (see lastMinute), in the currency with the most revenue; null before any order. */
  revenue: { perMinute: number; orders: number; currency: string } | null;
  activeUsers: number | null;
  alerts: AlertCounts;
  /** Why the Kafka figures may be stale or missing (the monitor's error), else null. */
  kafkaError: string | null;
}

/** Computes one update from the store's queries and the alerts the API serves. */
export async function computeUpdate(analytics: AnalyticsQueries, readAlerts: () => Promise<AlertCounts>, now: number): Promise<LiveUpdate> {
  const recent = { from: now - now % MINUTE - 2 * MINUTE, to: now + MINUTE };
  const [overview, revenue, users, alerts] = await Promise.all([
    analytics.overview(),
    analytics.revenue('1m', recent, null),
    analytics.activeUsers('1m', recent),
    readAlerts().catch(() => null),
  ]);
  const topics = overview.kafka.topics.map((t) => ({ topic: t.topic, eventsPerSec: Math.round(t.eventsPerSec) }));
  const sum = (names: ReadonlySet<string>) => topics.reduce((n, t) => n + (names.has(t.topic) ? t.eventsPerSec : 0), 0);
  const lagByGroup = new Map<string, number>();
  for (const p of overview.kafka.lag) lagByGroup.set(p.group, (lagByGroup.get(p.group) ?? 0) + p.lag);

  const rolling = lastMinute(revenue.buckets, now);
  const lastUsers = users.windows.at(-1);
  const out = overview.latencyMs.output;
  return {
    t: now,
    eventsInPerSec: sum(INPUT_TOPICS),
    eventsOutPerSec: sum(OUTPUT_TOPICS),
    topics,
    latencyMs: { p50: out.p50, p95: out.p95, p99: out.p99 },
    consumerLag: [...lagByGroup.values()].reduce((a, b) => a + b, 0),
    lagByGroup: [...lagByGroup].map(([group, lag]) => ({ group, lag })).sort((a, b) => a.group.localeCompare(b.group)),
    deadLettersPerMin: Math.round((topics.find((t) => t.topic === TOPICS.deadLetters)?.eventsPerSec ?? 0) * 60),
    revenue: rolling,
    activeUsers: lastUsers === undefined ? null : Number(lastUsers.users),
    alerts,
    kafkaError: overview.kafka.error,
  };
}

/**
 * Counts firing and pending alerts in an answer of GET /api/v1/alerts: a list of alerts, or an object
 * holding one under `alerts` (or Prometheus's `data.alerts`), each with a `state` or `status`.
 */
export function countAlerts(body: unknown): { firing: number; pending: number } {
  const list = alertList(body);
  let firing = 0;
  let pending = 0;
  for (const a of list) {
    const state = stateOf(a);
    if (state === 'pending') pending++;
    else if (state !== 'resolved' && state !== 'inactive') firing++;
  }
  return { firing, pending };
}

function alertList(body: unknown): unknown[] {
  if (Array.isArray(body)) return body;
  if (body !== null && typeof body === 'object') {
    const o = body as { alerts?: unknown; data?: { alerts?: unknown } };
    if (Array.isArray(o.alerts)) return o.alerts;
    if (Array.isArray(o.data?.alerts)) return o.data.alerts;
  }
  return [];
}

function stateOf(a: unknown): string {
  if (a === null || typeof a !== 'object') return 'firing';
  const o = a as { state?: unknown; status?: unknown };
  const s = o.state ?? (typeof o.status === 'object' && o.status !== null ? (o.status as { state?: unknown }).state : o.status);
  return typeof s === 'string' ? s.toLowerCase() : 'firing';
}

/**
 * Revenue and orders over the last 60 seconds from per-minute buckets: the current minute so far plus
 * the part of the previous minute that is still within 60 s (its share pro rata). A whole-minute
 * figure would fall to nothing at every minute's start; this one moves smoothly.
 */
export function lastMinute(buckets: readonly { start: number; currency: unknown; orders: unknown; revenue: unknown }[], now: number): LiveUpdate['revenue'] {
  const current = now - (now % MINUTE);
  const previousShare = 1 - (now - current) / MINUTE;
  const byCurrency = new Map<string, { perMinute: number; orders: number }>();
  for (const b of buckets) {
    const share = b.start === current ? 1 : b.start === current - MINUTE ? previousShare : 0;
    if (share === 0) continue;
    const c = byCurrency.get(String(b.currency)) ?? { perMinute: 0, orders: 0 };
    c.perMinute += Number(b.revenue) * share;
    c.orders += Number(b.orders) * share;
    byCurrency.set(String(b.currency), c);
  }
  let best: LiveUpdate['revenue'] = null;
  for (const [currency, c] of byCurrency) {
    if (best === null || c.perMinute > best.perMinute) best = { perMinute: Math.round(c.perMinute * 100) / 100, orders: Math.round(c.orders), currency };
  }
  return best;
}
