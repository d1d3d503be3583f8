import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Analytics, decodeRecord, DuckDbStore, type Row, type Store } from '@pulse/sink';
import { buildApi, type Recommender } from '../src/index.js';
import { http } from './helpers.js';

const recommender: Recommender = {
  recommend: () => ({ items: [], fallback: true }),
  similar: () => [],
  ready: () => true,
  stats: () => ({ events: 0, items: 0, users: 0, sessions: 0 }),
};

const T = 1_764_100_200_000; // a 5-minute boundary
const MIN = 60_000;

/** Writes contract-shaped records through the sink's decoder, as the sink would. */
async function store(s: Store, topic: string, values: object[]): Promise<void> {
  const rows: Record<string, Row[]> = {};
  for (const v of values) {
    const d = decodeRecord(topic, Buffer.from(JSON.stringify(v)), T);
    (rows[d.table] ??= []).push(d.row);
  }
  await s.write({ rows, offsets: [] });
}

describe('analytics API over a DuckDB store', () => {
  let db: DuckDbStore;
  let app: ReturnType<typeof buildApi>;

  beforeAll(async () => {
    db = await DuckDbStore.open(join(mkdtempSync(join(tmpdir(), 'pulse-api-')), 'store.duckdb'));
    await db.migrate();
    await store(db, 'pulse-revenue', [
      { partition: 0, currency: 'USD', windowStart: T, windowEnd: T + MIN, orders: 2, items: 3, revenue: 10.1, final: true },
      { partition: 1, currency: 'USD', windowStart: T, windowEnd: T + MIN, orders: 1, items: 1, revenue: 5.2, final: false },
      { partition: 1, currency: 'USD', windowStart: T + MIN, windowEnd: T + 2 * MIN, orders: 4, items: 4, revenue: 1, final: false },
      { partition: 1, currency: 'EUR', windowStart: T, windowEnd: T + MIN, orders: 1, items: 2, revenue: 7, final: true },
    ]);
    await store(db, 'pulse-top-products', [
      { partition: 0, metric: 'views', windowStart: T, windowEnd: T + 5 * MIN, items: [{ productId: 'p-1', count: 30, error: 0 }, { productId: 'p-2', count: 9, error: 0 }], threshold: 1, final: false },
      { partition: 1, metric: 'views', windowStart: T, windowEnd: T + 5 * MIN, items: [{ productId: 'p-2', count: 12, error: 4 }], threshold: 2, final: false },
    ]);
    const reading = (sensorId: string, minute: number, anomalyScore: number | null) => ({
      sensorId, metric: 'temperature', unit: 'C', windowStart: T + minute * MIN, windowEnd: T + (minute + 1) * MIN, count: 60, min: 1, max: 2, mean: 1.5, ewma: 1.5, anomalyScore, final: minute === 0,
    });
    await store(db, 'pulse-sensor-stats', [reading('calm', 0, 0.5), reading('calm', 1, 0.7), reading('spiked', 0, 6), reading('spiked', 1, 1), reading('new', 1, null)]);
    await store(db, 'user-activity-counts', [{ userId: "o'brien", windowStart: T, windowEnd: T + 5 * MIN, count: 4, final: true, oldestEventTs: T + 1 }]);
    app = buildApi({ recommender, analytics: new Analytics(db), tokens: [], http });
  });

  afterAll(async () => {
    await app.close();
    await db.close();
  });

  it('sums partitions per bucket and currency', async () => {
    const res = await app.inject(`/api/v1/revenue?bucket=5m&from=${T}&to=${T + 5 * MIN}`);
    expect(res.statusCode).toBe(200);
    expect(res.json().buckets).toEqual([
      { start: T, end: T + 5 * MIN, currency: 'EUR', orders: 1, items: 2, revenue: 7, final: true },
      { start: T, end: T + 5 * MIN, currency: 'USD', orders: 7, items: 8, revenue: 16.3, final: false },
    ]);
    const usd = await app.inject(`/api/v1/revenue?bucket=1m&from=${T}&to=${T + 5 * MIN}&currency=USD`);
    expect(usd.json().buckets.map((b: { orders: number }) => b.orders)).toEqual([3, 4]);
  });

  it('merges top products over partitions and says which leading items are exact', async () => {
    const res = await app.inject('/api/v1/products/top?metric=views&k=5');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.windowStart).toBe(T);
    expect(body.items).toEqual([
      { productId: 'p-1', count: 32, error: 2, lower: 30, exact: true },
      { productId: 'p-2', count: 21, error: 4, lower: 17, exact: true },
    ]);
    expect(body.exactLeading).toBe(2);
    expect((await app.inject('/api/v1/products/top?metric=carts')).json().items).toEqual([]);
  });

  it('finds ids with quotes as data, and answers unknown ones with nothing', async () => {
    const res = await app.inject(`/api/v1/users/${encodeURIComponent("o'brien")}/activity?from=${T}&to=${T + 10 * MIN}`);
    expect(res.json()).toMatchObject({ userId: "o'brien", total: 4, windows: [{ windowStart: T, count: 4, final: true }] });
    const sql = await app.inject(`/api/v1/users/${encodeURIComponent("x' OR '1'='1")}/activity?from=0&to=${T * 2}`);
    expect(sql.statusCode).toBe(200);
    expect(sql.json().windows).toEqual([]);
  });

  it('lists sensors worst first, each with its latest minute and its highest anomaly score', async () => {
    const res = await app.inject(`/api/v1/sensors?from=${T}&to=${T + 5 * MIN}`);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.truncated).toBe(false);
    expect(body.sensors.map((s: { sensorId: string; windowStart: number; anomalyScore: number | null; worstScore: number | null }) => [s.sensorId, s.windowStart, s.anomalyScore, s.worstScore])).toEqual([
      ['spiked', T + MIN, 1, 6],
      ['calm', T + MIN, 0.7, 0.7],
      ['new', T + MIN, null, null],
    ]);
    const one = await app.inject(`/api/v1/sensors?limit=1&from=${T}&to=${T + 5 * MIN}`);
    expect(one.json()).toMatchObject({ truncated: true, sensors: [{ sensorId: 'spiked', metric: 'temperature', unit: 'C', count: 60 }] });
    expect((await app.inject('/api/v1/sensors?limit=0')).statusCode).toBe(400);
  });

  it('refuses hostile parameters with 400 and a message, and stays healthy', async () => {
    for (const url of [
      '/api/v1/revenue?bucket=7m',
      '/api/v1/revenue?from=abc',
      '/api/v1/revenue?from=-5',
      `/api/v1/revenue?from=${T}&to=${T}`,
      '/api/v1/revenue?to=1e400',
      '/api/v1/revenue?to=99999999999999999999999',
      "/api/v1/revenue?currency=US' OR 1=1",
      '/api/v1/products/top?metric=views;DROP TABLE top_products',
      '/api/v1/products/top?k=100000',
      '/api/v1/products/top?window=1y',
      '/api/v1/funnel?from=1.5',
      '/api/v1/funnel?limit=5',
      '/api/v1/users/u-1/activity?from=10&to=5',
      '/api/v1/users/active?granularity=1s',
      '/api/v1/sensors/s-1/stats?to=yesterday',
    ]) {
      const res = await app.inject(url);
      expect(res.statusCode, url).toBe(400);
      expect(res.json().message, url).toMatch(/querystring/);
    }
    // The largest range there is, answered (empty) rather than refused.
    const huge = await app.inject('/api/v1/funnel?from=0&to=8640000000000000');
    expect(huge.statusCode).toBe(200);
    expect(huge.json()).toMatchObject({ windows: [], truncated: false });
    expect((await app.inject('/healthz')).statusCode).toBe(200);
    expect((await app.inject(`/api/v1/revenue?bucket=1h&from=${T}`)).json().buckets).toHaveLength(2);
  });

  it('publishes an OpenAPI document generated from the route schemas', async () => {
    const doc = (await app.inject('/openapi.json')).json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/v1/revenue', '/api/v1/products/top', '/api/v1/users/{userId}/activity', '/api/v1/metrics/overview']));
    expect(doc.paths['/api/v1/revenue'].get.parameters.find((p: { name: string }) => p.name === 'bucket').schema.enum).toContain('1h');
  });

  it('reports latency percentiles from the store in the overview', async () => {
    const now = Date.now();
    await db.write({ rows: { latency: [['stored', now - (now % MIN), 40, 3]] }, offsets: [] });
    const body = (await app.inject('/api/v1/metrics/overview')).json();
    expect(body.latencyMs.stored).toMatchObject({ count: 3, p50: Math.round(1.05 ** 40) });
    expect(body.store.kind).toBe('duckdb');
  });
});
