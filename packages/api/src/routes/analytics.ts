import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { BUCKETS, TOP_PRODUCT_METRICS, TOP_WINDOWS, UNIQUE_USER_GRANULARITIES, type AnalyticsQueries } from '@pulse/sink';

const HOUR = 3_600_000;
/** Latest time a query accepts (the largest Date). */
const MAX_TIME = 8_640_000_000_000_000;

const id = { type: 'string', minLength: 1, maxLength: 256 } as const;
const time = (doc: string) => ({ type: 'integer', minimum: 0, maximum: MAX_TIME, description: `${doc}, ms since the epoch` }) as const;
const range = { from: time('start of the range (inclusive; default: `to` minus 24 h)'), to: time('end of the range (exclusive; default: now)') };
const windowRow = { windowStart: { type: 'integer' }, windowEnd: { type: 'integer' }, final: { type: 'boolean' } } as const;
const listOf = (properties: Record<string, unknown>) => ({ type: 'array', items: { type: 'object', properties } }) as const;

interface RangeQuery {
  from?: number;
  to?: number;
}

/** [from, to) with defaults; a reversed range is a client error, not an empty answer. */
function rangeOf(q: RangeQuery, reply: FastifyReply, now: number): { from: number; to: number } | null {
  const to = q.to ?? now;
  const from = q.from ?? Math.max(0, to - 24 * HOUR);
  if (from >= to) {
    void reply.code(400).send({ error: 'bad_request', message: `querystring/from must be before querystring/to (got from=${from}, to=${to})` });
    return null;
  }
  return { from, to };
}

