import { fastifyCors } from '@fastify/cors';
import { mapSegmentBatch, type SegmentBatch } from '@pulse/engine';
import { SecretSet } from '@pulse/config';
import { ANSWERED_UNDER_LOAD, limitLoad, loggingOptions, serverOptions, traceRequests, type HttpLimits } from '@pulse/http';
import type { Logger } from '@pulse/log';
import { fastify, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { decodeBody, MAX_EVENT_BYTES, MAX_REQUEST_BYTES, parseJsonBody, type BodyShape } from './body.js';
import { CollectorError } from './errors.js';
import type { Ingest, OutRecord } from './ingest.js';
import type { CollectorMetrics } from './metrics.js';
import { mapNativeEvent, mapSensorReading, type NativeEvent, type SensorReading } from './native.js';
import { RateLimiter } from './rate-limit.js';
import { batchSchema, nativeEventsSchema, schemaError, segmentCallSchema, sensorReadingsSchema, type SchemaError } from './schemas.js';
import { mapSegmentCall, outputTopics, SEGMENT_TYPES, type SegmentCall, type TopicNames } from './segment.js';
import { parseIsoTime } from './time.js';

export interface CollectorAppOptions {
  writeKeys: readonly string[];
  /** Events/s per write key; 0 for no limit. */
  rateLimit: number;
  ingest: Ingest;
  metrics: CollectorMetrics;
  topics: TopicNames;
  /** Timeouts, connection cap and load shedding (configuration `http.*`). */
  http: HttpLimits;
  /** Logs errors, and each request at debug, with its request id; default: nothing. */
  logger?: Logger;
  now?: () => number;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Where an ingestion route's body keeps its events; absent on other routes. */
    shape?: BodyShape;
  }
  interface FastifyRequest {
    /** The request's write key once authenticated: from the Authorization header, else the body. */
    writeKey: string | undefined;
  }
}

/**
 * A `/v1/batch` body that the native mapper parsed, checked against the rules of the route's schema
 * and mapped. Its `batch` is empty: the schema still runs on it (so `writeKey` is checked as for any
 * body) without walking the events a second time.
 */
class MappedBatch {
  readonly batch: readonly never[] = [];
  readonly writeKey: string | undefined;
  constructor(readonly records: SegmentBatch) {
    this.writeKey = records.writeKey ?? undefined;
  }
}

/** Segment's libraries send Basic auth: base64 of `writeKey:` (the write key as user name, no password). */
const BASIC = /^Basic\s+(\S+)$/i;

/**
 * The collector's HTTP API as a fastify instance (not listening yet; `app.inject()` drives it in
 * tests). Ingestion routes read their body with the collector's own parser (UTF-8 check, depth and
 * per-event size limits before JSON.parse), authenticate, validate with the route's JSON schema, map
 * the events and answer 200 only when Kafka has acknowledged every one of them.
 */
