import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { TOPICS } from '../../packages/kafka/src/index.js';
import { keysOn, produceRecords, readAll, rng, testConfig, type ProduceRecord } from './helpers/index.js';
import { resetTopics, restoredCount, testAggregators, waitUntil } from './helpers/pipeline.js';

const MIN = 60_000;
/** A 5-minute window boundary: 2025-11-25T19:45:00Z. */
const T0 = 1_764_099_900_000;
const EWMA_ALPHA = 0.25;

type Sent = ProduceRecord & { partition: number; value: string };

interface TopEntry {
  productId: string;
  count: number;
  error: number;
}

/** What the final records of the first windows must say, computed from the fixture by plain counting. */
interface Expected {
  /** `${partition}/${currency}|${windowStart}` → orders, items, revenue. */
  revenue: Map<string, { orders: number; items: number; revenue: number }>;
  /** `${metric}/${partition}` → the top list and threshold of window [T0, T0+5m). */
  top: Map<string, { items: TopEntry[]; threshold: number }>;
  /** `${source}/${partition}` → the funnel counts of window [T0, T0+5m). */
  funnel: Map<string, Record<'views' | 'carts' | 'purchases' | 'viewers' | 'carters' | 'buyers', number>>;
  /** sensorId → the statistics of window [T0, T0+1m). */
  sensors: Map<string, { count: number; min: number; max: number; mean: number; ewma: number; anomalyScore: number }>;
}

interface Fixture {
  clicks: Sent[];
  purchases: Sent[];
  readings: Sent[];
  expected: Expected;
}

const TOP_K = 10;

/** Exact counts → the top list a Space-Saving summary with room for every product reports. */
function topOf(counts: Map<string, number>): { items: TopEntry[]; threshold: number } {
  const sorted = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  return { items: sorted.slice(0, TOP_K).map(([productId, count]) => ({ productId, count, error: 0 })), threshold: sorted[TOP_K]?.[1] ?? 0 };
}

function add<K>(m: Map<K, number>, k: K, n = 1): void {
  m.set(k, (m.get(k) ?? 0) + n);
}

/**
 * Clicks on 3 user-clicks partitions, purchases on 3 user-purchases partitions and readings of 6
 * sensors, all in the first minutes after T0, each user and sensor always on the same partition;
 * then per partition one event late enough to close the first windows. Every expected value is
 * computed here by counting.
 */
