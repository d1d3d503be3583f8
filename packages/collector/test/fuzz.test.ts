import { gzipSync } from 'node:zlib';
import { loadConfig } from '@pulse/config';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rng } from '../../../test/integration/helpers/rng.js';
import { AUTH, KEY, NOW, testCollector, type TestCollector } from './helpers.js';

const REQUESTS = 4000;

/** Hostile requests from a seed: wrong methods and paths, odd headers, broken and well-formed bodies. */
function hostileRequests(seed: number) {
  const random = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const text = () => pick(['', 'x', 'u-1', '💥', '\u0000', 'a'.repeat(300), "'; DROP TABLE x; --", '../../etc/passwd', '%00', '\ud800']);
  const scalar = () => pick<unknown>([null, true, 0, -1, 1e308, 1.5, NOW, NOW / 1000, '2025-11-25T19:46:40Z', text(), [], {}]);
  const value = (depth: number): unknown => {
    if (depth > 3 || random() < 0.4) return scalar();
    if (random() < 0.3) return Array.from({ length: Math.floor(random() * 4) }, () => value(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = Math.floor(random() * 6); i > 0; i--) {
      o[pick(['type', 'event', 'userId', 'anonymousId', 'messageId', 'timestamp', 'ts', 'properties', 'products', 'product_id', 'price', 'quantity', 'order_id', 'sensorId', 'metric', 'value', 'batch', 'writeKey', 'context', 'traits', text()])] = value(depth + 1);
    }
    return o;
  };
  const event = () => ({
    type: pick(['track', 'page', 'screen', 'identify', 'group', 'alias', 'nope']),
    event: pick(['Product Viewed', 'Product Added', 'Order Completed', 'Checkout Started', text()]),
    userId: random() < 0.8 ? `u-${Math.floor(random() * 9)}` : scalar(),
    messageId: random() < 0.5 ? `m-${Math.floor(random() * 1e9)}` : undefined,
    properties: random() < 0.7 ? value(1) : scalar(),
  });
  const body = (): string | Buffer => {
    if (random() < 0.01) return JSON.stringify({ batch: [{ ...event(), properties: { big: 'x'.repeat(600_000) } }] });
    switch (Math.floor(random() * 8)) {
      case 0:
        return JSON.stringify({ batch: Array.from({ length: Math.floor(random() * 5) }, event) });
      case 1:
        return JSON.stringify(event());
      case 2:
        return JSON.stringify(value(0));
      case 3:
        return JSON.stringify(event()).slice(0, Math.floor(random() * 40));
      case 4:
        return `${'['.repeat(200)}${']'.repeat(200)}`;
      case 5:
        return Buffer.from(Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256)));
      case 6:
        return JSON.stringify([{ type: 'click', userId: 'u-1', ts: pick([NOW, -1, 'now', 1e20]) }, { sensorId: text(), metric: 't', value: scalar(), ts: NOW }]);
      default:
        return JSON.stringify({ batch: event(), writeKey: pick([KEY, 'wrong', 7]) });
    }
  };
  const paths = ['/v1/batch', '/v1/track', '/v1/page', '/v1/screen', '/v1/identify', '/v1/events', '/v1/sensors', '/V1/batch', '/v1/batch/', '//v1/batch', '/v1/%62atch', '/v1/batch?x=1', '/healthz', '/metrics', '/nope', `/v1/${text()}`];
  return Array.from({ length: REQUESTS }, () => {
    const payload = body();
    const gzip = random() < 0.1;
    const headers: Record<string, string> = {
      'content-type': pick(['application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', '']),
      ...(random() < 0.8 ? AUTH : { authorization: pick(['Basic', 'Basic !!!', 'Bearer x', `Basic ${Buffer.from('wrong:').toString('base64')}`]) }),
      ...(gzip ? { 'content-encoding': pick(['gzip', 'br', 'deflate']) } : {}),
    };
    return { method: pick(['POST', 'POST', 'POST', 'GET', 'PUT', 'DELETE', 'OPTIONS', 'HEAD', 'PATCH'] as const), url: pick(paths), headers, payload: gzip && random() < 0.5 ? gzipSync(payload) : payload };
  });
}

describe('collector under hostile requests', () => {
  let c: TestCollector;
  beforeAll(async () => {
    // Load shedding off: this corpus tests what each request gets, not the machine's load (limits.test.ts).
    c = await testCollector({ http: { ...loadConfig({ env: {} }).http, maxEventLoopDelayMs: 0 } });
  });
  afterAll(() => c.app.close());

  it(`answers ${REQUESTS} generated requests without a 5xx, and writes nothing for a refused one`, { timeout: 60_000 }, async () => {
    const statuses = new Map<number, number>();
    for (const r of hostileRequests(20261207)) {
      const before = c.sink.written.length;
      const res = await c.app.inject(r);
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      expect(res.statusCode, `${r.method} ${r.url} ${String(r.payload).slice(0, 200)} → ${res.body}`).toBeLessThan(500);
      if (res.statusCode !== 200) expect(c.sink.written.length, `${r.method} ${r.url} ${res.statusCode}`).toBe(before);
    }
    console.log(`collector fuzz: ${REQUESTS} requests, answers ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}, ${c.sink.written.length} records written`);
    // The corpus reaches both sides: accepted events and every kind of refusal.
    expect(statuses.get(200)).toBeGreaterThan(100);
    expect(c.sink.written.length).toBeGreaterThan(0);
    for (const status of [400, 401, 404, 413]) expect(statuses.get(status), `status ${status}`).toBeGreaterThan(0);
    expect((await c.app.inject('/healthz')).statusCode).toBe(200);
  });
});
