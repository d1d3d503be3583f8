import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Analytics, DuckDbStore } from '@pulse/sink';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rng } from '../../../test/integration/helpers/rng.js';
import { buildApi, type Recommender } from '../src/index.js';
import { http } from './helpers.js';

const REQUESTS = 3000;
const TOKEN = 's3cret';

const recommender: Recommender = {
  recommend: () => ({ items: [{ item: 'p-2', score: 0.5, because: 'p-1' }], fallback: false }),
  similar: () => [],
  ready: () => true,
  stats: () => ({ events: 0, items: 0, users: 0, sessions: 0 }),
};

/** Requests from a seed: every route, spelled and parameterised in hostile ways, with and without a token. */
function hostileRequests(seed: number) {
  const random = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const id = () => pick(['u-1', "o'brien", '%27%3B--', '..%2F..%2Fetc', 'x'.repeat(300), '%00', '%F0%9F%92%A5', '%ZZ', 'a%2Fb', '']);
  const param = () =>
    pick(['k', 'from', 'to', 'metric', 'window', 'bucket', 'granularity', 'at', 'currency', 'limit', 'excludeSeen', 'drop']) +
    '=' +
    pick(['10', '0', '-1', '1e309', 'NaN', 'abc', '', '1764100000000', '9'.repeat(40), 'views', '5m', '1h', 'USD', 'true', 'maybe', '%00', "'", '[]']);
  const base = pick([
    '/api/v1/users/ID/activity',
    '/api/v1/users/active',
    '/api/v1/products/top',
    '/api/v1/products/ID/similar',
    '/api/v1/revenue',
    '/api/v1/funnel',
    '/api/v1/sensors',
    '/api/v1/sensors/ID/stats',
    '/api/v1/metrics/overview',
    '/api/v1/recommendations/ID',
    '/%61pi/v1/recommendations/ID',
    '/api//v1/funnel',
    '/api/v1/../v1/funnel',
    '/healthz',
    '/readyz',
    '/openapi.json',
    '/',
    '/nope',
  ]);
  const url = () => {
    const path = base.replace('ID', id());
    const query = Array.from({ length: Math.floor(random() * 4) }, param).join('&');
    return query === '' ? path : `${path}?${query}`;
  };
  return Array.from({ length: REQUESTS }, () => {
    const authorization = pick([`Bearer ${TOKEN}`, `Bearer ${TOKEN}`, 'Bearer wrong', `bearer ${TOKEN} `, `Basic ${TOKEN}`, TOKEN, undefined]);
    return {
      method: pick(['GET', 'GET', 'GET', 'POST', 'DELETE', 'HEAD', 'OPTIONS'] as const),
      url: url(),
      headers: authorization === undefined ? {} : { authorization },
      authorized: authorization !== undefined && /^bearer s3cret\s*$/i.test(authorization),
    };
  });
}

describe('API under hostile requests', () => {
  let db: DuckDbStore;
  let app: ReturnType<typeof buildApi>;
  beforeAll(async () => {
    db = await DuckDbStore.open(join(mkdtempSync(join(tmpdir(), 'pulse-api-fuzz-')), 'store.duckdb'));
    await db.migrate();
    // Load shedding off: this corpus tests what each request gets, not the machine's load.
    app = buildApi({ recommender, analytics: new Analytics(db), tokens: [TOKEN], http: { ...http, maxEventLoopDelayMs: 0 } });
  });
  afterAll(async () => {
    await app.close();
    await db.close();
  });

  it(`answers ${REQUESTS} generated requests without a 5xx, and data only with a token`, { timeout: 120_000 }, async () => {
    const statuses = new Map<number, number>();
    for (const r of hostileRequests(20261207)) {
      const res = await app.inject({ method: r.method, url: r.url, headers: r.headers });
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      expect(res.statusCode, `${r.method} ${r.url} → ${res.body.slice(0, 200)}`).toBeLessThan(500);
      const isData = /^\/(api|%61pi)\//i.test(r.url) && r.method === 'GET' && res.statusCode === 200;
      if (isData) expect(r.authorized, `${r.url} answered data without a token`).toBe(true);
    }
    console.log(`API fuzz: ${REQUESTS} requests, answers ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`);
    for (const status of [200, 400, 401, 404]) expect(statuses.get(status), `status ${status}`).toBeGreaterThan(0);
  });
});
