import underPressure from '@fastify/under-pressure';
import type { PulseConfig } from '@pulse/config';
import type { Server } from 'node:http';
import type { FastifyHttpOptions, FastifyInstance } from 'fastify';

export type HttpLimits = PulseConfig['http'];

/**
 * fastify's server options that bound what one client can hold: a request must arrive whole within
 * `requestTimeoutMs` and its headers within `headersTimeoutMs` (fastify waits for ever by default, so
 * a client that sends a few bytes and stalls would keep its socket), and idle keep-alive sockets close.
 */
export function serverOptions(limits: HttpLimits): FastifyHttpOptions<Server> {
  return {
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Node checks for expired requests on this interval; the default (30 s) would let a stalled
    // client stay that much longer than its timeout.
    http: { headersTimeout: limits.headersTimeoutMs, connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs) },
  };
}

/**
 * The route options of the routes that answer while the server sheds load: liveness (an overloaded
 * process is alive, and a probe that restarts it would make things worse) and metrics (they show why it
 * is overloaded). Readiness is shed with the rest: an overloaded instance should get no new traffic.
 */
export const ANSWERED_UNDER_LOAD = { config: { pressureHandler: () => undefined } };

/**
 * Caps the server's connections and sheds load: while the event loop lags more than
 * `maxEventLoopDelayMs`, requests get 503 with Retry-After and the body `overloaded` (each service
 * answers in its own error shape) instead of queueing behind the work that already waits.
 */
export async function limitLoad(app: FastifyInstance, limits: HttpLimits, overloaded: object): Promise<void> {
  app.server.maxConnections = limits.maxConnections;
  if (limits.maxEventLoopDelayMs === 0) return;
  await app.register(underPressure, {
    maxEventLoopDelay: limits.maxEventLoopDelayMs,
    // under-pressure takes an interval without a sample as an infinite delay: sample over whole
    // seconds, so that an idle or just-started loop is not mistaken for an overloaded one.
    sampleInterval: 1000,
    exposeStatusRoute: false,
    // What the handler returns is sent as the answer.
    pressureHandler: (_request, reply) => {
      void reply.header('Retry-After', '1').code(503);
      return overloaded as never;
    },
  });
}
