import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { SecretSet } from '@pulse/config';
import { dashboard, liveStream } from '@pulse/dashboard';
import { engineInfo } from '@pulse/engine';
import { ANSWERED_UNDER_LOAD, limitLoad, loggingOptions, serverOptions, traceRequests, type HttpLimits } from '@pulse/http';
import type { Logger } from '@pulse/log';
import type { AnalyticsQueries } from '@pulse/sink';
import type { AlertsSource } from '@pulse/alerts';
import { alertRoutes } from './routes/alerts.js';
import { analyticsRoutes } from './routes/analytics.js';
import { recommendationRoutes, type Recommender } from './routes/recommendations.js';

export interface ApiOptions {
  recommender: Recommender;
  /** The analytics store's queries; without it the /api/v1 analytics endpoints are not served. */
  analytics?: AnalyticsQueries;
  /** Alerts and silences (pulse-alerts); without it the alerting endpoints are not served. */
  alerts?: AlertsSource;
  /** Further Prometheus lines for /metrics (the sink's counters, Kafka client statistics), read per scrape. */
  metrics?: readonly (() => string[] | Promise<string[]>)[];
  /** Bearer tokens accepted for reads; empty means reads are open. */
  tokens: readonly string[];
  /** Timeouts, connection cap and load shedding (configuration `http.*`). */
  http: HttpLimits;
  /** Logs errors, and each request at debug, with its request id; default: nothing. */
  logger?: Logger;
}

/**
 * The query and recommendation API as a fastify instance (routes registered, not listening), so that
 * tests can `inject()` requests and `pulse serve` can listen.
 */
export function buildApi(options: ApiOptions): FastifyInstance {
  const app = Fastify({
    ...serverOptions(options.http),
    ...loggingOptions(options.logger),
    // Ids in paths are bounded by the route schemas; this bounds everything else.
    routerOptions: { maxParamLength: 256 },
    ajv: { customOptions: { coerceTypes: true, removeAdditional: false } },
  });
  app.setErrorHandler((err: { validation?: unknown; statusCode?: number; message: string }, _request, reply) => {
    if (err.validation) return reply.code(400).send({ error: 'bad_request', message: err.message });
    const status = err.statusCode ?? 500;
    return reply.code(status).send({ error: status >= 500 ? 'internal' : 'bad_request', message: status >= 500 ? 'internal error' : err.message });
  });

  traceRequests(app);
  void limitLoad(app, options.http, { error: 'overloaded', message: 'the server is overloaded; retry after the time in Retry-After' });

  // The OpenAPI document is generated from the route schemas; swagger must be registered before them.
  void app.register(swagger, {
    openapi: {
      info: { title: 'Pulse API', version: '1', description: 'Real-time e-commerce analytics: query, recommendation and operations API.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: options.tokens.length > 0 ? [{ bearer: [] }] : [],
    },
  });
  void app.register(async (app) => routes(app, options));
  return app;
}

function routes(app: FastifyInstance, options: ApiOptions): void {
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  const info = engineInfo();
  app.get('/healthz', ANSWERED_UNDER_LOAD, async () => ({ status: 'ok', engine: info }));
  app.get('/readyz', async (_request, reply) => {
    const ready = options.recommender.ready();
    return reply.code(ready ? 200 : 503).send({ ready });
  });
  app.get('/metrics', ANSWERED_UNDER_LOAD, async (_request, reply) => {
    const s = options.recommender.stats();
    const lines = [
      '# HELP pulse_recs_events_total Interactions the recommender model learned: each product viewed, clicked or put in the cart, and each product bought.',
      '# TYPE pulse_recs_events_total counter',
      `pulse_recs_events_total ${s.events}`,
      '# HELP pulse_recs_items Items in the recommender model.',
      '# TYPE pulse_recs_items gauge',
      `pulse_recs_items ${s.items}`,
      '# HELP pulse_recs_users Users with recent items in the model.',
      '# TYPE pulse_recs_users gauge',
      `pulse_recs_users ${s.users}`,
      '# HELP pulse_recs_sessions Sessions held in the model store.',
      '# TYPE pulse_recs_sessions gauge',
      `pulse_recs_sessions ${s.sessions}`,
      ...(await Promise.all((options.metrics ?? []).map((m) => m()))).flat(),
    ];
    return reply.type('text/plain; version=0.0.4').send(`${lines.join('\n')}\n`);
  });
  // The data routes live in a scope of their own whose hook authenticates the matched route, so that
  // no spelling of a path (percent-encoding, dot segments, …) reaches them without a token.
  void app.register(async (api) => {
    const tokens = new SecretSet(options.tokens);
    if (tokens.size > 0) api.addHook('onRequest', bearerAuth(tokens));
    void api.register(recommendationRoutes, { recommender: options.recommender });
    if (options.analytics !== undefined) void api.register(analyticsRoutes, { analytics: options.analytics });
    // The dashboard's live feed (docs/dashboard.md) shows the data routes' data: same token check.
    if (options.analytics !== undefined) void api.register(liveStream, { analytics: options.analytics, token: options.tokens[0] });
    // Writes (silences) need a token even when reads are open.
    if (options.alerts !== undefined) void api.register(alertRoutes, { alerts: options.alerts, writeAuth: bearerAuth(tokens) });
  });
  // GET / and its assets: open, as a page with no data in it; the page asks for a token to read.
  void app.register(dashboard);
}

function bearerAuth(tokens: SecretSet) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers.authorization ?? '';
    const token = /^Bearer /i.test(header) ? header.slice(7).trim() : '';
    if (token === '' || !tokens.has(token)) {
      await reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized', message: 'a valid Bearer token is required (PULSE_API_TOKENS)' });
    }
  };
}
