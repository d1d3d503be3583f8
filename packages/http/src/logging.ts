import { randomUUID } from 'node:crypto';
import type { Logger } from '@pulse/log';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';

/** An `x-request-id` a client may choose: short, and nothing that could forge a log line. */
const CLIENT_REQUEST_ID = /^[\w.:-]{1,128}$/;

/**
 * fastify's options for logging through `logger` (none: no logging): every request gets an id, the
 * caller's `x-request-id` when it sends a sane one, else a new UUID, and fastify puts it on every line
 * it logs for that request as `reqId`. fastify's own line per request is off: at thousands of
 * requests a second that would be most of the log (`traceRequests` logs them at debug instead).
 */
export function loggingOptions(logger: Logger | undefined): Pick<FastifyServerOptions, 'loggerInstance' | 'logger' | 'genReqId' | 'requestIdHeader' | 'disableRequestLogging'> {
  if (logger === undefined) return { logger: false };
  return {
    loggerInstance: logger,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && CLIENT_REQUEST_ID.test(given) ? given : randomUUID();
    },
    disableRequestLogging: true,
  };
}

/**
 * Answers every request with its id in `x-request-id`, so that a client can quote it; logs an error a
 * route throws with its stack, and each request once it is answered: at debug, or at warn for a 5xx.
 */
export function traceRequests(app: FastifyInstance): void {
  app.addHook('onSend', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });
  app.addHook('onError', async (request, _reply, err) => {
    request.log.error({ err }, `${request.method} ${request.url} failed: ${err.message}`);
  });
  app.addHook('onResponse', async (request, reply) => {
    const line = { method: request.method, url: request.url, statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime) };
    if (reply.statusCode >= 500) request.log.warn(line, `${request.method} ${request.url} answered ${reply.statusCode}`);
    else request.log.debug(line, `${request.method} ${request.url} answered ${reply.statusCode}`);
  });
}
