import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TOPICS, topicOffsets } from '../../packages/kafka/src/index.js';
import { openStore, startLocalPostgres, TABLE_NAMES, TABLES, type LocalPostgres, type TableSpec } from '../../packages/sink/src/index.js';
import { produceRecords, testConfig, type ProduceRecord } from './helpers/index.js';
import { pulseEnv, resetTopics, spawnPulse, waitUntil, type PulseProcess } from './helpers/pipeline.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const T = 1_764_100_200_000; // a 5-minute boundary
const MIN = 60_000;
const W5 = 5 * MIN;

const json = (key: string, value: object | string): ProduceRecord => ({ key, value: typeof value === 'string' ? value : JSON.stringify(value) });
const SQL_USER = "o'hara'; DROP TABLE user_activity; --";

/** What the aggregator would write: updates while a window is open, then the final record. */
const KNOWN: Record<string, ProduceRecord[]> = {
  [TOPICS.userActivityCounts]: [
    json('u-1', { userId: 'u-1', windowStart: T, windowEnd: T + W5, count: 2, final: false, oldestEventTs: T + 1000 }),
    json('u-1', { userId: 'u-1', windowStart: T, windowEnd: T + W5, count: 5, final: true, oldestEventTs: T + 1000 }),
    json('u-1', { userId: 'u-1', windowStart: T + W5, windowEnd: T + 2 * W5, count: 1, final: false, oldestEventTs: T + W5 + 1000 }),
    json(SQL_USER, { userId: SQL_USER, windowStart: T, windowEnd: T + W5, count: 7, final: true, oldestEventTs: T }),
    json('u-9', 'this is not JSON'),
  ],
  [TOPICS.revenue]: [
    json('0/USD', { partition: 0, currency: 'USD', windowStart: T, windowEnd: T + MIN, orders: 1, items: 2, revenue: 10.5, final: false }),
    json('0/USD', { partition: 0, currency: 'USD', windowStart: T, windowEnd: T + MIN, orders: 3, items: 4, revenue: 30.25, final: true }),
    json('3/USD', { partition: 3, currency: 'USD', windowStart: T, windowEnd: T + MIN, orders: 2, items: 2, revenue: 20, final: true }),
    json('3/EUR', { partition: 3, currency: 'EUR', windowStart: T + MIN, windowEnd: T + 2 * MIN, orders: 1, items: 1, revenue: 9.99, final: false }),
  ],
  [TOPICS.topProducts]: [
    json('views/0', { partition: 0, metric: 'views', windowStart: T - W5, windowEnd: T, items: [{ productId: 'z', count: 100, error: 0 }], threshold: 0, final: true }),
    json('views/0', { partition: 0, metric: 'views', windowStart: T, windowEnd: T + W5, items: [{ productId: 'a', count: 40, error: 0 }, { productId: 'b', count: 10, error: 0 }], threshold: 1, final: false }),
    json('views/1', { partition: 1, metric: 'views', windowStart: T, windowEnd: T + W5, items: [{ productId: 'b', count: 30, error: 2 }, { productId: 'c', count: 5, error: 0 }], threshold: 2, final: false }),
  ],
  [TOPICS.uniqueUsers]: [
    json('1m/0', { partition: 0, granularity: '1m', windowStart: T, windowEnd: T + MIN, estimate: 10, final: false }),
    json('1m/5', { partition: 5, granularity: '1m', windowStart: T, windowEnd: T + MIN, estimate: 15, final: false }),
    json('5m/0', { partition: 0, granularity: '5m', windowStart: T, windowEnd: T + W5, estimate: 20, final: false }),
  ],
  [TOPICS.funnel]: [
    json('user-clicks/0', { source: 'user-clicks', partition: 0, windowStart: T, windowEnd: T + W5, views: 10, carts: 4, purchases: 0, viewers: 8, carters: 3, buyers: 0, final: false }),
    json('user-purchases/2', { source: 'user-purchases', partition: 2, windowStart: T, windowEnd: T + W5, views: 0, carts: 0, purchases: 2, viewers: 0, carters: 0, buyers: 2, final: true }),
  ],
  [TOPICS.sensorStats]: [
    json('fridge-7', { sensorId: 'fridge-7', metric: 'temperature', unit: 'C', windowStart: T, windowEnd: T + MIN, count: 60, min: 3.9, max: 4.6, mean: 4.21, ewma: 4.2, anomalyScore: 0.8, final: true }),
    json('fridge-7', { sensorId: 'fridge-7', metric: 'temperature', unit: 'C', windowStart: T + MIN, windowEnd: T + 2 * MIN, count: 58, min: 4, max: 9.5, mean: 5, ewma: 4.4, anomalyScore: 3.1, final: false }),
  ],
};
/** Activity records above that carry oldestEventTs, each counted once in the latency histogram. */
const KNOWN_TIMED = 4;

