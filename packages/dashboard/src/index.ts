import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { constants } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import compress from '@fastify/compress';
import helmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';
// The route schemas' OpenAPI keywords (summary, hide), typed by the plugin that reads them.
import type {} from '@fastify/swagger';

export { liveStream, LiveFeed, type StreamOptions } from './stream.js';
export { computeUpdate, countAlerts, lastMinute, type LiveUpdate, type AlertCounts } from './live.js';

/** The page's own files (HTML, CSS, JS), shipped with the package. */
export const PUBLIC_DIR = fileURLToPath(new URL('../public/', import.meta.url));
/** uPlot's browser build, served from Pulse like every other asset. */
const UPLOT_DIR = dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js'));

/**
 * Everything the page may load comes from Pulse itself; scripts and styles only from files (no inline
 * code), data only from this origin (docs/dashboard.md, "Access").
 */
const CSP = {
  defaultSrc: ["'none'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  manifestSrc: ["'self'"],
  baseUri: ["'none'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
};

/**
 * GET / and the page's assets, compressed, with security headers. Registered as a scope of its own, so
 * that its headers and compression apply to the dashboard's responses only, not to the API's.
 */
export const dashboard: FastifyPluginAsync = async (app) => {
  await app.register(helmet, {
    contentSecurityPolicy: { useDefaults: false, directives: CSP },
    // Pulse serves plain HTTP on 127.0.0.1 by default; HSTS belongs to a TLS front end if there is one.
    strictTransportSecurity: false,
  });
  // Brotli's default quality (11) spends ~100 ms on uPlot alone per request; 5 is within a few % of its size.
  await app.register(compress, { global: true, encodings: ['br', 'gzip'], threshold: 512, brotliOptions: { params: { [constants.BROTLI_PARAM_QUALITY]: 5 } } });
  // One route per file found at start (no wildcard), so that the dashboard cannot shadow an API path.
  await app.register(fastifyStatic, { root: PUBLIC_DIR, prefix: '/', wildcard: false, index: ['index.html'] });
  for (const file of ['uPlot.iife.min.js', 'uPlot.min.css']) {
    app.get(`/vendor/${file}`, { schema: { hide: true } }, (_request, reply) => reply.sendFile(file, UPLOT_DIR));
  }
};