function fixture(seed: number): Fixture {
  const random = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const products = Array.from({ length: 14 }, (_, i) => `p-${i + 1}`);
  const skewed = () => products[Math.floor(products.length * random() * random())]!;
  const expected: Expected = { revenue: new Map(), top: new Map(), funnel: new Map(), sensors: new Map() };

  const clicks: Sent[] = [];
  for (const p of [0, 4, 9]) {
    const users = keysOn(`cu-${p}`, p, 12, 6);
    const views = new Map<string, number>();
    const carts = new Map<string, number>();
    const viewers = new Set<string>();
    const carters = new Set<string>();
    let viewEvents = 0;
    let cartEvents = 0;
    for (let i = 0; i < 60; i++) {
      const user = pick(users);
      const ts = T0 + Math.floor(random() * 5 * MIN);
      const r = random();
      const type = r < 0.6 ? 'product_view' : r < 0.85 ? 'add_to_cart' : 'search';
      const productId = skewed();
      if (type === 'product_view') (add(views, productId), viewers.add(user), viewEvents++);
      if (type === 'add_to_cart') (add(carts, productId), carters.add(user), cartEvents++);
      clicks.push({ partition: p, key: user, value: JSON.stringify({ eventId: `c${i}-${p}`, type, userId: user, sessionId: 's', productId, source: 'web', ts, properties: {} }) });
    }
    const [advancer] = keysOn('adv', p, 12, 1);
    clicks.push({ partition: p, key: advancer, value: JSON.stringify({ eventId: `adv-${p}`, type: 'page_view', userId: advancer, ts: T0 + 7 * MIN }) });
    expected.top.set(`views/${p}`, topOf(views));
    expected.top.set(`carts/${p}`, topOf(carts));
    expected.funnel.set(`user-clicks/${p}`, { views: viewEvents, carts: cartEvents, purchases: 0, viewers: viewers.size, carters: carters.size, buyers: 0 });
  }

  const purchases: Sent[] = [];
  for (const p of [1, 2, 5]) {
    const users = keysOn(`pu-${p}`, p, 6, 5);
    const bought = new Map<string, number>();
    const buyers = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const user = pick(users);
      const ts = T0 + Math.floor(random() * 2 * MIN);
      const currency = random() < 0.7 ? 'USD' : 'EUR';
      const items = Array.from({ length: 1 + Math.floor(random() * 3) }, () => ({ productId: skewed(), quantity: 1 + Math.floor(random() * 3), priceCents: 99 + Math.floor(random() * 5000) }));
      const cents = items.reduce((s, it) => s + it.quantity * it.priceCents, 0);
      for (const it of items) add(bought, it.productId, it.quantity);
      buyers.add(user);
      const windowStart = ts - (ts % MIN);
      const key = `${p}/${currency}|${windowStart}`;
      const r = expected.revenue.get(key) ?? { orders: 0, items: 0, revenue: 0 };
      // Kept in cents until the end, so the expected sum is the exact decimal.
      expected.revenue.set(key, { orders: r.orders + 1, items: r.items + items.reduce((s, it) => s + it.quantity, 0), revenue: r.revenue + cents });
      purchases.push({
        partition: p,
        key: user,
        value: JSON.stringify({
          eventId: `o${i}-${p}`,
          type: 'purchase',
          userId: user,
          sessionId: 's',
          orderId: `o${i}-${p}`,
          items: items.map((it) => ({ productId: it.productId, quantity: it.quantity, price: it.priceCents / 100 })),
          total: cents / 100,
          currency,
          ts,
        }),
      });
    }
    const [advancer] = keysOn('adv', p, 6, 1);
    purchases.push({
      partition: p,
      key: advancer,
      value: JSON.stringify({ eventId: `padv-${p}`, userId: advancer, items: [], total: 0, currency: 'USD', ts: T0 + 7 * MIN }),
    });
    expected.top.set(`purchases/${p}`, topOf(bought));
    expected.funnel.set(`user-purchases/${p}`, { views: 0, carts: 0, purchases: 40, viewers: 0, carters: 0, buyers: buyers.size });
  }
  for (const [k, r] of expected.revenue) expected.revenue.set(k, { ...r, revenue: r.revenue / 100 });

  const readings: Sent[] = [];
  for (const p of [3, 17]) {
    for (const sensorId of ['fridge', 'boiler', 'office'].map((name) => keysOn(name, p, 24, 1)[0]!)) {
      let mean = 0;
      let variance = 0;
      let score = 0;
      const values: number[] = [];
      for (let i = 0; i < 30; i++) {
        const value = Math.round((4 + random() * 2 + (i === 25 ? 20 : 0)) * 10) / 10;
        if (i === 0) mean = value;
        else {
          const d = value - mean;
          score = variance > 0 ? Math.abs(d) / Math.sqrt(variance) : 0;
          const step = EWMA_ALPHA * d;
          mean += step;
          variance = (1 - EWMA_ALPHA) * (variance + d * step);
        }
        values.push(value);
        readings.push({ partition: p, key: sensorId, value: JSON.stringify({ eventId: `r${i}`, sensorId, metric: 'temperature', value, unit: 'C', ts: T0 + i * 2000 }) });
      }
      const sum = values.reduce((s, v) => s + v, 0);
      expected.sensors.set(sensorId, { count: 30, min: Math.min(...values), max: Math.max(...values), mean: sum / 30, ewma: mean, anomalyScore: score });
    }
    const [advancer] = keysOn('adv', p, 24, 1);
    readings.push({ partition: p, key: advancer, value: JSON.stringify({ eventId: 'adv', sensorId: advancer, metric: 'temperature', value: 1, ts: T0 + 3 * MIN }) });
  }
  return { clicks, purchases, readings, expected };
}

interface Record_ {
  final: boolean;
  windowStart: number;
  [field: string]: unknown;
}

/** The final records of a topic by `${key}|${windowStart}`, checking that repeated finals agree. */
async function finalsOf(topic: string): Promise<Map<string, Record_>> {
  const config = testConfig();
  const finals = new Map<string, Record_>();
  for (const m of await readAll(config, topic)) {
    const r = JSON.parse(m.value!.toString()) as Record_;
    if (!r.final) continue;
    const key = `${m.key}|${r.windowStart}`;
    const seen = finals.get(key);
    if (seen !== undefined) expect(r, `a repeated final of ${topic} ${key} must repeat the same values`).toEqual(seen);
    finals.set(key, r);
  }
  return finals;
}

