import { mapSegmentBatch } from '@pulse/engine';
import { afterEach, describe, expect, it } from 'vitest';
import { mapSegmentCall, outputTopics, type SegmentCall } from '../src/segment.js';
import { DEFAULT_TOPICS } from '../src/server.js';
import { parseIsoTime } from '../src/time.js';
import { AUTH, NOW, testCollector, type TestCollector } from './helpers.js';

/**
 * The native /v1/batch path must answer exactly as the JavaScript path: for every body it maps, the
 * same records byte for byte; for every body the JavaScript path refuses, no answer of its own.
 */

const iso = (ms: number) => new Date(ms).toISOString();
const context = { library: { name: 'analytics.js', version: '2.1' }, userAgent: 'Mozilla/5.0', page: { path: '/p/311', url: 'https://shop.example/p/311' } };
let seq = 0;
const track = (event: string, properties: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
  type: 'track',
  event,
  userId: 'u-1',
  anonymousId: 'a-1',
  messageId: `m-${seq++}`,
  timestamp: iso(NOW - 2000),
  context,
  properties,
  ...extra,
});
const page = (extra: Record<string, unknown> = {}) => ({ type: 'page', name: 'Home', userId: 'u-2', messageId: `m-${seq++}`, properties: { path: '/', sessionId: 's-2' }, ...extra });
const order = (properties: Record<string, unknown>) => track('Order Completed', { order_id: 'o-1', products: [{ product_id: 'p-1', quantity: 2, price: 19.99 }], ...properties });

/** Calls the native path maps, each beside ordinary calls in a batch. */
const MAPPED: Record<string, unknown>[] = [
  track('Product Viewed', { product_id: 'p-311', price: 19.99, colour: 'red', sessionId: 's-1' }),
  track('product_added', { productId: 'p-1', quantity: 2, session_id: 's-9' }),
  track('PRODUCT REMOVED', { sku: 'p-9', nested: { a: [1, 2.5, { b: null }], c: true, 'd e': '\n"\\' } }),
  track('Product Clicked', {}, { context: { device: { type: 'iOS' }, sessionId: 's-ctx' } }),
  track('Products Searched', { query: 'red shoes', sessionId: null, session_id: 's-3' }),
  track('Checkout Started', { value: 39.98, sessionId: '' }, { context: { library: { name: 'analytics-next' } } }),
  track('Newsletter Signed Up', { list: 'weekly' }, { context: { library: { name: 'analytics-python' }, session_id: 's-c' } }),
  track('Custom', { event: 'overwritten', after: 1 }, { userId: null }),
  track('Custom', {}, { userId: '', timestamp: undefined, originalTimestamp: iso(NOW - 5000) }),
  track('Custom', {}, { timestamp: undefined, context: undefined }),
  track('Custom', {}, { sentAt: iso(NOW + 3_600_000), timestamp: iso(NOW + 3_600_000 - 1500) }),
  track('Custom', { 'ü': 'é', emoji: '😀', tab: '\t' }, { userId: 'ü-1' }),
  order({ revenue: 39.98, currency: 'eur', coupon: 'X' }),
  order({ total: 12, revenue: 'ignored when total is given' }),
  order({ products: [{ sku: 'p-2', price: 0.1 }, { productId: 'p-3', quantity: 3, price: 0.2 }] }),
  order({ products: [] }),
  page(),
  page({ name: undefined, category: 'docs', properties: { title: 'Docs' }, context: { page: { path: '/docs' } } }),
  page({ properties: { page: 'kept', name: 'kept too', path: null } }),
  { type: 'screen', name: 'Cart', userId: 'u-1', messageId: 'sc-1', context: { device: { type: 'android' } } },
  { type: 'identify', userId: 'u-1', anonymousId: 'anon-7', messageId: 'i-1', traits: { plan: 'gold', tags: ['a'] } },
  { type: 'identify', userId: null, anonymousId: 'anon-8', messageId: 'i-2', properties: { sessionId: 7 } },
  { type: 'identify', userId: 'u-1', anonymousId: '', messageId: 'i-3' },
  { type: 'group', userId: 'u-1', groupId: 'g-1', messageId: 'g-1', traits: { name: 'Shop' } },
  { type: 'alias', userId: 'u-1', previousId: 'anon-7', messageId: 'al-1' },
];

/** Calls the native path leaves to JavaScript (which may map or refuse them). */
const LEFT: Record<string, unknown>[] = [
  { type: 'alias', userId: null, anonymousId: 'a', previousId: 'p', messageId: 'al-2' },
  { type: 'alias', userId: 'u', previousId: 7, messageId: 'al-3' },
  { type: 'group', userId: 'u', messageId: 'g-2' },
  { type: 'group', userId: 'u', groupId: 42, messageId: 'g-3' },
  { type: 'identify', userId: 'u', messageId: 'i-4', traits: [] },
  track('Custom', {}, { messageId: undefined }),
  track('Custom', {}, { userId: 42 }),
  track('Custom', { sessionId: 7 }),
  track('Custom', { '1': 'integer keys come first in JavaScript' }),
  track('Custom', { big: 1e21, small: 1e-7 }),
  track('Custom', { text: '\u2028 \u0001' }),
  track('Custom', {}, { timestamp: '2025-11-25T19:45:00Z' }),
  track('Custom', {}, { timestamp: 'yesterday' }),
  track('Custom', {}, { timestamp: iso(NOW + 3_600_000) }),
  track('Custom', {}, { properties: [1] }),
  track('Custom', {}, { userId: { id: 1 } }),
  track('Custom', {}, { userId: undefined, anonymousId: undefined }),
  track('Custom', {}, { event: '' }),
  track('Produkt Ångström', {}),
  order({ order_id: undefined }),
  order({ currency: 'euro' }),
  order({ products: [{ product_id: 'p' }] }),
  order({ products: [{ product_id: 'p', quantity: 0, price: 1 }] }),
  order({ total: -1 }),
  { type: 'purchase', userId: 'u' },
  { event: 'no type', userId: 'u' },
];

