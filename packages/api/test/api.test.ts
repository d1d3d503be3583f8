import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { buildApi, type Recommender } from '../src/index.js';
import { http } from './helpers.js';

/** A recommender that records what it was asked. */
function fake(): Recommender & { calls: unknown[][] } {
  const calls: unknown[][] = [];
  return {
    calls,
    recommend(userId, k, excludeSeen) {
      calls.push(['recommend', userId, k, excludeSeen]);
      return { items: [{ item: 'p-2', score: 0.5, because: 'p-1' }, { item: 'p-9', score: 0.1, because: null }].slice(0, k), fallback: false };
    },
    similar(productId, k) {
      calls.push(['similar', productId, k]);
      return [{ item: 'p-3', score: 1, because: productId }];
    },
    ready: () => true,
    stats: () => ({ events: 7, items: 3, users: 2, sessions: 4 }),
  };
}

describe('recommendation API', () => {
  it('answers with items, scores, reasons and the fallback flag', async () => {
    const r = fake();
    const app = buildApi({ recommender: r, tokens: [], http });
    const res = await app.inject('/api/v1/recommendations/u-1?k=2');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      userId: 'u-1',
      items: [
        { productId: 'p-2', score: 0.5, because: 'p-1' },
        { productId: 'p-9', score: 0.1, because: null },
      ],
      fallback: false,
    });
    expect(r.calls).toEqual([['recommend', 'u-1', 2, true]]);
    const similar = await app.inject('/api/v1/products/p-1/similar');
    expect(similar.json()).toEqual({ productId: 'p-1', items: [{ productId: 'p-3', score: 1, because: 'p-1' }] });
    expect(r.calls[1]).toEqual(['similar', 'p-1', 10]);
  });

  it('refuses hostile parameters with 400 and keeps serving', async () => {
    const r = fake();
    const app = buildApi({ recommender: r, tokens: [], http });
    for (const url of [
      '/api/v1/recommendations/u-1?k=abc',
      '/api/v1/recommendations/u-1?k=0',
      '/api/v1/recommendations/u-1?k=1000000',
      '/api/v1/recommendations/u-1?k=1.5',
      '/api/v1/recommendations/u-1?excludeSeen=maybe',
      '/api/v1/recommendations/u-1?drop=table',
      '/api/v1/products/p-1/similar?k=-3',
    ]) {
      const res = await app.inject(url);
      expect(res.statusCode, url).toBe(400);
      expect(res.json().message, url).toMatch(/querystring/);
    }
    const long = await app.inject(`/api/v1/recommendations/${'x'.repeat(300)}`);
    expect(long.statusCode).toBe(414);
    // Quotes and SQL in ids are just ids.
    const sql = await app.inject(`/api/v1/recommendations/${encodeURIComponent("u'; DROP TABLE users; --")}`);
    expect(sql.statusCode).toBe(200);
    expect(sql.json().userId).toBe("u'; DROP TABLE users; --");
    expect((await app.inject('/healthz')).statusCode).toBe(200);
    expect(r.calls.filter((c) => c[0] === 'recommend')).toHaveLength(1);
  });

  it('requires a Bearer token for /api when tokens are configured', async () => {
    const app = buildApi({ recommender: fake(), tokens: ['s3cret'], http });
    expect((await app.inject('/api/v1/recommendations/u-1')).statusCode).toBe(401);
    expect((await app.inject({ url: '/api/v1/recommendations/u-1', headers: { authorization: 'Bearer wrong' } })).statusCode).toBe(401);
    expect((await app.inject({ url: '/api/v1/recommendations/u-1', headers: { authorization: 'Bearer s3cret' } })).statusCode).toBe(200);
    expect((await app.inject('/healthz')).statusCode).toBe(200);
  });

  it('lets no spelling of a data path past the token check', async () => {
    const r = fake();
    const app = buildApi({ recommender: r, tokens: ['s3cret'], http });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    // Sent byte for byte over a socket, as an attacker would: no client-side normalisation.
    const get = (path: string, authorization?: string) =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, path, headers: authorization === undefined ? {} : { authorization } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        });
        req.on('error', reject);
        req.end();
      });
    try {
      const spellings = [
        '/api/v1/recommendations/u-1',
        '/%61pi/v1/recommendations/u-1',
        '/%41PI/v1/recommendations/u-1',
        '/api/v1/%72ecommendations/u-1',
        '/api%2Fv1%2Frecommendations%2Fu-1',
        '/%2561pi/v1/recommendations/u-1',
        '//api/v1/recommendations/u-1',
        '/api//v1/recommendations/u-1',
        '/./api/v1/recommendations/u-1',
        '/x/../api/v1/recommendations/u-1',
        '/x/%2E%2E/api/v1/recommendations/u-1',
        '/API/v1/recommendations/u-1',
        '/Api/V1/Recommendations/u-1',
        '/api/v1/recommendations/u-1/',
        '/api/v1/recommendations/u-1?k=3',
        '/api/v1/recommendations/u-1;x',
        '/api;/v1/recommendations/u-1',
        '/api/v1/products/p-1/similar',
        '/%61pi/v1/products/p-1/similar',
        `http://127.0.0.1:${port}/api/v1/recommendations/u-1`,
        `http://127.0.0.1:${port}/%61pi/v1/recommendations/u-1`,
      ];
      for (const path of spellings) {
        for (const auth of [undefined, 'Bearer wrong', 'Bearer ', 'Basic czNjcmV0Og==', 's3cret']) {
          const status = await get(path, auth);
          expect([401, 400, 404], `${path} with ${auth}`).toContain(status);
        }
      }
      expect(r.calls).toEqual([]);
      expect(await get('/%61pi/v1/recommendations/u-1', 'Bearer s3cret')).toBe(200);
      expect(await get('/api/v1/recommendations/u-1', 'bearer s3cret')).toBe(200);
      expect(await get('/healthz')).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('bounds its clients with the configured timeouts and connection cap', async () => {
    const app = buildApi({ recommender: fake(), tokens: [], http: { ...http, requestTimeoutMs: 4000, headersTimeoutMs: 3000, maxConnections: 7 } });
    await app.ready();
    expect(app.server.requestTimeout).toBe(4000);
    expect(app.server.headersTimeout).toBe(3000);
    expect(app.server.maxConnections).toBe(7);
  });

  it('exposes readiness, health with the engine build, and Prometheus metrics', async () => {
    const app = buildApi({ recommender: { ...fake(), ready: () => false }, tokens: [], http });
    expect((await app.inject('/readyz')).statusCode).toBe(503);
    expect((await app.inject('/healthz')).json().engine.target).toMatch(/-/);
    const metrics = await app.inject('/metrics');
    expect(metrics.headers['content-type']).toMatch(/text\/plain/);
    expect(metrics.body).toMatch(/^pulse_recs_events_total 7$/m);
  });
});
