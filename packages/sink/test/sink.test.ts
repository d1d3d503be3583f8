import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '@pulse/config';
import { TOPICS } from '@pulse/kafka';
import { DuckDbStore, openStore, type Store, decodeRecord, latencyBucket, bucketUpperMs, mergeBatches, mergeTopProducts, summarize, TABLES } from '../src/index.js';
import { dedupeRows } from '../src/tables.js';

const W = 1_764_100_200_000;
/** The package's folder, from which its dependencies (@duckdb/node-api) resolve. */
const PACKAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');

describe('mergeTopProducts', () => {
  it('sums counts and errors over partitions, charging a partition that does not list a product its threshold', () => {
    const merged = mergeTopProducts(
      [
        { threshold: 2, items: [{ productId: 'a', count: 50, error: 0 }, { productId: 'b', count: 20, error: 1 }] },
        { threshold: 3, items: [{ productId: 'a', count: 40, error: 2 }, { productId: 'c', count: 10, error: 3 }] },
      ],
      10,
    );
    expect(merged.items).toEqual([
      { productId: 'a', count: 90, error: 2, lower: 88 },
      // b: 20 listed + at most 3 where unlisted; its lower bound is 19.
      { productId: 'b', count: 23, error: 4, lower: 19 },
      { productId: 'c', count: 12, error: 5, lower: 7 },
    ]);
    // a is certainly first (88 ≥ 23), b second (19 ≥ 12), c third (7 ≥ the 5 a product listed nowhere may have).
    expect(merged.exactLeading).toBe(3);
    expect(mergeTopProducts([{ threshold: 8, items: [{ productId: 'a', count: 50, error: 0 }, { productId: 'c', count: 10, error: 3 }] }], 10).exactLeading).toBe(1);
    expect(merged.unlistedUpper).toBe(5);
  });

  it('says no item is exact when the bounds overlap, and keeps k', () => {
    const merged = mergeTopProducts([{ threshold: 10, items: [{ productId: 'x', count: 12, error: 5 }, { productId: 'y', count: 11, error: 0 }] }], 1);
    expect(merged.items.map((i) => i.productId)).toEqual(['x']);
    expect(merged.exactLeading).toBe(0);
  });
});

describe('decodeRecord', () => {
  it('turns each output topic into its row and names the bad field', () => {
    const activity = decodeRecord(TOPICS.userActivityCounts, Buffer.from(JSON.stringify({ userId: 'u-1', windowStart: W, windowEnd: W + 300_000, count: 3, final: false, oldestEventTs: W + 5 })), W + 70);
    expect(activity).toEqual({ table: 'userActivity', row: ['u-1', W, W + 300_000, 3, false, W + 5, W + 70], oldestEventTs: W + 5 });
    const bad = (topic: string, value: unknown) => () => decodeRecord(topic, Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)), 0);
    expect(bad(TOPICS.revenue, '{"partition":')).toThrow(/invalid JSON/);
    expect(bad(TOPICS.revenue, { partition: 1, currency: 'USD', windowStart: W, windowEnd: W + 60_000, orders: -1, items: 1, revenue: 1 })).toThrow(/orders: expected an integer/);
    expect(bad(TOPICS.topProducts, { partition: 1, metric: 'likes', windowStart: W, windowEnd: W + 1, items: [], threshold: 0 })).toThrow(/metric: expected one of views, carts, purchases/);
    expect(bad(TOPICS.topProducts, { partition: 1, metric: 'views', windowStart: W, windowEnd: W + 1, items: [{ productId: 'p', count: 1, error: 2 }], threshold: 0 })).toThrow(/items\[0\]\.error/);
    expect(bad(TOPICS.sensorStats, { sensorId: 's', metric: 't', windowStart: W, windowEnd: W - 1 })).toThrow(/windowEnd: must be after windowStart/);
    expect(bad(TOPICS.sensorStats, { sensorId: 's', metric: 't', unit: 7, windowStart: W, windowEnd: W + 1, count: 1, min: 0, max: 0, mean: 0, ewma: 0 })).toThrow(/unit: expected a non-empty string/);
    expect(bad(TOPICS.userActivityCounts, { userId: 'a\u0000b', windowStart: W, windowEnd: W + 1, count: 1 })).toThrow(/NUL/);
    expect(() => decodeRecord(TOPICS.funnel, null, 0)).toThrow(/tombstone/);
  });
});

describe('dedupeRows', () => {
  it('keeps the last row of a key, and adds up additive tables', () => {
    expect(dedupeRows(TABLES.offsets, [['t', 0, 5], ['t', 1, 2], ['t', 0, 9]])).toEqual([['t', 1, 2], ['t', 0, 9]]);
    expect(dedupeRows(TABLES.latency, [['output', 0, 3, 1], ['output', 0, 3, 1], ['stored', 0, 3, 1]])).toEqual([['output', 0, 3, 2], ['stored', 0, 3, 1]]);
  });
});