describe('business metrics through the aggregator against a real broker', () => {
  const bootstrap = inject('kafkaBootstrap');
  const config = testConfig();
  const aggregators = testAggregators(bootstrap, { PULSE_AGGREGATOR_EWMA_ALPHA: String(EWMA_ALPHA) });
  const startAggregator = aggregators.start;

  async function produceAll(f: Fixture, part: (records: Sent[]) => Sent[]): Promise<void> {
    await produceRecords(config, TOPICS.userClicks, part(f.clicks));
    await produceRecords(config, TOPICS.userPurchases, part(f.purchases));
    await produceRecords(config, TOPICS.sensorData, part(f.readings));
  }

  async function expectExactMetrics(f: Fixture): Promise<void> {
    const { expected } = f;
    const revenue = await waitUntil('revenue finals', async () => {
      const finals = await finalsOf(TOPICS.revenue);
      return [...expected.revenue.keys()].every((k) => finals.has(k)) ? finals : undefined;
    });
    for (const [key, want] of expected.revenue) {
      const [partition, currency] = key.split('|')[0]!.split('/');
      const windowStart = Number(key.split('|')[1]);
      expect(revenue.get(key), key).toEqual({ partition: Number(partition), currency, windowStart, windowEnd: windowStart + MIN, ...want, final: true });
    }

    const top = await waitUntil('top-product finals', async () => {
      const finals = await finalsOf(TOPICS.topProducts);
      return [...expected.top.keys()].every((k) => finals.has(`${k}|${T0}`)) ? finals : undefined;
    });
    for (const [key, want] of expected.top) {
      const [metric, partition] = key.split('/');
      expect(top.get(`${key}|${T0}`), key).toEqual({ partition: Number(partition), metric, windowStart: T0, windowEnd: T0 + 5 * MIN, ...want, final: true });
    }

    const funnel = await waitUntil('funnel finals', async () => {
      const finals = await finalsOf(TOPICS.funnel);
      return [...expected.funnel.keys()].every((k) => finals.has(`${k}|${T0}`)) ? finals : undefined;
    });
    for (const [key, want] of expected.funnel) {
      const [source, partition] = key.split('/');
      expect(funnel.get(`${key}|${T0}`), key).toEqual({ source, partition: Number(partition), windowStart: T0, windowEnd: T0 + 5 * MIN, ...want, final: true });
    }

    // Distinct clickers of a partition's 5-minute window: HyperLogLog is exact at these sizes.
    const unique = await finalsOf(TOPICS.uniqueUsers);
    for (const p of [0, 4, 9]) {
      const users = new Set(f.clicks.filter((c) => c.partition === p && JSON.parse(c.value).ts < T0 + 5 * MIN).map((c) => c.key));
      expect(unique.get(`5m/${p}|${T0}`)?.estimate, `5m/${p}`).toBe(users.size);
    }

    const sensors = await waitUntil('sensor finals', async () => {
      const finals = await finalsOf(TOPICS.sensorStats);
      return [...expected.sensors.keys()].every((k) => finals.has(`${k}|${T0}`)) ? finals : undefined;
    });
    for (const [sensorId, want] of expected.sensors) {
      const got = sensors.get(`${sensorId}|${T0}`)!;
      expect(got).toMatchObject({ sensorId, metric: 'temperature', unit: 'C', windowStart: T0, windowEnd: T0 + MIN, count: want.count, min: want.min, max: want.max, final: true });
      for (const field of ['mean', 'ewma', 'anomalyScore'] as const) expect(got[field] as number, `${sensorId} ${field}`).toBeCloseTo(want[field], 9);
    }
  }

  beforeEach(async () => {
    await resetTopics(config);
  });

  afterEach(() => aggregators.killAll());

  it('writes exact revenue, top products, funnel, unique users and sensor statistics', async () => {
    const f = fixture(11);
    const aggregator = startAggregator(`metrics-exact-${Date.now()}`);
    await produceAll(f, (r) => r);
    await expectExactMetrics(f);
    aggregator.child.kill('SIGTERM');
    expect(await aggregator.exited).toBe(0);
  });

  it('keeps every metric exact when the aggregator is SIGKILLed mid-stream and restarted', async () => {
    const f = fixture(12);
    const group = `metrics-kill-${Date.now()}`;
    const first = startAggregator(group);
    await waitUntil('all 42 input partitions restored', async () => (restoredCount(first.output()) >= 42 ? true : undefined));
    await produceAll(f, (r) => r.slice(0, Math.floor(r.length / 2)));
    // Let it process and checkpoint some of it, then kill it without warning.
    await waitUntil('first metric outputs', async () => ((await readAll(config, TOPICS.revenue)).length > 0 && (await readAll(config, TOPICS.sensorStats)).length > 0 ? true : undefined));
    await new Promise((r) => setTimeout(r, 500));
    first.child.kill('SIGKILL');
    await first.exited;

    await produceAll(f, (r) => r.slice(Math.floor(r.length / 2)));
    const second = startAggregator(group);
    await expectExactMetrics(f);
    expect(second.output()).toMatch(/user-purchases \d+ \([1-9]\d* from snapshots\)/);
    expect(second.output()).toMatch(/sensor-data \d+ \([1-9]\d* from snapshots\)/);
  });
});
