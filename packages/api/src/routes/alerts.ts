import type { FastifyPluginAsync, onRequestHookHandler } from 'fastify';
import { parseSilence, SilenceError, type AlertsSource } from '@pulse/alerts';

/** Alerting routes (docs/alerting.md, "API"). Times are ms since the epoch, as everywhere in the API. */
export interface AlertRoutesOptions {
  alerts: AlertsSource;
  /** Checks the Bearer token of writes, whether or not reads are open. */
  writeAuth: onRequestHookHandler;
}

const labels = { type: 'object', additionalProperties: { type: 'string' } } as const;
const transition = {
  type: 'object',
  properties: {
    fingerprint: { type: 'string' },
    status: { type: 'string' },
    rule: { type: 'string' },
    labels,
    annotations: labels,
    activeAt: { type: 'integer' },
    startsAt: { type: 'integer' },
    endsAt: { type: 'integer' },
    value: { type: 'number' },
    at: { type: 'integer' },
  },
} as const;
const matcher = {
  type: 'object',
  required: ['name', 'value'],
  properties: { name: { type: 'string', minLength: 1 }, value: { type: 'string' }, isRegex: { type: 'boolean' }, isEqual: { type: 'boolean' } },
  additionalProperties: false,
} as const;
const time = { anyOf: [{ type: 'integer' }, { type: 'string', minLength: 1 }] } as const;

export const alertRoutes: FastifyPluginAsync<AlertRoutesOptions> = async (app, { alerts, writeAuth }) => {
  app.get<{ Querystring: { status?: 'pending' | 'firing' } }>(
    '/api/v1/alerts',
    {
      schema: {
        querystring: { type: 'object', properties: { status: { type: 'string', enum: ['pending', 'firing'] } }, additionalProperties: false },
        response: { 200: { type: 'object', properties: { alerts: { type: 'array', items: transition } } } },
      },
    },
    async (request) => ({ alerts: alerts.active().filter((a) => request.query.status === undefined || a.status === request.query.status) }),
  );

  app.get<{ Querystring: { limit: number; fingerprint?: string; from?: number } }>(
    '/api/v1/alerts/history',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: 10000, default: 100 },
            fingerprint: { type: 'string', pattern: '^[0-9a-f]{16}$' },
            from: { type: 'integer', minimum: 0 },
          },
          additionalProperties: false,
        },
        response: { 200: { type: 'object', properties: { transitions: { type: 'array', items: transition } } } },
      },
    },
    async (request) => {
      const { limit, fingerprint, from } = request.query;
      const out = [];
      const all = alerts.history();
      // Newest first.
      for (let i = all.length - 1; i >= 0 && out.length < limit; i--) {
        const t = all[i]!;
        if ((fingerprint === undefined || t.fingerprint === fingerprint) && (from === undefined || t.at >= from)) out.push(t);
      }
      return { transitions: out };
    },
  );

  app.get('/api/v1/silences', async () => ({ silences: alerts.silences() }));

  app.post<{ Body: unknown }>(
    '/api/v1/silences',
    {
      onRequest: writeAuth,
      schema: {
        body: {
          type: 'object',
          required: ['matchers', 'endsAt'],
          properties: { matchers: { type: 'array', minItems: 1, maxItems: 64, items: matcher }, startsAt: time, endsAt: time, comment: { type: 'string', maxLength: 4096 }, createdBy: { type: 'string', maxLength: 256 } },
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      let silence;
      try {
        silence = parseSilence(request.body, Date.now());
      } catch (err) {
        if (err instanceof SilenceError) return reply.code(400).send({ error: 'bad_request', message: err.message });
        throw err;
      }
      await alerts.addSilence(silence);
      return reply.code(200).send({ silenceID: silence.id, silence });
    },
  );
};