describe('mergeBatches', () => {
  it('keeps every row in order and the furthest offset of each partition', () => {
    const merged = mergeBatches([
      { rows: { userActivity: [['u-1', W, W + 1, 1, false, W, W]], latency: [['output', 0, 3, 1]] }, offsets: [{ topic: 't', partition: 0, nextOffset: 5 }, { topic: 't', partition: 1, nextOffset: 2 }] },
      { rows: { userActivity: [['u-1', W, W + 1, 2, false, W, W]] }, offsets: [{ topic: 't', partition: 0, nextOffset: 9 }] },
      { rows: { latency: [['output', 0, 3, 1]] }, offsets: [{ topic: 'u', partition: 0, nextOffset: 1 }] },
    ]);
    expect(merged.rows.userActivity).toEqual([['u-1', W, W + 1, 1, false, W, W], ['u-1', W, W + 1, 2, false, W, W]]);
    expect(merged.rows.latency).toEqual([['output', 0, 3, 1], ['output', 0, 3, 1]]);
    expect(merged.offsets).toEqual([{ topic: 't', partition: 0, nextOffset: 9 }, { topic: 't', partition: 1, nextOffset: 2 }, { topic: 'u', partition: 0, nextOffset: 1 }]);
    // The store keeps the last row of a key, and adds up the additive ones.
    expect(dedupeRows(TABLES.userActivity, merged.rows.userActivity!)).toEqual([['u-1', W, W + 1, 2, false, W, W]]);
    expect(dedupeRows(TABLES.latency, merged.rows.latency!)).toEqual([['output', 0, 3, 2]]);
  });
});

describe('latency buckets', () => {
  it('are within 5 % and give percentiles as bucket upper bounds', () => {
    for (const ms of [1, 7, 99, 1234, 60_000]) {
      const upper = bucketUpperMs(latencyBucket(ms));
      expect(upper).toBeGreaterThanOrEqual(ms);
      expect(upper).toBeLessThanOrEqual(Math.ceil(ms * 1.05) + 1);
    }
    const buckets = [...Array(100).keys()].map((i) => ({ bucket: latencyBucket(i + 1), count: 1 }));
    const s = summarize(buckets);
    expect(s.count).toBe(100);
    expect(s.p50).toBeGreaterThanOrEqual(50);
    expect(s.p50).toBeLessThanOrEqual(53);
    expect(s.p99).toBeGreaterThanOrEqual(99);
    expect(summarize([]).p50).toBeNull();
  });
});

describe('DuckDbStore', () => {
  it('upserts rows and offsets in one transaction, and a failed batch leaves neither', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'pulse-duck-')), 'store.duckdb');
    const store = await DuckDbStore.open(file);
    await store.migrate();
    await store.migrate(); // idempotent
    const row = (count: number) => ["u'1; DROP TABLE user_activity; --", W, W + 300_000, count, false, null, W + 10] as const;
    await store.write({ rows: { userActivity: [row(1), row(2)] }, offsets: [{ topic: TOPICS.userActivityCounts, partition: 3, nextOffset: 2 }] });
    await store.write({ rows: { userActivity: [row(5)], latency: [['output', 0, 4, 1]] }, offsets: [{ topic: TOPICS.userActivityCounts, partition: 3, nextOffset: 3 }] });
    await store.write({ rows: { latency: [['output', 0, 4, 1]] }, offsets: [] });
    // A row that breaks a constraint (NULL in a NOT NULL column) fails the whole batch, offsets included.
    await expect(store.write({ rows: { userActivity: [[null, W, W, 1, false, null, 0]] }, offsets: [{ topic: TOPICS.userActivityCounts, partition: 3, nextOffset: 99 }] })).rejects.toThrow();
    expect(await store.query('SELECT user_id, count FROM user_activity', [])).toEqual([{ user_id: "u'1; DROP TABLE user_activity; --", count: 5 }]);
    expect(await store.query('SELECT count FROM latency_histogram', [])).toEqual([{ count: 2 }]);
    expect((await store.committedOffsets()).get(TOPICS.userActivityCounts)?.get(3)).toBe(3);
    await store.close();
    await expect(DuckDbStore.open(file).then((s) => s.close())).resolves.toBeUndefined();
  });

  it('runs the configured number of DuckDB threads: sink.duckdbThreads, 1 unless set', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pulse-duck-'));
    const threads = async (store: Store) => {
      const [row] = await store.query("SELECT current_setting('threads')::INTEGER AS threads", []);
      await store.close();
      return row?.threads;
    };
    expect(await threads(await openStore(loadConfig({ env: {}, overrides: { dataDir: dir } })))).toBe(1);
    expect(await threads(await openStore(loadConfig({ env: {}, overrides: { dataDir: dir, 'sink.duckdbThreads': 3 } })))).toBe(3);
  });

  it('waits for another process to let go of the file, and says who holds it when it does not', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'pulse-duck-')), 'store.duckdb');
    // Another process holds the file open until told to let go (a line on its stdin).
    const holder = spawn(
      process.execPath,
      ['--input-type=module', '-e', `import { DuckDBInstance } from '@duckdb/node-api'; const i = await DuckDBInstance.create(${JSON.stringify(file)}); console.log('open'); process.stdin.once('data', () => { i.closeSync(); process.exit(0); });`],
      { cwd: PACKAGE_DIR, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    await new Promise((resolve) => holder.stdout.once('data', resolve));
    await expect(DuckDbStore.open(file, { lockWaitMs: 300 })).rejects.toThrow(new RegExp(`open in another process .*run either \`pulse serve\`.*\\(PID ${holder.pid}\\)`, 's'));
    const opening = DuckDbStore.open(file, { lockWaitMs: 10_000 });
    setTimeout(() => holder.stdin.write('close\n'), 500);
    const store = await opening;
    await store.migrate();
    await store.close();
  });
});
