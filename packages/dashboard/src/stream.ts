import type { ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance, FastifyPluginAsync } from 'fastify';
import type {} from '@fastify/swagger';
import type { AnalyticsQueries } from '@pulse/sink';
import { computeUpdate, countAlerts, type AlertCounts, type LiveUpdate } from './live.js';

export interface StreamOptions {
  analytics: AnalyticsQueries;
  /** A read token for the stream's own GET /api/v1/alerts when reads need one. */
  token?: string;
  /** Time between updates (docs/dashboard.md: at most one a second). */
  intervalMs?: number;
  /** A comment line at least this often, so that proxies and clients see a live connection. */
  heartbeatMs?: number;
  /** How long updates go on after the last client left, so that a reload or a short absence finds the charts whole. */
  lingerMs?: number;
}

/** Chart points kept: 15 minutes of updates, and 24 hours of one-minute means. */
const SECONDS_KEPT = 900;
const MINUTES_KEPT = 1440;
const MINUTE = 60_000;
/** A client that has this much unsent is not reading: it is dropped rather than buffered without end. */
const MAX_BUFFERED_BYTES = 1 << 20;

/** A chart point: [t, eventsIn/s, eventsOut/s, p50, p95, p99, consumer lag, dead letters/min]. */
type Point = [number, number, number, number | null, number | null, number | null, number, number];

const pointOf = (u: LiveUpdate): Point => [u.t, u.eventsInPerSec, u.eventsOutPerSec, u.latencyMs.p50, u.latencyMs.p95, u.latencyMs.p99, u.consumerLag, u.deadLettersPerMin];

/**
 * The live feed behind GET /api/v1/stream: one computation per tick, written to every connected
 * client; ticks run while someone is connected and `lingerMs` after the last one left. Keeps the last updates for Last-Event-ID resumes
 * and chart history for new pages (docs/dashboard.md, "The stream").
 */
export class LiveFeed {
  private readonly clients = new Set<ServerResponse>();
  /** The recent updates, oldest first, with their wire form (replayed on resume). */
  private readonly recent: { id: number; text: string; point: Point }[] = [];
  /** One-minute means, oldest first, with the number of updates averaged into the last. */
  private readonly minutes: { point: Point; n: number }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private idle: NodeJS.Timeout | null = null;
  private busy = false;
  private lastId = 0;
  private lastHeartbeat = 0;

  constructor(
    private readonly compute: (now: number) => Promise<LiveUpdate>,
    private readonly log: FastifyBaseLogger,
    private readonly intervalMs: number,
    private readonly heartbeatMs: number,
    private readonly lingerMs: number,
  ) {}

  get connected(): number {
    return this.clients.size;
  }