let c: TestCollector;
afterEach(async () => {
  await c?.app.close();
});

function nativeRecords(body: string) {
  const m = mapSegmentBatch(Buffer.from(body), NOW);
  if (m === null) return null;
  const topics = outputTopics(DEFAULT_TOPICS);
  return Array.from(m.starts, (at, i) => {
    const keyLength = m.packed.readUInt32LE(at + 1);
    const valueAt = at + 5 + keyLength;
    const value = m.packed.toString('utf8', valueAt + 4, valueAt + 4 + m.packed.readUInt32LE(valueAt));
    return { topic: topics[m.packed[at]!], key: m.packed.toString('utf8', at + 5, valueAt), value, dedupId: m.ids[i] };
  });
}

function jsRecords(body: string) {
  const parsed = JSON.parse(body) as { batch: SegmentCall[]; sentAt?: string; context?: Record<string, unknown> };
  const envelope = { receivedAt: NOW, sentAt: parsed.sentAt === undefined ? undefined : parseIsoTime(parsed.sentAt, 'sentAt'), context: parsed.context };
  return parsed.batch.map((call, i) => mapSegmentCall(call, call.type!, envelope, `batch[${i}]`, DEFAULT_TOPICS));
}

describe('the native /v1/batch path', () => {
  it('maps the common calls byte for byte as the JavaScript path does', () => {
    for (const call of MAPPED) {
      for (const body of [{ batch: [track('Product Viewed'), call] }, { batch: [call], sentAt: iso(NOW), context: { userAgent: 'x', sessionId: 's-env' } }]) {
        const text = JSON.stringify(body);
        const native = nativeRecords(text);
        expect(native, text).not.toBeNull();
        expect(native).toEqual(jsRecords(text));
      }
    }
  });

  it('leaves every other body to the JavaScript path, and never maps one it refuses', async () => {
    c = await testCollector();
    for (const call of LEFT) {
      const text = JSON.stringify({ batch: [track('Product Viewed'), call] });
      expect(nativeRecords(text), text).toBeNull();
    }
    const bodies = [
      ...LEFT.map((call) => JSON.stringify({ batch: [call] })),
      '{"batch":[{"type":"track","event":"x","userId":"u","messageId":"d","messageId":"e"}]}',
      '{"batch":[{"type":"track","event":"x","userId":"u","messageId":"m\\u0041"}]}',
      `{"batch":[{"type":"track","event":"x","userId":"u","messageId":"m","properties":${'{"a":'.repeat(40)}1${'}'.repeat(40)}}]}`,
      JSON.stringify({ batch: [track('x', { big: 'x'.repeat(33 * 1024) })] }),
      JSON.stringify({ batch: [] }),
      JSON.stringify({ batch: [track('x')], sentAt: 'now' }),
      JSON.stringify({ batch: [track('x')], context: [] }),
      JSON.stringify({ batch: [track('x')], writeKey: 7 }),
      '{"batch":[{"type":"track","event":"x","userId":"u","messageId":"m"}],}',
      '{"batch":[{"type":"track","event":"x","userId":"u","messageId":"m"}]} x',
    ];
    for (const text of bodies) {
      const res = await c.app.inject({ method: 'POST', url: '/v1/batch', payload: text, headers: { ...AUTH, 'content-type': 'application/json' } });
      if (res.statusCode !== 200) expect(nativeRecords(text), `${res.statusCode} ${text.slice(0, 200)}`).toBeNull();
    }
  });

  it('is the path an ordinary batch takes, with the write key from the body and duplicates dropped', async () => {
    c = await testCollector();
    const first = track('Product Viewed', { product_id: 'p-1' });
    const body = { batch: [first, track('Product Added', { product_id: 'p-1' }), first], writeKey: 'test-key' };
    expect(nativeRecords(JSON.stringify(body))).toHaveLength(3);
    const res = await c.app.inject({ method: 'POST', url: '/v1/batch', payload: JSON.stringify(body), headers: { 'content-type': 'text/plain' } });
    expect(res.statusCode).toBe(200);
    expect(c.sink.written.map((w) => w.value.type)).toEqual(['product_view', 'add_to_cart']);
    const again = await c.app.inject({ method: 'POST', url: '/v1/batch', payload: JSON.stringify({ batch: [first] }), headers: { ...AUTH, 'content-type': 'application/json' } });
    expect(again.statusCode).toBe(200);
    expect(c.sink.written).toHaveLength(2);
  });

  it('answers 503 when the producer queue fills mid-request, and the retry writes each event once', async () => {
    c = await testCollector();
    const batch = { batch: [track('a'), track('b'), track('c')] };
    const post = () => c.app.inject({ method: 'POST', url: '/v1/batch', payload: JSON.stringify(batch), headers: { ...AUTH, 'content-type': 'application/json' } });
    const produceOutputs = c.sink.produceOutputs.bind(c.sink);
    c.sink.produceOutputs = (packed, starts, delivery) => produceOutputs(packed, starts.subarray(0, 1), delivery);
    expect((await post()).statusCode).toBe(503);
    c.sink.produceOutputs = () => {
      throw new Error('refused');
    };
    expect((await post()).statusCode).toBe(500);
    c.sink.produceOutputs = produceOutputs;
    expect((await post()).statusCode).toBe(200);
    expect(c.sink.written.map((w) => w.value.properties)).toEqual([{ event: 'a' }, { event: 'b' }, { event: 'c' }]);
  });
});
