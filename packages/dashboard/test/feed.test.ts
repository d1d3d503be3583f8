import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { LiveFeed, type LiveUpdate } from '../src/index.js';

const update = (t: number): LiveUpdate => ({
  t,
  eventsInPerSec: 1,
  eventsOutPerSec: 2,
  topics: [],
  latencyMs: { p50: null, p95: null, p99: null },
  consumerLag: 0,
  lagByGroup: [],
  deadLettersPerMin: 0,
  revenue: null,
  activeUsers: null,
  alerts: null,
  kafkaError: null,
});

describe('LiveFeed', () => {
  let server: Server | null = null;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server === null ? resolve() : server.close(() => resolve())));
    server = null;
  });

  /** A feed behind a plain HTTP server, and a reader of its raw text. */
  async function serveFeed(intervalMs: number, heartbeatMs: number, lingerMs = 60_000) {
    let computed = 0;
    const feed = new LiveFeed(async (now) => (computed++, update(now)), Fastify().log, intervalMs, heartbeatMs, lingerMs);
    server = createServer((_req, res) => feed.attach(res, null));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    return { feed, url, computed: () => computed };
  }

  async function read(url: string, ms: number): Promise<string> {
    const controller = new AbortController();
    const res = await fetch(url, { signal: controller.signal });
    let text = '';
    const timer = setTimeout(() => controller.abort(), ms);
    try {
      for await (const chunk of res.body!) text += Buffer.from(chunk as Uint8Array).toString();
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw err;
    } finally {
      clearTimeout(timer);
    }
    return text;
  }

  it('sends heartbeat comments between updates', async () => {
    const { url } = await serveFeed(100, 300);
    const text = await read(url, 1000);
    expect(text.match(/^: heartbeat$/gm)?.length ?? 0).toBeGreaterThanOrEqual(2);
    expect(text.match(/^event: update$/gm)?.length ?? 0).toBeGreaterThanOrEqual(5);
  });

  it('computes while a client is connected and lingerMs after the last one left, then stops', async () => {
    const { feed, url, computed } = await serveFeed(100, 15_000, 600);
    await new Promise((r) => setTimeout(r, 300));
    expect(computed()).toBe(0);
    await read(url, 500);
    await new Promise((r) => setTimeout(r, 50));
    expect(feed.connected).toBe(0);
    const left = computed();
    expect(left).toBeGreaterThan(0);
    // Still updating (the history stays whole for the next page)…
    await new Promise((r) => setTimeout(r, 300));
    expect(computed()).toBeGreaterThan(left);
    // …until the linger is over.
    await new Promise((r) => setTimeout(r, 500));
    const stopped = computed();
    await new Promise((r) => setTimeout(r, 400));
    expect(computed()).toBe(stopped);
  });
});