/** The analytics endpoints over the store the sink fills. */
export const analyticsRoutes: FastifyPluginAsync<{ analytics: AnalyticsQueries }> = async (app, { analytics }) => {
  app.get<{ Params: { userId: string }; Querystring: RangeQuery }>(
    '/api/v1/users/:userId/activity',
    {
      schema: {
        summary: "A user's 5-minute activity counts (user-activity-counts) in a time range",
        params: { type: 'object', properties: { userId: id }, required: ['userId'] },
        querystring: { type: 'object', properties: range, additionalProperties: false },
        response: {
          200: {
            type: 'object',
            properties: { userId: { type: 'string' }, from: { type: 'integer' }, to: { type: 'integer' }, total: { type: 'integer' }, truncated: { type: 'boolean' }, windows: listOf({ ...windowRow, count: { type: 'integer' } }) },
          },
        },
      },
    },
    async (request, reply) => {
      const r = rangeOf(request.query, reply, Date.now());
      return r === null ? reply : analytics.userActivity(request.params.userId, r);
    },
  );

  app.get<{ Querystring: { metric: string; window: string; k: number; at?: number } }>(
    '/api/v1/products/top',
    {
      schema: {
        summary: 'Top products of the latest window, merged over partitions; `exactLeading` says how many leading items are certain',
        querystring: {
          type: 'object',
          properties: {
            metric: { type: 'string', enum: [...TOP_PRODUCT_METRICS], default: 'views' },
            window: { type: 'string', enum: Object.keys(TOP_WINDOWS), default: '5m', description: 'the latest 5-minute window, or the last several merged' },
            k: { type: 'integer', minimum: 1, maximum: 100, default: 10 },
            at: time('a time in the last window to use (default: the latest window in the store)'),
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: {
              metric: { type: 'string' },
              window: { type: 'string' },
              windowStart: { type: ['integer', 'null'] },
              windowEnd: { type: ['integer', 'null'] },
              exactLeading: { type: 'integer' },
              final: { type: 'boolean' },
              partitions: { type: 'integer' },
              items: listOf({ productId: { type: 'string' }, count: { type: 'integer' }, error: { type: 'integer' }, lower: { type: 'integer' }, exact: { type: 'boolean' } }),
            },
          },
        },
      },
    },
    async (request) => analytics.topProducts(request.query.metric, request.query.window, request.query.k, request.query.at ?? null),
  );

  app.get<{ Querystring: RangeQuery & { bucket: string; currency?: string } }>(
    '/api/v1/revenue',
    {
      schema: {
        summary: 'Revenue, orders and items per time bucket and currency',
        querystring: {
          type: 'object',
          properties: { bucket: { type: 'string', enum: Object.keys(BUCKETS), default: '1m' }, currency: { type: 'string', pattern: '^[A-Za-z]{3}$' }, ...range },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: {
              bucket: { type: 'string' },
              from: { type: 'integer' },
              to: { type: 'integer' },
              truncated: { type: 'boolean' },
              buckets: listOf({ start: { type: 'integer' }, end: { type: 'integer' }, currency: { type: 'string' }, orders: { type: 'integer' }, items: { type: 'integer' }, revenue: { type: 'number' }, final: { type: 'boolean' } }),
            },
          },
        },
      },
    },
    async (request, reply) => {
      const r = rangeOf(request.query, reply, Date.now());
      return r === null ? reply : analytics.revenue(request.query.bucket, r, request.query.currency ?? null);
    },
  );

  const count = { type: 'integer' } as const;
  app.get<{ Querystring: RangeQuery }>(
    '/api/v1/funnel',
    {
      schema: {
        summary: 'View → cart → purchase funnel per 5-minute window: events and distinct users (HyperLogLog) per stage',
        querystring: { type: 'object', properties: range, additionalProperties: false },
        response: {
          200: {
            type: 'object',
            properties: {
              from: { type: 'integer' },
              to: { type: 'integer' },
              truncated: { type: 'boolean' },
              total: { type: 'object', properties: { views: count, carts: count, purchases: count } },
              windows: listOf({
                ...windowRow,
                views: count,
                carts: count,
                purchases: count,
                viewers: count,
                carters: count,
                buyers: count,
                viewToCart: { type: ['number', 'null'] },
                cartToPurchase: { type: ['number', 'null'] },
              }),
            },
          },
        },
      },
    },
    async (request, reply) => {
      const r = rangeOf(request.query, reply, Date.now());
      return r === null ? reply : analytics.funnel(r);
    },
  );

  app.get<{ Querystring: RangeQuery & { granularity: string } }>(
    '/api/v1/users/active',
    {
      schema: {
        summary: 'Unique active users per 1- or 5-minute window (HyperLogLog estimates)',
        querystring: { type: 'object', properties: { granularity: { type: 'string', enum: [...UNIQUE_USER_GRANULARITIES], default: '5m' }, ...range }, additionalProperties: false },
        response: {
          200: {
            type: 'object',
            properties: { granularity: { type: 'string' }, from: { type: 'integer' }, to: { type: 'integer' }, truncated: { type: 'boolean' }, windows: listOf({ ...windowRow, users: count }) },
          },
        },
      },
    },
    async (request, reply) => {
      const r = rangeOf(request.query, reply, Date.now());
      return r === null ? reply : analytics.activeUsers(request.query.granularity, r);
    },
  );

  const num = { type: 'number' } as const;
  app.get<{ Params: { sensorId: string }; Querystring: RangeQuery }>(
    '/api/v1/sensors/:sensorId/stats',
    {
      schema: {
        summary: "A sensor's per-minute statistics with its EWMA and anomaly score",
        params: { type: 'object', properties: { sensorId: id }, required: ['sensorId'] },
        querystring: { type: 'object', properties: range, additionalProperties: false },
        response: {
          200: {
            type: 'object',
            properties: {
              sensorId: { type: 'string' },
              from: { type: 'integer' },
              to: { type: 'integer' },
              truncated: { type: 'boolean' },
              windows: listOf({ ...windowRow, metric: { type: 'string' }, unit: { type: 'string' }, count, min: num, max: num, mean: num, ewma: num, anomalyScore: { type: ['number', 'null'] } }),
            },
          },
        },
      },
    },
    async (request, reply) => {
      const r = rangeOf(request.query, reply, Date.now());
      return r === null ? reply : analytics.sensorStats(request.params.sensorId, r);
    },
  );

  app.get<{ Querystring: RangeQuery & { limit: number } }>(
    '/api/v1/sensors',
    {
      schema: {
        summary: "Sensors seen in a time range, worst first: each (sensor, metric) with its latest minute's statistics and its highest anomaly score in the range",
        querystring: {
          type: 'object',
          properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 }, ...range },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: {
              from: { type: 'integer' },
              to: { type: 'integer' },
              truncated: { type: 'boolean' },
              sensors: listOf({
                sensorId: { type: 'string' },
                ...windowRow,
                metric: { type: 'string' },
                unit: { type: 'string' },
                count,
                min: num,
                max: num,
                mean: num,
                ewma: num,
                anomalyScore: { type: ['number', 'null'] },
                worstScore: { type: ['number', 'null'] },
              }),
            },
          },
        },
      },
    },
    async (request, reply) => {
      const r = rangeOf(request.query, reply, Date.now());
      return r === null ? reply : analytics.sensors(r, request.query.limit);
    },
  );

  const latency = { type: 'object', properties: { count, p50: { type: ['integer', 'null'] }, p95: { type: ['integer', 'null'] }, p99: { type: ['integer', 'null'] }, max: { type: ['integer', 'null'] } } } as const;
  app.get(
    '/api/v1/metrics/overview',
    {
      schema: {
        summary: 'Events/s per topic, end-to-end latency percentiles (last 5 minutes) and consumer lag per group and partition',
        response: {
          200: {
            type: 'object',
            properties: {
              kafka: {
                type: 'object',
                properties: {
                  sampledAt: { type: ['integer', 'null'] },
                  intervalMs: { type: ['integer', 'null'] },
                  error: { type: ['string', 'null'] },
                  topics: listOf({ topic: { type: 'string' }, eventsPerSec: num, endOffset: count }),
                  lag: listOf({ group: { type: 'string' }, topic: { type: 'string' }, partition: count, committed: count, end: count, lag: count }),
                },
              },
              latencyMs: { type: 'object', properties: { output: latency, stored: latency, sinceMs: count } },
              store: { type: 'object', properties: { kind: { type: 'string' } } },
            },
          },
        },
      },
    },
    async () => analytics.overview(),
  );
};
