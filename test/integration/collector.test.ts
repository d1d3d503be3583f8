import { Analytics } from '@segment/analytics-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCollector, type RunningCollector, type TopicNames } from '../../packages/collector/src/index.js';
import { deleteTopics, ensureTopics } from '../../packages/kafka/src/index.js';
import { readJson, testConfig, uniqueTopic } from './helpers/index.js';

const KEY = 'it-write-key';
const AUTH = `Basic ${Buffer.from(`${KEY}:`).toString('base64')}`;

// Topics of their own, so that records other tests write to the spec topics do not mix in.
const topics: TopicNames = { clicks: uniqueTopic('clicks'), purchases: uniqueTopic('purchases'), sensors: uniqueTopic('sensors'), identities: uniqueTopic('identities') };
const config = () => testConfig({ PULSE_WRITE_KEYS: KEY });
let collector: RunningCollector;

beforeAll(async () => {
  await ensureTopics(
    config(),
    Object.values(topics).map((name) => ({ name, partitions: 3, config: {}, doc: 'collector test topic' })),
  );
  collector = await startCollector(config(), { port: 0, topics });
});

afterAll(async () => {
  await collector?.close();
  await deleteTopics(config(), Object.values(topics));
});

type Value = Record<string, unknown>;

async function everything(): Promise<{ topic: string; key: string | null; value: Value }[]> {
  const out = [];
  for (const topic of Object.values(topics)) for (const r of await readJson<Value>(config(), topic)) out.push({ topic, key: r.key, value: r.json! });
  return out;
}