describe.each(['duckdb', 'postgres'] as const)('sink into %s', (kind) => {
  const bootstrap = inject('kafkaBootstrap');
  const config = testConfig();
  const dir = join(repoRoot, `.pulse/test-sink-${process.pid}-${kind}`);
  let postgres: LocalPostgres | null = null;
  let storeEnv: Record<string, string>;
  const port = 18600 + Math.floor(Math.random() * 400);
  const api = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    // An HTTP answer: its shape is what the assertions check.
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };

  beforeAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    if (kind === 'postgres') postgres = await startLocalPostgres(join(dir, 'pg'));
    storeEnv = postgres === null ? { PULSE_SINK_DUCKDB_FILE: join(dir, 'store.duckdb') } : { PULSE_DATABASE_URL: postgres.url };
    await resetTopics(config);
  });

  afterAll(async () => {
    await postgres?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores known records and the API serves exactly them', async () => {
    for (const [topic, records] of Object.entries(KNOWN)) await produceRecords(config, topic, records);
    const env = pulseEnv(bootstrap, storeEnv);
    // DuckDB: the API runs the sink inside (one process per file). PostgreSQL: a sink process of its own.
    const sink: PulseProcess | null = kind === 'postgres' ? spawnPulse(['sink', '--progress', '0'], env) : null;
    const serve = spawnPulse(['serve', '--port', String(port)], { ...env, PULSE_RECS_SNAPSHOT_INTERVAL_MS: '0' });
    try {
      await serve.waitFor(/API on/);
      const revenue = await waitUntil('revenue in the store', async () => {
        const r = await api(`/api/v1/revenue?bucket=1m&from=${T}&to=${T + W5}`);
        return (r.body.buckets as unknown[]).length === 2 && r.body.buckets[0].orders === 5 ? r : undefined;
      }, 60_000);
      expect(revenue.body.buckets).toEqual([
        { start: T, end: T + MIN, currency: 'USD', orders: 5, items: 6, revenue: 50.25, final: true },
        { start: T + MIN, end: T + 2 * MIN, currency: 'EUR', orders: 1, items: 1, revenue: 9.99, final: false },
      ]);
      // Every topic is in by now only if the sink stored them; wait for the slowest, then compare exactly.
      await waitUntil('sensor stats', async () => ((await api(`/api/v1/sensors/fridge-7/stats?from=${T}&to=${T + W5}`)).body.windows.length === 2 ? true : undefined), 30_000);

      expect((await api(`/api/v1/users/u-1/activity?from=${T}&to=${T + 3 * W5}`)).body).toEqual({
        userId: 'u-1',
        from: T,
        to: T + 3 * W5,
        total: 6,
        truncated: false,
        windows: [
          { windowStart: T, windowEnd: T + W5, count: 5, final: true },
          { windowStart: T + W5, windowEnd: T + 2 * W5, count: 1, final: false },
        ],
      });
      const sqlUser = await api(`/api/v1/users/${encodeURIComponent(SQL_USER)}/activity?from=${T}&to=${T + W5}`);
      expect(sqlUser.body.windows).toEqual([{ windowStart: T, windowEnd: T + W5, count: 7, final: true }]);

      expect((await api('/api/v1/products/top?metric=views&k=10')).body).toEqual({
        metric: 'views',
        window: '5m',
        windowStart: T,
        windowEnd: T + W5,
        exactLeading: 3,
        final: false,
        partitions: 2,
        items: [
          { productId: 'a', count: 42, error: 2, lower: 40, exact: true },
          { productId: 'b', count: 40, error: 2, lower: 38, exact: true },
          { productId: 'c', count: 6, error: 1, lower: 5, exact: true },
        ],
      });
      const wider = await api('/api/v1/products/top?metric=views&window=15m&k=1');
      expect(wider.body).toMatchObject({ windowStart: T - 2 * W5, items: [{ productId: 'z', count: 103, lower: 100, exact: true }] });

      expect((await api(`/api/v1/users/active?granularity=1m&from=${T}&to=${T + W5}`)).body.windows).toEqual([{ windowStart: T, windowEnd: T + MIN, users: 25, final: false }]);
      expect((await api(`/api/v1/funnel?from=${T}&to=${T + W5}`)).body).toEqual({
        from: T,
        to: T + W5,
        truncated: false,
        total: { views: 10, carts: 4, purchases: 2 },
        windows: [{ windowStart: T, windowEnd: T + W5, views: 10, carts: 4, purchases: 2, viewers: 8, carters: 3, buyers: 2, viewToCart: 0.375, cartToPurchase: 0.6667, final: false }],
      });
      expect((await api(`/api/v1/sensors/fridge-7/stats?from=${T}&to=${T + W5}`)).body.windows).toEqual([
        { metric: 'temperature', unit: 'C', windowStart: T, windowEnd: T + MIN, count: 60, min: 3.9, max: 4.6, mean: 4.21, ewma: 4.2, anomalyScore: 0.8, final: true },
        { metric: 'temperature', unit: 'C', windowStart: T + MIN, windowEnd: T + 2 * MIN, count: 58, min: 4, max: 9.5, mean: 5, ewma: 4.4, anomalyScore: 3.1, final: false },
      ]);
      // The sensor list: the latest minute of each sensor, with its worst score in the range.
      expect((await api(`/api/v1/sensors?from=${T}&to=${T + W5}`)).body).toEqual({
        from: T,
        to: T + W5,
        truncated: false,
        sensors: [{ sensorId: 'fridge-7', metric: 'temperature', unit: 'C', windowStart: T + MIN, windowEnd: T + 2 * MIN, count: 58, min: 4, max: 9.5, mean: 5, ewma: 4.4, anomalyScore: 3.1, worstScore: 3.1, final: false }],
      });

      // Hostile parameters: refused or empty, and the service stays healthy.
      for (const path of [`/api/v1/revenue?bucket=1m&from=${T}&to=x`, '/api/v1/revenue?bucket=1%27%3B%20DROP%20TABLE%20revenue', `/api/v1/funnel?from=${T + W5}&to=${T}`, '/api/v1/products/top?k=-1']) {
        expect((await api(path)).status, path).toBe(400);
      }
      expect((await api(`/api/v1/sensors/${encodeURIComponent("' OR 1=1 --")}/stats?from=0&to=8640000000000000`)).body.windows).toEqual([]);
      expect((await api('/healthz')).status).toBe(200);

      // The overview: rates and lag from Kafka (the sink commits its offsets under pulse-sink), latency from the store.
      const overview = await waitUntil('the sink group in the overview', async () => {
        const o = (await api('/api/v1/metrics/overview')).body as { kafka: { lag: { group: string; topic: string; lag: number }[]; topics: { topic: string; endOffset: number }[] }; latencyMs: { output: { count: number } } };
        return o.kafka.lag.some((l) => l.group === 'pulse-sink' && l.topic === TOPICS.revenue) ? o : undefined;
      }, 30_000);
      expect(overview.kafka.topics.find((t) => t.topic === TOPICS.revenue)?.endOffset).toBe(KNOWN[TOPICS.revenue]!.length);
      expect(overview.kafka.lag.filter((l) => l.group === 'pulse-sink').every((l) => l.lag === 0)).toBe(true);
      // Produced moments ago with event times in 2025: the latency is large, and counted once per record.
      expect(overview.latencyMs.output.count).toBe(KNOWN_TIMED);
      if (kind === 'duckdb') {
        const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        expect(metrics).toMatch(new RegExp(`^pulse_sink_records_total ${Object.values(KNOWN).flat().length}$`, 'm'));
        expect(metrics).toMatch(/^pulse_sink_rejected_total 1$/m);
        // librdkafka reports every 5 s: the sink consumer's round trips to the broker.
        await waitUntil('librdkafka statistics in /metrics', async () => (/^pulse_kafka_broker_rtt_ms\{client="sink",/m.test(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()) ? true : undefined), 20_000);
      }
    } finally {
      serve.child.kill('SIGTERM');
      sink?.child.kill('SIGTERM');
    }
    expect(await serve.exited).toBe(0);
    if (sink !== null) expect(await sink.exited).toBe(0);

    const store = await openStore(testConfig(storeEnv));
    try {
      expect(await store.query('SELECT topic, source_offset, reason, value FROM sink_rejects', [])).toEqual([
        { topic: TOPICS.userActivityCounts, source_offset: expect.any(Number), reason: 'invalid JSON', value: 'this is not JSON' },
      ]);
    } finally {
      await store.close();
    }
  });

  it('serve SIGKILLed: its analytics process lets go of the store, and a serve started at once serves it', async () => {
    const env = { ...pulseEnv(bootstrap, storeEnv), PULSE_RECS_SNAPSHOT_INTERVAL_MS: '0' };
    const first = spawnPulse(['serve', '--port', String(port)], env);
    await first.waitFor(/API on/);
    // The analytics process (store, sink, Kafka monitor) is serve's one child.
    const children = readFileSync(`/proc/${first.child.pid}/task/${first.child.pid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number);
    expect(children).toHaveLength(1);
    // At sink.nice (default 10) in every thread, so that on a busy machine the API goes first.
    const nices = readdirSync(`/proc/${children[0]}/task`).map((tid) => {
      const stat = readFileSync(`/proc/${children[0]}/task/${tid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    });
    expect(nices.length).toBeGreaterThan(5);
    expect(new Set(nices)).toEqual(new Set([10]));
    first.child.kill('SIGKILL');
    await first.exited;

    const second = spawnPulse(['serve', '--port', String(port)], env);
    try {
      await second.waitFor(/API on/);
      const revenue = await api(`/api/v1/revenue?bucket=1m&from=${T}&to=${T + W5}`);
      expect(revenue.body.buckets).toHaveLength(2);
      expect(revenue.body.buckets[0]).toMatchObject({ start: T, orders: 5 });
      // Orphaned, the first analytics process closes the store and exits (with DuckDB, before the second could open it).
      const alive = (pid: number) => {
        try {
          process.kill(pid, 0);
          return true;
        } catch {
          return false;
        }
      };
      await waitUntil('the orphaned analytics process to exit', async () => (alive(children[0]!) ? undefined : true), 10_000, 100);
    } finally {
      second.child.kill('SIGTERM');
    }
    expect(await second.exited).toBe(0);
  });

  it('SIGKILLed mid-stream and restarted, the sink writes every row exactly once', async () => {
    const env = pulseEnv(bootstrap, storeEnv);
    // 6 000 updates of 1 500 (user, window) keys, each key's count rising: the last update wins.
    const TOTAL = 6000;
    const KEYS = 1500;
    const T2 = T + 3600_000;
    const record = (j: number) => {
      const user = `c-${j % 500}`;
      const windowStart = T2 + W5 * (j % 3);
      return json(user, { userId: user, windowStart, windowEnd: windowStart + W5, count: j, final: false, oldestEventTs: T2 + j });
    };
    let producing = true;
    const producer = (async () => {
      for (let b = 0; b < 30; b++) {
        await produceRecords(config, TOPICS.userActivityCounts, Array.from({ length: TOTAL / 30 }, (_, i) => record(b * (TOTAL / 30) + i)));
        await new Promise((r) => setTimeout(r, 100));
      }
      producing = false;
    })();

    const first = spawnPulse(['sink', '--progress', '0.2'], env);
    await first.waitFor(/total [1-9]/, 60_000);
    first.child.kill('SIGKILL');
    await first.exited;
    expect(producing).toBe(true); // killed mid-stream
    await producer;

    const second = spawnPulse(['sink', '--progress', '0.2'], env);
    // Caught up: lag 0 and the total unchanged for a second.
    await waitUntil('the restarted sink to catch up', async () => {
      const lines = second.output().split('\n').filter((l) => l.includes('sink: stored'));
      const recent = lines.slice(-6);
      if (recent.length < 6) return undefined;
      const totals = recent.map((l) => /total ([\d,]+)/.exec(l)?.[1]);
      return recent.every((l) => / lag 0 /.test(l)) && new Set(totals).size === 1 && totals[0] !== '0' ? true : undefined;
    }, 90_000, 200);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);

    const store = await openStore(testConfig(storeEnv));
    try {
      const rows = await store.query("SELECT user_id, window_start, count FROM user_activity WHERE user_id LIKE 'c-%' ORDER BY count", []);
      expect(rows).toHaveLength(KEYS);
      // Key k (= j mod 1500) was last updated by record j = 4500 + k.
      expect(rows.every((r, k) => r.count === TOTAL - KEYS + k && r.user_id === `c-${(TOTAL - KEYS + k) % 500}` && r.window_start === T2 + W5 * ((TOTAL - KEYS + k) % 3))).toBe(true);
      // The latency histogram adds one per record consumed: replays after the kill would show as extra counts.
      const counted = await store.query('SELECT stage, CAST(SUM(count) AS BIGINT) AS n FROM latency_histogram GROUP BY stage ORDER BY stage', []);
      expect(counted).toEqual([
        { stage: 'output', n: TOTAL + KNOWN_TIMED },
        { stage: 'stored', n: TOTAL + KNOWN_TIMED },
      ]);
      const ends = await topicOffsets(config, TOPICS.userActivityCounts);
      const stored = (await store.committedOffsets()).get(TOPICS.userActivityCounts) ?? new Map<number, number>();
      for (const { partition, high } of ends) if (high > 0) expect(stored.get(partition), `partition ${partition}`).toBe(high);
    } finally {
      await store.close();
    }
  });

  it('deletes windows older than the retention cut-off, and keeps newer windows and the offsets', async () => {
    const store = await openStore(testConfig(storeEnv));
    try {
      const cutoff = T + W5;
      const expiring = TABLE_NAMES.map((n) => TABLES[n] as TableSpec).filter((t) => t.expiresBy !== undefined);
      const rows = async (t: TableSpec, op: '<' | '>=') => Number((await store.query(`SELECT COUNT(*) AS n FROM ${t.name} WHERE ${t.expiresBy} ${op} $1`, [cutoff]))[0]!.n);
      let older = 0;
      const newer = new Map<string, number>();
      for (const t of expiring) {
        older += await rows(t, '<');
        newer.set(t.name, await rows(t, '>='));
      }
      expect(older).toBeGreaterThan(0);
      const offsets = await store.committedOffsets();
      expect(await store.expire(cutoff)).toBe(older);
      for (const t of expiring) {
        expect(await rows(t, '<'), t.name).toBe(0);
        expect(await rows(t, '>='), t.name).toBe(newer.get(t.name));
      }
      expect(await store.committedOffsets()).toEqual(offsets);
    } finally {
      await store.close();
    }
  });
});