export async function buildCollectorApp(o: CollectorAppOptions): Promise<FastifyInstance> {
  const now = o.now ?? Date.now;
  const kindTopics = outputTopics(o.topics);
  const keys = new SecretSet(o.writeKeys);
  const limiter = new RateLimiter(o.rateLimit);
  const app = fastify({
    ...serverOptions(o.http),
    ...loggingOptions(o.logger),
    bodyLimit: MAX_REQUEST_BYTES,
    return503OnClosing: true,
    ajv: {
      customOptions: {
        // Types are the contract: no coercion of "42" into 42, no stripping, no defaults.
        coerceTypes: false,
        removeAdditional: false,
        useDefaults: false,
        allErrors: false,
        discriminator: true,
        verbose: true,
        strictTypes: false,
      },
    },
  });
  app.decorateRequest('writeKey', undefined);
  traceRequests(app);
  await limitLoad(app, o.http, new CollectorError(503, 'overloaded', 'the collector is overloaded; nothing of this request was written; retry after the time in Retry-After').toJSON());

  await app.register(fastifyCors, {
    origin: '*',
    methods: ['GET', 'POST', 'OPTIONS'],
    allowedHeaders: ['Authorization', 'Content-Type', 'Content-Encoding'],
    maxAge: 86_400,
  });

  // Any content type is read as JSON: analytics.js posts text/plain to avoid a CORS preflight, and
  // `curl -d` sends form encoding.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
    try {
      const bytes = decodeBody(body as Buffer, request.headers['content-encoding'], request.routeOptions.bodyLimit ?? MAX_REQUEST_BYTES);
      const shape = request.routeOptions.config.shape ?? 'single';
      // Batches take the native path when it can decide alone; anything it cannot (an error to report,
      // a missing messageId, …) is parsed, validated and mapped here, with the same results.
      const mapped = shape === 'batch' ? mapSegmentBatch(bytes, now()) : null;
      done(null, mapped === null ? parseJsonBody(bytes, shape) : new MappedBatch(mapped));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  app.setErrorHandler((err: Error & { validation?: SchemaError[]; code?: string; statusCode?: number }, request, reply) => {
    let e: CollectorError;
    if (err instanceof CollectorError) e = err;
    else if (err.validation !== undefined) e = schemaError(err.validation);
    else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      const limit = request.routeOptions.bodyLimit ?? MAX_REQUEST_BYTES;
      e = new CollectorError(413, 'too_large', limit === MAX_EVENT_BYTES ? `an event may have at most ${limit / 1024} KB` : `a request may have at most ${limit / 1024} KB`);
    } else if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.code(err.statusCode).send({ success: false, code: 'invalid_request', message: err.message });
    } else {
      // Logged with its stack and request id by traceRequests' onError hook.
      return reply.code(500).send({ success: false, code: 'internal', message: 'internal error; nothing of this request was written' });
    }
    o.metrics.refused(e.code, eventCount(request.body));
    if (e.retryAfterSec !== undefined) void reply.header('Retry-After', String(e.retryAfterSec));
    return reply.code(e.statusCode).send(e.toJSON());
  });

  app.addHook('onResponse', async (request, reply) => {
    o.metrics.request(request.routeOptions.url ?? 'unmatched', reply.statusCode);
  });

  /** Authentication: a key in the Authorization header is checked before the body is read. */
  const checkHeader = async (request: FastifyRequest) => {
    const header = request.headers.authorization;
    if (header === undefined) return;
    const m = BASIC.exec(header);
    const key = m === null ? undefined : Buffer.from(m[1]!, 'base64').toString('utf8').split(':')[0];
    if (key === undefined || !keys.has(key)) throw unauthorized(key === undefined ? 'the Authorization header is not Basic auth with the write key as user name' : 'unknown write key');
    request.writeKey = key;
  };
  /** …or, for Segment bodies, the `writeKey` field once the body is parsed. */
  const checkBodyKey = async (request: FastifyRequest) => {
    if (request.writeKey !== undefined) return;
    const body = request.body as { writeKey?: unknown } | undefined;
    const key = body !== null && typeof body === 'object' && !Array.isArray(body) ? body.writeKey : undefined;
    if (key === undefined) throw unauthorized('a write key is required: Basic auth with the write key as user name, or `writeKey` in the body');
    if (typeof key !== 'string' || !keys.has(key)) throw unauthorized('unknown write key');
    request.writeKey = key;
  };

  const accept = async (request: FastifyRequest, reply: FastifyReply, records: readonly OutRecord[] | MappedBatch) => {
    const count = records instanceof MappedBatch ? records.records.ids.length : records.length;
    const wait = limiter.take(request.writeKey!, count, now());
    if (wait > 0) throw new CollectorError(429, 'rate_limited', `this write key may send ${limiter.perSecond} events/s; retry in ${wait} s`, undefined, wait);
    if (records instanceof MappedBatch) await o.ingest.writePacked(records.records, kindTopics);
    else await o.ingest.write(records);
    return reply.send({ success: true });
  };

  const ingestRoute = <B>(url: string, shape: BodyShape, schema: object, map: (body: B, receivedAt: number) => OutRecord[] | MappedBatch) => {
    app.post(url, {
      schema: { body: schema },
      config: { shape },
      bodyLimit: shape === 'single' ? MAX_EVENT_BYTES : MAX_REQUEST_BYTES,
      onRequest: checkHeader,
      preValidation: checkBodyKey,
      handler: async (request, reply) => accept(request, reply, map(request.body as B, now())),
    });
  };

  for (const type of SEGMENT_TYPES) {
    ingestRoute<SegmentCall>(`/v1/${type}`, 'single', segmentCallSchema(type), (call, receivedAt) => [mapSegmentCall(call, type, { receivedAt }, '', o.topics)]);
  }
  ingestRoute<{ batch: SegmentCall[]; sentAt?: string; context?: Record<string, unknown> } | MappedBatch>('/v1/batch', 'batch', batchSchema, (body, receivedAt) => {
    if (body instanceof MappedBatch) return body;
    const envelope = { receivedAt, sentAt: body.sentAt === undefined ? undefined : parseIsoTime(body.sentAt, 'sentAt'), context: body.context };
    return body.batch.map((call, i) => mapSegmentCall(call, call.type!, envelope, `batch[${i}]`, o.topics));
  });
  ingestRoute<NativeEvent | NativeEvent[]>('/v1/events', 'list', nativeEventsSchema, (body, receivedAt) =>
    Array.isArray(body) ? body.map((e, i) => mapNativeEvent(e, receivedAt, `[${i}]`, o.topics)) : [mapNativeEvent(body, receivedAt, '', o.topics)],
  );
  ingestRoute<SensorReading | SensorReading[]>('/v1/sensors', 'list', sensorReadingsSchema, (body, receivedAt) =>
    Array.isArray(body) ? body.map((r, i) => mapSensorReading(r, receivedAt, `[${i}]`, o.topics)) : [mapSensorReading(body, receivedAt, '', o.topics)],
  );

  const sink = o.ingest.sink;
  app.get('/healthz', ANSWERED_UNDER_LOAD, async () => ({
    status: sink.available ? 'ok' : 'degraded',
    kafka: sink.available ? 'up' : 'down',
    inFlightEvents: sink.inFlight(),
    dedupIds: o.ingest.dedupStats()?.seen ?? 0,
  }));
  app.get('/readyz', async (_request, reply) => reply.code(sink.available ? 200 : 503).send({ ready: sink.available }));
  app.get('/metrics', ANSWERED_UNDER_LOAD, async (_request, reply) => reply.type(o.metrics.registry.contentType).send(await o.metrics.registry.metrics()));
  return app;
}

function unauthorized(message: string): CollectorError {
  return new CollectorError(401, 'unauthorized', message);
}

/** How many events a refused request carried, for the metrics; a body that was not parsed counts as one. */
function eventCount(body: unknown): number {
  if (body instanceof MappedBatch) return Math.max(1, body.records.ids.length);
  if (Array.isArray(body)) return Math.max(1, body.length);
  const batch = (body as { batch?: unknown } | null | undefined)?.batch;
  return Array.isArray(batch) ? Math.max(1, batch.length) : 1;
}