  /** Starts streaming to `res`: the updates after `lastEventId` if they are still kept, else the chart history and the latest update. */
  attach(res: ServerResponse, lastEventId: number | null): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    });
    res.write('retry: 1000\n\n');
    const oldest = this.recent[0]?.id;
    if (lastEventId !== null && oldest !== undefined && lastEventId >= oldest) {
      for (const e of this.recent) if (e.id > lastEventId) res.write(e.text);
    } else {
      const history = { seconds: this.recent.map((e) => e.point), minutes: this.minutes.map((m) => m.point) };
      res.write(`event: history\ndata: ${JSON.stringify(history)}\n\n`);
      const latest = this.recent.at(-1);
      if (latest !== undefined) res.write(latest.text);
    }
    this.clients.add(res);
    res.on('close', () => {
      this.clients.delete(res);
      if (this.clients.size === 0) {
        this.idle = setTimeout(() => this.stop(), this.lingerMs);
        this.idle.unref();
      }
    });
    if (this.idle !== null) clearTimeout(this.idle);
    this.idle = null;
    if (this.timer === null) this.loop();
  }

  /** Ends every stream (the server is closing). */
  close(): void {
    this.stop();
    for (const res of this.clients) res.end();
    this.clients.clear();
  }

  /** A tick now and the next one a whole interval later (not on a fixed beat: a late tick never brings the next one closer). */
  private loop(): void {
    this.timer = setTimeout(() => this.loop(), this.intervalMs);
    this.timer.unref();
    void this.tick();
  }

  private stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.idle !== null) clearTimeout(this.idle);
    this.timer = null;
    this.idle = null;
  }

  private async tick(): Promise<void> {
    const now = Date.now();
    if (now - this.lastHeartbeat >= this.heartbeatMs) {
      this.lastHeartbeat = now;
      this.broadcast(': heartbeat\n\n');
    }
    // A slow store skips ticks instead of piling computations up.
    if (this.busy) return;
    this.busy = true;
    try {
      const update = await this.compute(now);
      // Ids grow across restarts of the server too (they are times), so a resuming client never
      // mistakes a new update for one it has seen.
      const id = Math.max(now, this.lastId + 1);
      this.lastId = id;
      const text = `id: ${id}\nevent: update\ndata: ${JSON.stringify(update)}\n\n`;
      this.keep(id, text, pointOf(update));
      this.broadcast(text);
    } catch (err) {
      this.log.warn({ err }, 'dashboard stream: an update failed');
    } finally {
      this.busy = false;
    }
  }

  private keep(id: number, text: string, point: Point): void {
    this.recent.push({ id, text, point });
    if (this.recent.length > SECONDS_KEPT) this.recent.shift();
    const minute = point[0] - (point[0] % MINUTE);
    const last = this.minutes.at(-1);
    if (last === undefined || last.point[0] !== minute) {
      this.minutes.push({ point: [minute, ...point.slice(1)] as Point, n: 1 });
      if (this.minutes.length > MINUTES_KEPT) this.minutes.shift();
    } else {
      // Rates are averaged over the minute; latency and lag are its latest values.
      const n = ++last.n;
      const mean = (i: 1 | 2 | 7) => Math.round(last.point[i] + (point[i] - last.point[i]) / n);
      last.point = [minute, mean(1), mean(2), point[3], point[4], point[5], point[6], mean(7)];
    }
  }

  private broadcast(text: string): void {
    for (const res of this.clients) {
      if (res.writableLength > MAX_BUFFERED_BYTES) res.destroy();
      else res.write(text);
    }
  }
}

/**
 * GET /api/v1/stream, Server-Sent Events feeding the dashboard. Register it in the scope whose hook
 * checks Bearer tokens: the stream shows the same data as the query API.
 */
export const liveStream: FastifyPluginAsync<StreamOptions> = async (app, options) => {
  const readAlerts = () => alertsVia(app, options.token);
  const feed = new LiveFeed((now) => computeUpdate(options.analytics, readAlerts, now), app.log, options.intervalMs ?? 1000, options.heartbeatMs ?? 15_000, options.lingerMs ?? 15 * 60_000);
  // Open streams would keep the server from closing: end them first.
  app.addHook('preClose', async () => feed.close());

  app.get<{ Headers: { 'last-event-id'?: string } }>(
    '/api/v1/stream',
    {
      schema: {
        summary: 'Server-Sent Events feeding the dashboard: `update` events at most once a second, `history` on connect; resumes with Last-Event-ID',
        headers: { type: 'object', properties: { 'last-event-id': { type: 'string', maxLength: 32 } } },
        produces: ['text/event-stream'],
      },
    },
    async (request, reply) => {
      const raw = request.headers['last-event-id'];
      const lastEventId = raw !== undefined && /^\d{1,16}$/.test(raw) ? Number(raw) : null;
      reply.hijack();
      feed.attach(reply.raw, lastEventId);
    },
  );
};

/** The alerts the API serves, read as a client would (alerting may register its routes or not). */
async function alertsVia(app: FastifyInstance, token: string | undefined): Promise<AlertCounts> {
  const res = await app.inject({ method: 'GET', url: '/api/v1/alerts', headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  if (res.statusCode !== 200) return null;
  return countAlerts(res.json());
}
