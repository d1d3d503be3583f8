import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { AUTH, KEY, NOW, testCollector, type TestCollector } from './helpers.js';

const iso = (ms: number) => new Date(ms).toISOString();

let c: TestCollector;
afterEach(async () => {
  await c?.app.close();
});

async function post(url: string, body: unknown, headers: Record<string, string> = AUTH) {
  const payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const res = await c.app.inject({ method: 'POST', url, payload, headers: { 'content-type': 'application/json', ...headers } });
  return { status: res.statusCode, body: res.json() as Record<string, unknown>, headers: res.headers };
}

describe('Segment endpoints', () => {
  it('maps the e-commerce spec events of a batch to the topics and shapes of §3', async () => {
    c = await testCollector();
    const context = { library: { name: 'analytics.js', version: '2.1' }, page: { path: '/p/311' } };
    const batch = [
      { type: 'track', event: 'Product Viewed', userId: 'u-1', messageId: 'm1', timestamp: iso(NOW - 1000), properties: { product_id: 'p-311', price: 19.99, colour: 'red', sessionId: 's-1' }, context },
      { type: 'track', event: 'Product Added', anonymousId: 'anon-7', userId: null, messageId: 'm2', properties: { product_id: 311, quantity: 2 } },
      { type: 'track', event: 'product_removed', userId: 'u-1', messageId: 'm3', properties: { sku: 'p-9' } },
      { type: 'track', event: 'Products Searched', userId: 'u-1', messageId: 'm4', properties: { query: 'red shoes' } },
      { type: 'track', event: 'Checkout Started', userId: 'u-1', messageId: 'm5', properties: { value: 39.98 } },
      {
        type: 'track',
        event: 'Order Completed',
        userId: 'u-1',
        messageId: 'm6',
        properties: { order_id: 'o-5521', revenue: 39.98, currency: 'eur', coupon: 'X', products: [{ product_id: 'p-311', quantity: 2, price: 19.99 }] },
      },
      { type: 'track', event: 'Newsletter Signed Up', userId: 'u-1', messageId: 'm7', properties: { list: 'weekly' } },
      { type: 'page', name: 'Home', userId: 'u-1', messageId: 'm8', properties: { path: '/', title: 'Shop' } },
      { type: 'screen', name: 'Cart', userId: 'u-1', messageId: 'm9', context: { device: { type: 'ios' } } },
      { type: 'identify', userId: 'u-1', anonymousId: 'anon-7', messageId: 'm10', traits: { plan: 'gold' } },
    ];
    const res = await post('/v1/batch', { batch, sentAt: iso(NOW) });
    expect(res).toMatchObject({ status: 200, body: { success: true } });
    const byId = new Map(c.sink.written.map((w) => [w.value.eventId, w]));
    expect(byId.get('m1')).toEqual({
      topic: 'user-clicks',
      key: 'u-1',
      value: { eventId: 'm1', type: 'product_view', userId: 'u-1', sessionId: 's-1', productId: 'p-311', source: 'web', ts: NOW - 1000, properties: { price: 19.99, colour: 'red' } },
    });
    expect(byId.get('m2')).toMatchObject({ key: 'anon-7', value: { type: 'add_to_cart', userId: 'anon-7', productId: '311', source: 'server', ts: NOW, properties: { quantity: 2 } } });
    expect(byId.get('m3')?.value).toMatchObject({ type: 'remove_from_cart', productId: 'p-9' });
    expect(byId.get('m4')?.value).toMatchObject({ type: 'search', properties: { query: 'red shoes' } });
    expect(byId.get('m5')?.value).toMatchObject({ type: 'checkout_started', properties: { value: 39.98 } });
    expect(byId.get('m6')).toEqual({
      topic: 'user-purchases',
      key: 'u-1',
      value: {
        eventId: 'm6',
        type: 'purchase',
        userId: 'u-1',
        orderId: 'o-5521',
        items: [{ productId: 'p-311', quantity: 2, price: 19.99 }],
        total: 39.98,
        currency: 'EUR',
        ts: NOW,
        properties: { revenue: 39.98, coupon: 'X' },
      },
    });
    expect(byId.get('m7')?.value).toMatchObject({ type: 'click', properties: { list: 'weekly', event: 'Newsletter Signed Up' } });
    expect(byId.get('m8')?.value).toMatchObject({ type: 'page_view', properties: { page: '/', name: 'Home', title: 'Shop' } });
    expect(byId.get('m9')?.value).toMatchObject({ type: 'page_view', source: 'mobile', properties: { page: 'Cart' } });
    expect(byId.get('m10')).toMatchObject({ topic: 'pulse-identities', value: { type: 'identify', userId: 'u-1', anonymousId: 'anon-7', traits: { plan: 'gold' } } });
  });

  it('corrects the client clock: ts = receivedAt − (sentAt − timestamp)', async () => {
    c = await testCollector();
    // The client's clock is an hour fast; the event happened 5 s before it sent the batch.
    const hour = 3_600_000;
    await post('/v1/batch', { batch: [{ type: 'track', event: 'x', userId: 'u', timestamp: iso(NOW + hour - 5000) }], sentAt: iso(NOW + hour) });
    expect(c.sink.written[0]!.value.ts).toBe(NOW - 5000);
  });

  it('takes the write key from the body, and answers 401 without a valid one', async () => {
    c = await testCollector();
    const track = { event: 'x', userId: 'u' };
    expect((await post('/v1/track', { ...track, writeKey: KEY }, {})).status).toBe(200);
    expect(await post('/v1/track', track, {})).toMatchObject({ status: 401, body: { code: 'unauthorized', message: expect.stringMatching(/write key is required/) } });
    expect((await post('/v1/track', { ...track, writeKey: 'nope' }, {})).status).toBe(401);
    const wrong = { authorization: `Basic ${Buffer.from('nope:').toString('base64')}` };
    expect(await post('/v1/track', track, wrong)).toMatchObject({ status: 401, body: { message: 'unknown write key' } });
    expect(c.sink.written).toHaveLength(1);
  });

  it('accepts text/plain and gzip bodies, as browsers and mobile libraries send them', async () => {
    c = await testCollector();
    const body = JSON.stringify({ event: 'x', userId: 'u' });
    expect((await post('/v1/track', body, { ...AUTH, 'content-type': 'text/plain' })).status).toBe(200);
    expect((await post('/v1/track', gzipSync(body), { ...AUTH, 'content-encoding': 'gzip' })).status).toBe(200);
    expect(c.sink.written).toHaveLength(2);
  });

  it('answers a CORS preflight', async () => {
    c = await testCollector();
    const res = await c.app.inject({
      method: 'OPTIONS',
      url: '/v1/batch',
      headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('*');
    expect(String(res.headers['access-control-allow-headers'])).toMatch(/Authorization/);
  });
});

describe('refusals', () => {
  const event = (extra: Record<string, unknown> = {}) => ({ type: 'track', event: 'x', userId: 'u', ...extra });

  it.each([
    ['broken JSON', '/v1/batch', '{"batch": [', 'invalid_json', undefined],
    ['missing ids', '/v1/batch', { batch: [event(), { type: 'track', event: 'x' }] }, 'missing_field', 'batch[1].userId'],
    ['a wrong type', '/v1/batch', { batch: [event({ userId: { id: 1 } })] }, 'wrong_type', 'batch[0].userId'],
    ['properties that are not an object', '/v1/track', { event: 'x', userId: 'u', properties: [1] }, 'wrong_type', 'properties'],
    ['a missing event name', '/v1/track', { userId: 'u' }, 'missing_field', 'event'],
    ['an unknown call type', '/v1/batch', { batch: [event(), { type: 'purchase', userId: 'u' }] }, 'unknown_type', 'batch[1].type'],
    ['a timestamp that is no date', '/v1/batch', { batch: [event({ timestamp: 'yesterday' })] }, 'invalid_timestamp', 'batch[0].timestamp'],
    ['a timestamp in 2099', '/v1/track', { event: 'x', userId: 'u', timestamp: '2099-01-01T00:00:00Z' }, 'invalid_timestamp', 'timestamp'],
    ['a timestamp in seconds', '/v1/events', { type: 'click', userId: 'u', ts: 1_764_100_000 }, 'invalid_timestamp', 'ts'],
    ['an order without order_id', '/v1/track', { event: 'Order Completed', userId: 'u', properties: { products: [] } }, 'missing_field', 'properties.order_id'],
    ['a product without price', '/v1/track', { event: 'Order Completed', userId: 'u', properties: { order_id: 'o', products: [{ product_id: 'p' }] } }, 'missing_field', 'properties.products[0].price'],
    ['an unknown native type', '/v1/events', [{ type: 'click', userId: 'u', ts: NOW }, { type: 'hover', userId: 'u', ts: NOW }], 'unknown_type', '[1].type'],
    ['a sensor without value', '/v1/sensors', { sensorId: 's', metric: 'temperature', ts: NOW }, 'missing_field', 'value'],
    ['a string timestamp on a native event', '/v1/events', { type: 'click', userId: 'u', ts: '2025-11-25' }, 'wrong_type', 'ts'],
  ])('400 for %s, naming the field', async (_name, url, body, code, field) => {
    c = await testCollector();
    const res = await post(url, body);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ success: false, code });
    expect(res.body.field).toBe(field);
    expect(String(res.body.message)).toContain(field ?? '');
    expect(c.sink.written).toEqual([]);
  });

  it('400 for invalid UTF-8 and for nesting deeper than the limit', async () => {
    c = await testCollector();
    const bad = Buffer.concat([Buffer.from('{"event":"x","userId":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    expect((await post('/v1/track', bad)).body).toMatchObject({ code: 'invalid_encoding' });
    const deep = `{"event":"x","userId":"u","properties":${'{"a":'.repeat(40)}1${'}'.repeat(40)}}`;
    expect(await post('/v1/track', deep)).toMatchObject({ status: 400, body: { code: 'too_deep', message: expect.stringMatching(/deeper than 32/) } });
    expect(c.sink.written).toEqual([]);
  });

  it('413 for an event over 32 KB, a batch over 2 500 events and a request over 500 KB', async () => {
    c = await testCollector();
    const big = 'x'.repeat(33 * 1024);
    expect(await post('/v1/track', event({ properties: { big } }))).toMatchObject({ status: 413, body: { code: 'too_large' } });
    expect(await post('/v1/batch', { batch: [event(), event({ properties: { big } })] })).toMatchObject({ status: 413, body: { field: 'batch[1]' } });
    expect(await post('/v1/events', [{ type: 'click', userId: 'u', ts: NOW }, { type: 'click', userId: 'u', ts: NOW, properties: { big } }])).toMatchObject({ status: 413, body: { field: '[1]' } });
    const many = Array.from({ length: 2501 }, () => event());
    expect(await post('/v1/batch', { batch: many })).toMatchObject({ status: 413, body: { field: 'batch', message: expect.stringMatching(/2501 events/) } });
    const huge = Array.from({ length: 20 }, () => event({ properties: { big: 'x'.repeat(30 * 1024) } }));
    expect(await post('/v1/batch', { batch: huge })).toMatchObject({ status: 413, body: { message: expect.stringMatching(/500 KB/) } });
    expect(c.sink.written).toEqual([]);
  });

  it('429 with Retry-After above the per-key rate', async () => {
    c = await testCollector({ rateLimit: 10 });
    const batch = Array.from({ length: 15 }, (_, i) => event({ messageId: `r${i}` }));
    expect((await post('/v1/batch', { batch })).status).toBe(200);
    const res = await post('/v1/batch', { batch: [event()] });
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.body.code).toBe('rate_limited');
  });

  it('keeps serving after every refusal', async () => {
    c = await testCollector();
    await post('/v1/batch', '{"batch": [');
    await post('/v1/track', Buffer.from([0xff, 0xfe]));
    expect((await post('/v1/track', event())).status).toBe(200);
  });
});

describe('Kafka answers', () => {
  const track = { event: 'x', userId: 'u' };

  it('503 with Retry-After when Kafka is unreachable, without writing anything', async () => {
    c = await testCollector();
    c.sink.available = false;
    const res = await post('/v1/track', track);
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(c.sink.inFlight()).toBe(0);
  });

  it('503 when Kafka refuses an event or does not answer in time, never 200', async () => {
    c = await testCollector();
    c.sink.answer = 'fail';
    expect((await post('/v1/track', track)).status).toBe(503);
    c.sink.answer = 'hold';
    const res = await post('/v1/track', track);
    expect(res).toMatchObject({ status: 503, body: { message: expect.stringMatching(/did not acknowledge/) } });
    expect(res.headers['retry-after']).toBe('1');
  });

  it('503 when the events in flight would exceed the bound', async () => {
    c = await testCollector({ ingest: { maxInFlightEvents: 3 } });
    const res = await post('/v1/batch', { batch: Array.from({ length: 4 }, () => ({ type: 'track', ...track })) });
    expect(res).toMatchObject({ status: 503, body: { code: 'unavailable' } });
  });
});

describe('deduplication', () => {
  const track = (messageId: string) => ({ event: 'x', userId: 'u', messageId });

  it('writes a messageId once within the window', async () => {
    c = await testCollector();
    expect((await post('/v1/track', track('a'))).status).toBe(200);
    expect((await post('/v1/batch', { batch: [{ type: 'track', ...track('a') }, { type: 'track', ...track('b') }, { type: 'track', ...track('b') }] })).status).toBe(200);
    expect(c.sink.written.map((w) => w.value.eventId)).toEqual(['a', 'b']);
  });

  it('makes a retry wait for the first attempt still in flight, and writes it again if that failed', async () => {
    c = await testCollector({ ingest: { ackTimeoutMs: 2000 } });
    c.sink.answer = 'hold';
    const first = post('/v1/track', track('a'));
    await new Promise((r) => setTimeout(r, 20));
    const retry = post('/v1/track', track('a'));
    await new Promise((r) => setTimeout(r, 20));
    c.sink.release();
    expect((await first).status).toBe(200);
    expect((await retry).status).toBe(200);
    expect(c.sink.written).toHaveLength(1);

    c.sink.answer = 'fail';
    expect((await post('/v1/track', track('b'))).status).toBe(503);
    c.sink.answer = 'ack';
    expect((await post('/v1/track', track('b'))).status).toBe(200);
    expect(c.sink.written.map((w) => w.value.eventId)).toEqual(['a', 'b']);
  });
});

describe('native endpoints', () => {
  it('writes §3 events and sensor readings, filling in eventId and keeping extra fields in properties', async () => {
    c = await testCollector();
    const click = { type: 'product_view', userId: 'u-1', sessionId: 's-1', productId: 'p-1', source: 'web', ts: NOW, properties: { a: 1 }, campaign: 'winter' };
    const order = { eventId: 'e-2', type: 'purchase', userId: 'u-1', orderId: 'o-1', items: [{ productId: 'p-1', quantity: 1, price: 5 }], total: 5, currency: 'USD', ts: NOW };
    expect((await post('/v1/events', [click, order])).status).toBe(200);
    expect((await post('/v1/sensors', { sensorId: 'fridge-7', metric: 'temperature', value: 4.2, unit: 'C', ts: NOW })).status).toBe(200);
    const [first, second, sensor] = c.sink.written;
    expect(first).toMatchObject({ topic: 'user-clicks', key: 'u-1', value: { type: 'product_view', properties: { a: 1, campaign: 'winter' } } });
    expect(first!.value.eventId).toMatch(/^[0-9a-f-]{36}$/);
    expect(Object.keys(first!.value)).toEqual(['eventId', 'type', 'userId', 'sessionId', 'productId', 'source', 'ts', 'properties']);
    expect(second).toEqual({ topic: 'user-purchases', key: 'u-1', value: order });
    expect(sensor).toMatchObject({ topic: 'sensor-data', key: 'fridge-7', value: { sensorId: 'fridge-7', metric: 'temperature', value: 4.2, unit: 'C', ts: NOW } });
  });
});

describe('operations', () => {
  it('serves Prometheus metrics and health', async () => {
    c = await testCollector();
    await post('/v1/track', { event: 'x', userId: 'u' });
    await post('/v1/track', { userId: 'u' });
    const metrics = (await c.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/pulse_collector_events_accepted_total\{topic="user-clicks"\} 1/);
    expect(metrics).toMatch(/pulse_collector_events_rejected_total\{reason="missing_field"\} 1/);
    expect(metrics).toMatch(/pulse_collector_requests_total\{route="\/v1\/track",status="400"\} 1/);
    expect(metrics).toMatch(/pulse_collector_produce_latency_seconds_count 1/);
    expect((await c.app.inject({ method: 'GET', url: '/healthz' })).json()).toMatchObject({ status: 'ok', kafka: 'up' });
  });
});
