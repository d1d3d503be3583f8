import { loadConfig } from '@pulse/config';
import { buildApi } from '@pulse/api';
import { RecsService } from '@pulse/recs';
import { defineCommand, numberFlag, untilStopped } from '../command.js';

export const serve = defineCommand({
  name: 'serve',
  summary: 'run the query and recommendation API (fastify) on 127.0.0.1:8080',
  help: `Usage: pulse serve [--host H] [--port P] [--bootstrap-servers B]

Reads user-clicks and user-purchases into the streaming recommender (restoring the latest model
snapshot from pulse-recs-model first) and serves:

  GET /api/v1/recommendations/:userId?k=10&excludeSeen=true
  GET /api/v1/products/:productId/similar?k=10
  GET /healthz   GET /readyz   GET /metrics

Reads under /api need a Bearer token when api.tokens (PULSE_API_TOKENS) is set.

Options:
  --host H               listen address (default: configuration api.host, 127.0.0.1)
  --port P               listen port (default: configuration api.port, 8080)
  --bootstrap-servers B  Kafka to read (default: configuration kafka.bootstrapServers)`,
  options: {
    host: { type: 'string' },
    port: { type: 'string' },
    'bootstrap-servers': { type: 'string' },
  },
  async run(values) {
    const config = loadConfig({
      overrides: {
        'kafka.bootstrapServers': values['bootstrap-servers'] as string | undefined,
        'api.host': values.host as string | undefined,
        'api.port': values.port === undefined ? undefined : numberFlag('port', values.port as string, 8080, 0),
      },
    });
    const recs = new RecsService(config, { snapshotIntervalMs: config.recs.snapshotIntervalMs });
    await recs.start();
    const app = buildApi({ recommender: recs, tokens: config.api.tokens });
    const address = await app.listen({ host: config.api.host, port: config.api.port });
    console.error(`serve: API on ${address}`);
    await untilStopped();
    console.error('serve: stopping');
    await app.close();
    await recs.stop();
    return 0;
  },
});
