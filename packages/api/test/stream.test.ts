import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Analytics, decodeRecord, DuckDbStore, type AnalyticsQueries, type Row } from '@pulse/sink';
import { lastMinute } from '@pulse/dashboard';
import { buildApi } from '../src/index.js';
import { emptyRecommender, http } from './helpers.js';

const MIN = 60_000;

interface SseEvent {
  id?: string;
  event?: string;
  data?: string;
  comment?: string;
}

/** A Server-Sent Events client on fetch, as the dashboard reads the stream. */
function openStream(url: string, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  const events: SseEvent[] = [];
  const waiters = new Set<() => void>();
  const done = (async () => {
    const res = await fetch(url, { headers, signal: controller.signal });
    if (res.status !== 200) return res.status;
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body!) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const e: SseEvent = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) e.comment = line.slice(1).trim();
            const m = /^(id|event|data): ?(.*)$/.exec(line);
            if (m) e[m[1] as 'id' | 'event' | 'data'] = m[2];
          }
          events.push(e);
          for (const w of waiters) w();
        }
      }
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw err;
    }
    return 200;
  })();
  return {
    events,
    done,
    close: () => controller.abort(),
    /** Resolves with the events once `n` events of `kind` have arrived. */
    waitFor(kind: string, n: number, timeoutMs = 10_000): Promise<SseEvent[]> {
      return new Promise((resolve, reject) => {
        const check = () => {
          const got = events.filter((e) => e.event === kind);
          if (got.length >= n) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(got);
          }
        };
        const timer = setTimeout(() => reject(new Error(`${n} ${kind} events not seen; got ${JSON.stringify(events)}`)), timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}

describe('GET /api/v1/stream', () => {
  let db: DuckDbStore;
  let overviews = 0;
  let analytics: AnalyticsQueries;
  let app: ReturnType<typeof buildApi> | null = null;

  const writeRevenue = async (minuteStart: number, revenue: number) => {
    const d = decodeRecord('pulse-revenue', Buffer.from(JSON.stringify({ partition: 0, currency: 'EUR', windowStart: minuteStart, windowEnd: minuteStart + MIN, orders: 3, items: 4, revenue, final: false })), minuteStart);
    await db.write({ rows: { [d.table]: [d.row as Row] }, offsets: [] });
  };

  const start = async (tokens: string[] = [], alerts?: () => unknown) => {
    app = buildApi({ recommender: emptyRecommender, analytics, tokens, http });
    if (alerts !== undefined) app.get('/api/v1/alerts', async (_request, reply) => reply.send(alerts()));
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    return `${address}/api/v1/stream`;
  };

  beforeAll(async () => {
    db = await DuckDbStore.open(join(mkdtempSync(join(tmpdir(), 'pulse-stream-')), 'store.duckdb'));
    await db.migrate();
    const real = new Analytics(db);
    // The real queries, with the overview counted: one per tick, however many clients.
    analytics = {
      userActivity: real.userActivity.bind(real),
      revenue: real.revenue.bind(real),
      funnel: real.funnel.bind(real),
      activeUsers: real.activeUsers.bind(real),
      sensorStats: real.sensorStats.bind(real),
      sensors: real.sensors.bind(real),
      topProducts: real.topProducts.bind(real),
      overview: () => {
        overviews++;
        return real.overview();
      },
    };
  });

  afterEach(async () => {
    await app?.close();
    app = null;
  });

  afterAll(async () => {
    await db.close();
  });

  it('asks for the Bearer token the data routes need', async () => {
    const url = await start(['s3cret']);
    const refused = openStream(url);
    expect(await refused.done).toBe(401);
    const wrong = openStream(url, { authorization: 'Bearer nope' });
    expect(await wrong.done).toBe(401);
    const s = openStream(url, { authorization: 'Bearer s3cret' });
    await s.waitFor('update', 1);
    s.close();
  });

  it('sends chart history, then one update a second with growing ids and the store’s latest figures', async () => {
    const now = Date.now();
    const minute = now - (now % MIN);
    await writeRevenue(minute, 12.5);
    const url = await start();
    const s = openStream(url);
    const [history] = await s.waitFor('history', 1);
    expect(JSON.parse(history!.data!)).toEqual({ seconds: expect.any(Array), minutes: expect.any(Array) });
    const first = await s.waitFor('update', 2);
    const u = JSON.parse(first[1]!.data!);
    const bucket = { start: minute, currency: 'EUR', orders: 3 };
    expect(u).toMatchObject({ alerts: null, kafkaError: 'not monitoring Kafka', consumerLag: 0 });
    expect(u.revenue).toEqual(lastMinute([{ ...bucket, revenue: 12.5 }], u.t));
    expect(u.revenue.perMinute).toBeGreaterThan(0);
    await writeRevenue(minute, 99.75);
    const later = await s.waitFor('update', 4);
    const v = JSON.parse(later[3]!.data!);
    expect(v.revenue).toEqual(lastMinute([{ ...bucket, revenue: 99.75 }], v.t));
    const ids = later.map((e) => Number(e.id));
    for (let i = 1; i < ids.length; i++) expect(ids[i]! - ids[i - 1]!).toBeGreaterThanOrEqual(900);
    s.close();
  });

  it('computes each update once for all clients, and every client gets the same updates', async () => {
    const url = await start();
    const clients = Array.from({ length: 6 }, () => openStream(url));
    await Promise.all(clients.map((c) => c.waitFor('update', 1)));
    const before = overviews;
    await new Promise((r) => setTimeout(r, 3200));
    const ticks = overviews - before;
    expect(ticks).toBeGreaterThanOrEqual(2);
    expect(ticks).toBeLessThanOrEqual(4);
    const idsOf = (c: (typeof clients)[number]) => c.events.filter((e) => e.event === 'update').map((e) => e.id);
    const reference = idsOf(clients[0]!).slice(-2);
    for (const c of clients) expect(idsOf(c)).toEqual(expect.arrayContaining(reference));
    for (const c of clients) c.close();
  });

  it('resumes after Last-Event-ID with the updates missed, without the history', async () => {
    const url = await start();
    const keep = openStream(url);
    const seen = await keep.waitFor('update', 2);
    const a = openStream(url);
    await a.waitFor('update', 1);
    a.close();
    const lastId = seen[0]!.id!;
    const resumed = openStream(url, { 'last-event-id': lastId });
    const got = await resumed.waitFor('update', 2);
    expect(resumed.events.some((e) => e.event === 'history')).toBe(false);
    expect(got[0]!.id).toBe(seen[1]!.id);
    expect(Number(got[1]!.id)).toBeGreaterThan(Number(seen[1]!.id));
    // An id the server does not keep (another server's, or too old): history again, then updates.
    const stranger = openStream(url, { 'last-event-id': '5' });
    await stranger.waitFor('history', 1);
    for (const c of [keep, resumed, stranger]) c.close();
  });

  it('counts the firing and pending alerts GET /api/v1/alerts serves', async () => {
    const url = await start([], () => ({ alerts: [{ state: 'firing' }, { state: 'pending' }, { state: 'firing' }] }));
    const s = openStream(url);
    const [u] = await s.waitFor('update', 1);
    expect(JSON.parse(u!.data!).alerts).toEqual({ firing: 2, pending: 1 });
    s.close();
  });

  it('ends open streams when the server closes', async () => {
    const url = await start();
    const s = openStream(url);
    await s.waitFor('update', 1);
    const closing = app!.close();
    await expect(Promise.race([closing.then(() => 'closed'), new Promise((r) => setTimeout(() => r('hung'), 5000))])).resolves.toBe('closed');
    expect(await s.done).toBe(200);
    app = null;
  });
});
