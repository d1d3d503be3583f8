import Fastify, { type FastifyInstance } from 'fastify';
import { serverOptions, type HttpLimits } from './limits.js';

/** Whether a process can do its work now, and if not, why; further fields (the figures behind the answer) are shown as they are. */
export interface Readiness {
  ready: boolean;
  /** What keeps it from being ready (empty when ready). */
  reasons: string[];
}

export interface OpsOptions {
  host: string;
  port: number;
  http: HttpLimits;
  /** The Prometheus text exposition, read per scrape. */
  metrics: () => string | Promise<string>;
  readiness: () => Readiness;
  /** Shown on /healthz (the engine build, the store, …). */
  health?: () => Record<string, unknown>;
}

/**
 * The operations endpoints of a process that has no HTTP API of its own (`pulse aggregate`, `pulse
 * sink`): GET /metrics (Prometheus), /healthz (the process is alive) and /readyz (200 when it can do
 * its work, 503 with the reasons when not).
 */
export async function startOpsServer(o: OpsOptions): Promise<{ app: FastifyInstance; url: string }> {
  const app = Fastify(serverOptions(o.http));
  app.get('/metrics', async (_request, reply) => reply.type('text/plain; version=0.0.4').send(await o.metrics()));
  app.get('/healthz', async () => ({ status: 'ok', ...o.health?.() }));
  app.get('/readyz', async (_request, reply) => {
    const r = o.readiness();
    return reply.code(r.ready ? 200 : 503).send(r);
  });
  const url = await app.listen({ host: o.host, port: o.port });
  return { app, url };
}
