import { AlertsService, AlertsView, configuredRules } from '@pulse/alerts';
import { loadConfig } from '@pulse/config';
import { Aggregator } from '@pulse/aggregator';
import { buildApi } from '@pulse/api';
import { startCollector, type RunningCollector } from '@pulse/collector';
import { percentiles } from '@pulse/engine';
import { ensureTopics } from '@pulse/kafka';
import { startCluster, stopCluster } from '@pulse/kafka-local';
import { runGenerator, type GeneratorProgress } from '@pulse/loadgen';
import { createLogger } from '@pulse/log';
import { RecsService } from '@pulse/recs';
import { startAnalytics, type AnalyticsSide } from '../analytics.js';
import { defineCommand, numberFlag, untilStopped } from '../command.js';

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

/** The write key `pulse up` gives its collector when none is configured (PULSE_WRITE_KEYS). */
export const DEMO_WRITE_KEY = 'pulse-demo';

/** The write key as `pulse up` prints it: the demo key as it is, a configured one never (it is a secret). */
export function printableWriteKey(configured: readonly string[]): string {
  return configured.length === 0 ? DEMO_WRITE_KEY : '<a write key from PULSE_WRITE_KEYS>';
}

export const up = defineCommand({
  name: 'up',
  summary: 'run everything on one machine: local Kafka, topics, collector, aggregator, API and demo load',
  help: `Usage: pulse up [--rate N] [--no-load] [--keep-kafka]

Starts a local Kafka broker on 127.0.0.1:9092 (unless KAFKA_BOOTSTRAP_SERVERS, PULSE_KAFKA_CLIENT_PROPERTIES
or a secured kafka.securityProtocol names a cluster),
creates the topics, runs the HTTP collector (collector.host:collector.port, 127.0.0.1:8088, with the
configured write keys or the demo key ${DEMO_WRITE_KEY}, which it prints), an aggregator, the sink
(output topics → the analytics store: DuckDB in <dataDir>/pulse.duckdb, or PostgreSQL with
PULSE_DATABASE_URL), alerting (as \`pulse alerts\` does: rules, pulse-alerts, Alertmanager and
webhooks), the query and recommendation API with the live dashboard (api.host:api.port,
127.0.0.1:8080) and the demo load generator, prints their URLs and live progress:
events/s generated and aggregated, output records/s, consumer lag, dead letters, and the latency
from each event's intended send time to its reflection in the aggregator's state (p50/p95/p99).
Ctrl-C stops the load, checkpoints the aggregator and stops the broker it started.

Options:
  --rate N        demo load in events/s (default 2000)
  --no-load       run without the load generator
  --keep-kafka    leave the local broker running on exit
  --progress S    seconds between progress lines (default 2)`,
  options: {
    rate: { type: 'string' },
    'no-load': { type: 'boolean' },
    'keep-kafka': { type: 'boolean' },
    progress: { type: 'string' },
  },
  async run(values) {
    const rate = numberFlag('rate', values.rate, 2000, 1);
    const progressSec = numberFlag('progress', values.progress, 2, 0.2);
    const config = loadConfig();
    const alertRules = configuredRules(config); // a bad rules file stops here, before anything starts
    const logger = createLogger('up', config.log);
    const log = (line: string) => logger.info(line);
    const part = (component: string) => createLogger(component, config.log);
    // A cluster named in the environment, or a secured one (which the local broker is not), is used as it is.
    const external = (process.env.KAFKA_BOOTSTRAP_SERVERS ?? '').length > 0 || config.kafka.clientProperties !== '' || config.kafka.securityProtocol !== 'PLAINTEXT';
    let startedKafka = false;
    if (!external) {
      const cluster = await startCluster({ dataDir: config.dataDir, nodes: 1, log });
      startedKafka = !cluster.alreadyRunning;
    } else {
      log(`using the Kafka cluster at ${config.kafka.bootstrapServers}`);
    }
    await ensureTopics(config);
    log('topics ready');

    const writeKeys = config.collector.writeKeys.length > 0 ? config.collector.writeKeys : [DEMO_WRITE_KEY];
    let collector: RunningCollector;
    try {
      collector = await startCollector(config, { writeKeys, log: part('collector'), logger: part('collector') });
    } catch (err) {
      logger.error(`the collector could not start: ${(err as Error).message} (set PULSE_COLLECTOR_PORT to use another port)`);
      if (startedKafka && !values['keep-kafka']) await stopCluster({ dataDir: config.dataDir, log });
      return 1;
    }
    const shownKey = printableWriteKey(config.collector.writeKeys);
    log(`collector on ${collector.url}, write key ${shownKey}; try:`);
    log(`  curl -u '${shownKey}:' ${collector.url}/v1/track -d '{"userId":"u-1","event":"Product Viewed","properties":{"product_id":"p-1"}}'`);

    const aggregator = new Aggregator(config, part('aggregator'));
    await aggregator.start();

    // The sink and the store, in this process (DuckDB allows one process per file).
    let side: AnalyticsSide | null = null;
    try {
      side = await startAnalytics(config, true, part('sink'));
      log(`sink writing to ${side.store.kind} ${side.store.location}`);
      side.sinkDone?.catch((err: Error) => logger.error(`sink stopped on an error: ${err.message}`));
    } catch (err) {
      logger.error(`the sink could not start: ${(err as Error).message}; serving without the analytics endpoints`);
    }

    // The query and recommendation API, fed by the same streams; optional: a busy port leaves the rest running.
    const recs = new RecsService(config, { snapshotIntervalMs: config.recs.snapshotIntervalMs, log: part('recs') });
    await recs.start();
    side?.kafkaStats.watch('recs', () => recs.kafkaStats());
    // Alerting: the evaluator and notifier, and the API's view of pulse-alerts.
    const alerting = new AlertsService(config, { log: part('alerts'), rules: alertRules });
    await alerting.start();
    alerting.done().catch((err: Error) => logger.error(`alerts stopped on an error: ${err.message}`));
    const alertsView = new AlertsView(config);
    await alertsView.start();
    const api = buildApi({ recommender: recs, analytics: side?.analytics, alerts: alertsView, metrics: side?.metrics, tokens: config.api.tokens, http: config.http, logger: part('api') });
    const apiUrl = await api.listen({ host: config.api.host, port: config.api.port }).catch((err: Error) => {
      logger.error(`the API could not start: ${err.message} (set PULSE_API_PORT to use another port)`);
      return null;
    });
    if (apiUrl !== null) {
      log(`API on ${apiUrl} (OpenAPI: ${apiUrl}/openapi.json); try:`);
      log(`  curl ${apiUrl}/api/v1/recommendations/u-1`);
      if (side !== null) log(`  curl '${apiUrl}/api/v1/products/top?metric=views&k=10'   curl ${apiUrl}/api/v1/metrics/overview`);
      log(`dashboard on ${apiUrl}/ (docs/dashboard.md)`);
    }

    const load = new AbortController();
    let generated: GeneratorProgress | null = null;
    const generator = values['no-load']
      ? Promise.resolve()
      : runGenerator({ config, rate, durationSec: Infinity, signal: load.signal, onProgress: (p) => (generated = p), progressIntervalMs: 1000 }).then(
          (stats) => log(`load generator stopped after ${fmt(stats.events)} events`),
        );
    log(`running: ${values['no-load'] ? 'no demo load' : `demo load at ${fmt(rate)} events/s`}; Ctrl-C to stop`);

    let last = aggregator.progress();
    let lastAt = Date.now();
    const timer = setInterval(() => {
      const now = Date.now();
      const p = aggregator.progress();
      const secs = (now - lastAt) / 1000;
      const lat = percentiles(aggregator.takeLatency());
      const gen = generated as GeneratorProgress | null;
      logger.info(
        { generatedPerSec: Math.round(gen?.rate ?? 0), aggregatedPerSec: Math.round((p.consumed - last.consumed) / secs), lag: p.lag, deadLetters: p.deadLetters },
        `generated ${fmt(gen?.rate ?? 0).padStart(7)} ev/s  aggregated ${fmt((p.consumed - last.consumed) / secs).padStart(7)} ev/s  ` +
          `out ${fmt((p.outputs - last.outputs) / secs).padStart(7)} rec/s  lag ${fmt(p.lag).padStart(7)}  dead ${fmt(p.deadLetters)}  ` +
          `latency p50/p95/p99 ${lat.count > 0 ? `${lat.p50}/${lat.p95}/${lat.p99} ms` : '-'}`,
      );
      last = p;
      lastAt = now;
    }, progressSec * 1000);

    await untilStopped(aggregator.done().catch((err: Error) => logger.error(`aggregator stopped on an error: ${err.message}`)));
    log('stopping (Ctrl-C again to exit at once)');
    clearInterval(timer);
    load.abort();
    await generator.catch((err: Error) => log(`load generator: ${err.message}`));
    await collector.close().catch((err: Error) => log(`collector: ${err.message}`));
    await aggregator.stop().catch((err: Error) => log(`aggregator: ${err.message}`));
    await api.close();
    await alertsView.stop();
    await alerting.stop().catch((err: Error) => log(`alerts: ${err.message}`));
    await side?.close().catch((err: Error) => log(`sink: ${err.message}`));
    await recs.stop().catch((err: Error) => log(`recs: ${err.message}`));
    if (startedKafka && !values['keep-kafka']) await stopCluster({ dataDir: config.dataDir, log });
    return 0;
  },
});
