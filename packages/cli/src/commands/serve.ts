import { AlertsView } from '@pulse/alerts';
import { loadConfig } from '@pulse/config';
import { buildApi } from '@pulse/api';
import { RecsService } from '@pulse/recs';
import { createLogger, type Log } from '@pulse/log';
import { startAnalytics } from '../analytics.js';
import { defineCommand, numberFlag, untilStopped } from '../command.js';
import { setNice } from '../priority.js';

/**
 * The API's work is latency: on a machine it shares with the pipeline, a request waits for a core as
 * long as the busy processes hold both (docs/recommendations.md, "Serving, and how it scales"). Without the privilege to
 * raise its priority, serve says so and runs at the default.
 */
function setApiPriority(nice: number, log: Log): void {
  try {
    const reach = setNice(nice);
    log.info(
      reach === 'machine'
        ? `CPU priority nice ${nice}`
        : `CPU priority nice ${nice}, against the processes of its own session only: Linux shares the CPU between sessions first (autogroups); start serve in a session of its own (setsid) for it to count against the pipeline`,
    );
  } catch (err) {
    log.warn(`api.nice ${nice} not applied (${(err as Error).message}): raising CPU priority takes root or CAP_SYS_NICE; running at the default`);
  }
}

export const serve = defineCommand({
  name: 'serve',
  summary: 'run the query and recommendation API (fastify) on 127.0.0.1:8080',
  help: `Usage: pulse serve [--host H] [--port P] [--bootstrap-servers B] [--with-sink]

Reads user-clicks and user-purchases into the streaming recommender (restoring the latest model
snapshot from pulse-recs-model first), opens the analytics store the sink fills, and serves:

  GET /api/v1/users/:userId/activity?from=&to=         5-minute activity counts of one user
  GET /api/v1/users/active?granularity=1m|5m&from=&to= unique active users per window
  GET /api/v1/products/top?metric=views|carts|purchases&window=5m|15m|30m|1h&k=10[&at=]
  GET /api/v1/revenue?bucket=1m|5m|15m|1h|1d&from=&to=[&currency=USD]
  GET /api/v1/funnel?from=&to=                         view → cart → purchase per 5-minute window
  GET /api/v1/sensors/:sensorId/stats?from=&to=        per-minute sensor statistics
  GET /api/v1/sensors?limit=50&from=&to=               every sensor's latest minute, worst anomaly first
  GET /api/v1/metrics/overview                         events/s per topic, latency, consumer lag
  GET /api/v1/recommendations/:userId?k=10&excludeSeen=true
  GET /api/v1/products/:productId/similar?k=10
  GET /api/v1/alerts[?status=pending|firing]            pending and firing alerts (from pulse-alerts)
  GET /api/v1/alerts/history?limit=&fingerprint=&from= alert transitions, newest first
  GET /api/v1/silences   POST /api/v1/silences          silences of webhook notifications (token always required)
  GET /api/v1/stream                                   Server-Sent Events feeding the dashboard
  GET /          the live dashboard (docs/dashboard.md)
  GET /healthz   GET /readyz   GET /metrics   GET /openapi.json

Times are ms since the epoch; ranges are [from, to), by default the last 24 hours. Reads under /api
need a Bearer token when api.tokens (PULSE_API_TOKENS) is set.

The store is the one \`pulse sink\` writes: DuckDB (<dataDir>/pulse.duckdb) unless database.url /
PULSE_DATABASE_URL names a PostgreSQL database. The store is opened in a child process, the analytics
process, which answers the analytics queries and runs at a lower CPU priority (sink.nice, default 10).
DuckDB allows one process per file, so with DuckDB the sink runs there too (do not run \`pulse sink\`
beside this command); with PostgreSQL it only reads, unless --with-sink.

On a machine shared with the pipeline, a request waits for a core while the pipeline holds both:
api.nice (PULSE_API_NICE) below 0 gives serve the CPU first (needs root or CAP_SYS_NICE). Where Linux
groups processes by session (autogroups), the nice counts against other sessions only when serve leads
its own session (setsid, or a service manager).

Options:
  --host H               listen address (default: configuration api.host, 127.0.0.1)
  --port P               listen port (default: configuration api.port, 8080)
  --bootstrap-servers B  Kafka to read (default: configuration kafka.bootstrapServers)
  --with-sink            run the sink in the analytics process also with PostgreSQL`,
  options: {
    host: { type: 'string' },
    port: { type: 'string' },
    'bootstrap-servers': { type: 'string' },
    'with-sink': { type: 'boolean' },
  },
  async run(values) {
    const config = loadConfig({
      overrides: {
        'kafka.bootstrapServers': values['bootstrap-servers'] as string | undefined,
        'api.host': values.host as string | undefined,
        'api.port': values.port === undefined ? undefined : numberFlag('port', values.port as string, 8080, 0),
      },
    });
    const log = createLogger('serve', config.log);
    // First, so that every thread and process serve starts inherits it.
    if (config.api.nice !== 0) setApiPriority(config.api.nice, log);
    let side;
    try {
      side = await startAnalytics(config, values['with-sink'] === true, createLogger('sink', config.log));
    } catch (err) {
      log.error((err as Error).message);
      return 1;
    }
    const recs = new RecsService(config, { snapshotIntervalMs: config.recs.snapshotIntervalMs, log: createLogger('recs', config.log) });
    await recs.start();
    side.kafkaStats.watch('recs', () => recs.kafkaStats());
    const alerts = new AlertsView(config);
    await alerts.start();
    const app = buildApi({ recommender: recs, analytics: side.analytics, alerts, metrics: side.metrics, tokens: config.api.tokens, http: config.http, logger: createLogger('api', config.log) });
    const address = await app.listen({ host: config.api.host, port: config.api.port });
    log.info(`API on ${address} (store: ${side.store.kind} ${side.store.location}${side.sinkDone ? ', sink running in its analytics process' : ''}; OpenAPI at ${address}/openapi.json)`);
    log.info(`dashboard on ${address}/`);
    let failed = false;
    await untilStopped(
      side.sinkDone?.catch((err: Error) => {
        failed = true;
        log.error(`the sink stopped on an error: ${err.message}`);
      }),
    );
    log.info('stopping');
    await app.close();
    await alerts.stop();
    await side.close();
    await recs.stop();
    return failed ? 1 : 0;
  },
});
