import { loadConfig } from '@pulse/config';
import { afterEach, describe, expect, it } from 'vitest';
import { AUTH, NOW, testCollector, type TestCollector } from './helpers.js';

const event = JSON.stringify({ type: 'page_view', userId: 'u-1', ts: NOW });

describe('collector under load', () => {
  let c: TestCollector;
  afterEach(() => c.app.close());

  it('bounds its clients with the configured timeouts and connection cap', async () => {
    const http = { ...loadConfig({ env: {} }).http, requestTimeoutMs: 4000, headersTimeoutMs: 3000, maxConnections: 7 };
    c = await testCollector({ http });
    expect(c.app.server.requestTimeout).toBe(4000);
    expect(c.app.server.headersTimeout).toBe(3000);
    expect(c.app.server.maxConnections).toBe(7);
  });

  it('answers 503 with Retry-After while its event loop lags, writing nothing, and recovers', async () => {
    c = await testCollector({ http: { ...loadConfig({ env: {} }).http, maxEventLoopDelayMs: 50 } });
    const post = () => c.app.inject({ method: 'POST', url: '/v1/events', headers: { ...AUTH, 'content-type': 'application/json' }, payload: event });
    const busyUntil = Date.now() + 1200;
    while (Date.now() < busyUntil); // a blocked event loop, as under a flood of work
    await new Promise((resolve) => setTimeout(resolve, 0));
    const shed = await post();
    expect(shed.statusCode).toBe(503);
    expect(shed.headers['retry-after']).toBe('1');
    expect(shed.json()).toMatchObject({ success: false, code: 'overloaded' });
    expect(c.sink.written).toEqual([]);
    // Liveness and metrics still answer, readiness is shed with the rest.
    expect((await c.app.inject({ url: '/healthz' })).statusCode).toBe(200);
    expect((await c.app.inject({ url: '/metrics' })).statusCode).toBe(200);
    expect((await c.app.inject({ url: '/readyz' })).statusCode).toBe(503);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect((await post()).statusCode).toBe(200);
    expect(c.sink.written).toHaveLength(1);
  });
});