describe('collector against Kafka', () => {
  it("takes Segment's own Node library and writes the right topics and shapes", async () => {
    const analytics = new Analytics({ writeKey: KEY, host: collector.url, flushAt: 5, flushInterval: 50, maxRetries: 2 });
    const failures: unknown[] = [];
    analytics.on('error', (err) => failures.push(err));
    const userId = 'sdk-user-1';
    analytics.identify({ userId, traits: { plan: 'gold' } });
    analytics.page({ userId, name: 'Home', properties: { path: '/' } });
    analytics.track({ userId, event: 'Product Viewed', properties: { product_id: 'p-311', price: 19.99, category: 'shoes' } });
    analytics.track({ anonymousId: 'sdk-anon-1', event: 'Product Added', properties: { product_id: 'p-311', quantity: 2, price: 19.99 } });
    analytics.track({ userId, event: 'Products Searched', properties: { query: 'red shoes' } });
    analytics.track({ userId, event: 'Checkout Started', properties: { value: 39.98 } });
    analytics.track({
      userId,
      event: 'Order Completed',
      properties: { order_id: 'o-5521', total: 39.98, currency: 'USD', products: [{ product_id: 'p-311', quantity: 2, price: 19.99 }] },
    });
    analytics.track({ userId, event: 'Wishlist Shared', properties: { channel: 'email' } });
    await analytics.closeAndFlush({ timeout: 30_000 });
    expect(failures).toEqual([]);

    const records = await everything();
    const clicks = records.filter((r) => r.topic === topics.clicks);
    expect(clicks.map((r) => r.value.type).sort()).toEqual(['add_to_cart', 'checkout_started', 'click', 'page_view', 'product_view', 'search']);
    for (const r of clicks) {
      expect(r.key).toBe(r.value.userId);
      expect(Object.keys(r.value).filter((k) => k !== 'productId' && k !== 'sessionId')).toEqual(['eventId', 'type', 'userId', 'source', 'ts', 'properties']);
      expect(typeof r.value.eventId).toBe('string');
      expect(Math.abs((r.value.ts as number) - Date.now())).toBeLessThan(60_000);
      expect(r.value.source).toBe('server');
    }
    const byType = new Map(clicks.map((r) => [r.value.type, r.value]));
    expect(byType.get('product_view')).toMatchObject({ userId, productId: 'p-311', properties: { price: 19.99, category: 'shoes' } });
    expect(byType.get('add_to_cart')).toMatchObject({ userId: 'sdk-anon-1', productId: 'p-311', properties: { quantity: 2 } });
    expect(byType.get('page_view')).toMatchObject({ properties: { page: '/', name: 'Home' } });
    expect(byType.get('click')).toMatchObject({ properties: { channel: 'email', event: 'Wishlist Shared' } });

    const purchases = records.filter((r) => r.topic === topics.purchases);
    expect(purchases).toHaveLength(1);
    expect(purchases[0]).toMatchObject({
      key: userId,
      value: { type: 'purchase', userId, orderId: 'o-5521', items: [{ productId: 'p-311', quantity: 2, price: 19.99 }], total: 39.98, currency: 'USD' },
    });
    expect(records.filter((r) => r.topic === topics.identities).map((r) => r.value)).toMatchObject([{ type: 'identify', userId, traits: { plan: 'gold' } }]);
  });

  it('refuses a corpus of bad requests with their status and a helpful message, writes none of them, and keeps serving', async () => {
    const before = (await everything()).length;
    const ok = { type: 'track', event: 'Product Viewed', userId: 'bad-corpus', properties: { product_id: 'p-1' } };
    const big = 'x'.repeat(33 * 1024);
    const corpus: { name: string; url: string; body: string | Buffer; auth?: string | null; status: number; message: RegExp }[] = [
      { name: 'broken JSON', url: '/v1/batch', body: '{"batch":[{"type":"track",', status: 400, message: /not valid JSON/ },
      { name: 'empty body', url: '/v1/track', body: '', status: 400, message: /empty/ },
      { name: 'missing ids', url: '/v1/batch', body: JSON.stringify({ batch: [ok, { type: 'track', event: 'x' }] }), status: 400, message: /batch\[1\]\.userId or batch\[1\]\.anonymousId is required/ },
      { name: 'wrong type', url: '/v1/batch', body: JSON.stringify({ batch: [{ ...ok, userId: ['u'] }] }), status: 400, message: /batch\[0\]\.userId must be string or number or null/ },
      { name: 'bad timestamp', url: '/v1/batch', body: JSON.stringify({ batch: [{ ...ok, timestamp: '25/11/2025' }] }), status: 400, message: /batch\[0\]\.timestamp must be an ISO-8601/ },
      { name: 'future timestamp', url: '/v1/track', body: JSON.stringify({ ...ok, timestamp: '2099-01-01T00:00:00Z' }), status: 400, message: /timestamp is 2099/ },
      { name: 'oversize event', url: '/v1/batch', body: JSON.stringify({ batch: [ok, { ...ok, properties: { big } }] }), status: 413, message: /batch\[1\] is \d+ bytes; an event may have at most 32 KB/ },
      { name: 'oversize batch', url: '/v1/batch', body: JSON.stringify({ batch: Array.from({ length: 2501 }, () => ({ type: 'track', event: 'e', userId: 'bad' })) }), status: 413, message: /at most 2500/ },
      { name: 'oversize request', url: '/v1/events', body: JSON.stringify(Array.from({ length: 20 }, () => ({ type: 'click', userId: 'bad', ts: Date.now(), properties: { big: big.slice(0, 30_000) } }))), status: 413, message: /at most 500 KB/ },
      { name: 'deep nesting', url: '/v1/track', body: `{"event":"x","userId":"bad","properties":${'['.repeat(64)}${']'.repeat(64)}}`, status: 400, message: /deeper than 32 levels/ },
      { name: 'invalid UTF-8', url: '/v1/track', body: Buffer.from([...Buffer.from('{"event":"x","userId":"bad'), 0xed, 0xa0, 0x80, ...Buffer.from('"}')]), status: 400, message: /not valid UTF-8/ },
      { name: 'unknown call type', url: '/v1/batch', body: JSON.stringify({ batch: [{ ...ok, type: 'purchase' }] }), status: 400, message: /batch\[0\]\.type must be one of track, page/ },
      { name: 'unknown native type', url: '/v1/events', body: JSON.stringify({ type: 'hover', userId: 'bad', ts: Date.now() }), status: 400, message: /type must be one of page_view/ },
      { name: 'wrong key', url: '/v1/batch', body: JSON.stringify({ batch: [ok] }), auth: `Basic ${Buffer.from('nope:').toString('base64')}`, status: 401, message: /unknown write key/ },
      { name: 'missing key', url: '/v1/batch', body: JSON.stringify({ batch: [ok] }), auth: null, status: 401, message: /write key is required/ },
    ];
    for (const c of corpus) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (c.auth !== null) headers.authorization = c.auth ?? AUTH;
      const res = await fetch(`${collector.url}${c.url}`, { method: 'POST', headers, body: c.body });
      const json = (await res.json()) as { success: boolean; message: string };
      expect({ name: c.name, status: res.status }).toEqual({ name: c.name, status: c.status });
      expect(json.success, c.name).toBe(false);
      expect(json.message, c.name).toMatch(c.message);
    }
    const good = await fetch(`${collector.url}/v1/track`, { method: 'POST', headers: { authorization: AUTH, 'content-type': 'application/json' }, body: JSON.stringify({ ...ok, userId: 'after-corpus' }) });
    expect(good.status).toBe(200);
    expect(await good.json()).toEqual({ success: true });

    const after = await everything();
    expect(after.length).toBe(before + 1);
    expect(after.filter((r) => String(r.value.userId).startsWith('bad'))).toEqual([]);
    expect(after.some((r) => r.value.userId === 'after-corpus')).toBe(true);
  });
});
