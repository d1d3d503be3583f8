import { describeConfig, loadConfig } from '@pulse/config';
import { Aggregator, aggregatorMetrics } from '@pulse/aggregator';
import { createLatencyHistogram, encodeHistogram, engineInfo, percentiles } from '@pulse/engine';
import { startOpsServer } from '@pulse/http';
import { createLogger } from '@pulse/log';
import { defineCommand, numberFlag, portFlag } from '../command.js';

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

export const aggregate = defineCommand({
  name: 'aggregate',
  summary: 'run an aggregator: clicks, purchases and sensor readings → activity counts and business metrics (Rust engine)',
  help: `Usage: pulse aggregate [--bootstrap-servers B] [--progress S] [--quiet] [--metrics-port P]

Joins the consumer group aggregator.groupId on user-clicks, user-purchases and sensor-data. Kafka
assigns partitions; the state of each is restored from pulse-aggregator-changelog before it is read.
Writes user-activity-counts, pulse-top-products, pulse-unique-users and pulse-funnel (from clicks),
pulse-revenue, pulse-top-products and pulse-funnel (from purchases) and pulse-sensor-stats (from
readings): coalesced updates while a window is open, one final record when stream time passes its
end plus grace; and dead-letters (malformed and late events, with their reason). Run more of them to
scale out; kill one and the others take over its partitions without losing or double-counting an event.
Ctrl-C or SIGTERM writes a final checkpoint and exits 0; when Kafka does not acknowledge it within
aggregator.stopTimeoutMs (30 s), it exits 1 without one, and the next start resumes from the last.

Options:
  --bootstrap-servers B  Kafka to use (default: configuration kafka.bootstrapServers)
  --progress S           whole seconds between progress lines on stderr (default 5; 0 for none)
  --quiet                same as --progress 0
  --metrics-port P       serve on 127.0.0.1:P GET /metrics (Prometheus), /healthz, and /readyz: 200 when
                         every assigned partition is restored, lag is within aggregator.readyMaxLag and
                         the last checkpoint within aggregator.readyMaxCheckpointAgeMs, else 503 with why
  --report               print one JSON line per second on stdout: counters, lag, state size and the
                         latency histogram since the previous line (HdrHistogram, compressed base64);
                         read by \`pulse bench e2e\`

Configuration (pulse.config.json or environment):
${describeConfig()}`,
  options: {
    'bootstrap-servers': { type: 'string' },
    progress: { type: 'string' },
    quiet: { type: 'boolean' },
    report: { type: 'boolean' },
    'metrics-port': { type: 'string' },
  },
  async run(values) {
    const config = loadConfig({ overrides: { 'kafka.bootstrapServers': values['bootstrap-servers'] } });
    const progressSec = values.quiet ? 0 : Math.round(numberFlag('progress', values.progress, 5, 0));
    const metricsPort = values['metrics-port'] === undefined ? null : portFlag('metrics-port', values['metrics-port'] as string);
    const log = createLogger('aggregate', config.log);
    const aggregator = new Aggregator(config, createLogger('aggregator', config.log));
    await aggregator.start();
    log.info(`consuming user-clicks from ${config.kafka.bootstrapServers} as group ${config.aggregator.groupId}`);
    const registry = aggregatorMetrics(aggregator);
    const ops =
      metricsPort === null
        ? null
        : await startOpsServer({ host: '127.0.0.1', port: metricsPort, http: config.http, metrics: () => registry.metrics(), readiness: () => aggregator.readiness(), health: () => ({ engine: engineInfo() }) });
    if (ops !== null) log.info(`metrics on ${ops.url}/metrics, readiness on ${ops.url}/readyz`);

    // Every second: take the engine's latency since the last tick; report it (--report) and keep it for
    // the next progress line.
    let window = createLatencyHistogram();
    let last = aggregator.progress();
    let lastAt = Date.now();
    let ticks = 0;
    const timer = setInterval(() => {
      const tick = aggregator.takeLatency();
      const p = aggregator.progress();
      if (values.report) process.stdout.write(`${JSON.stringify({ at: Date.now(), ...p, latency: encodeHistogram(tick) })}\n`);
      window.add(tick);
      if (progressSec <= 0 || ++ticks < progressSec) return;
      ticks = 0;
      const now = Date.now();
      const secs = (now - lastAt) / 1000;
      const lat = percentiles(window);
      const rates = { eventsPerSec: Math.round((p.consumed - last.consumed) / secs), outputsPerSec: Math.round((p.outputs - last.outputs) / secs) };
      const latencyMs = lat.count > 0 ? { p50: lat.p50, p95: lat.p95, p99: lat.p99 } : null;
      log.info(
        { ...rates, lag: p.lag, deadLetters: p.deadLetters, stateKeys: p.stateKeys, stateBytes: p.stateBytes, rssBytes: p.rssBytes, latencyMs, partitions: p.partitions.length },
        `in ${fmt(rates.eventsPerSec).padStart(8)} ev/s  out ${fmt(rates.outputsPerSec).padStart(8)} rec/s` +
          `  lag ${fmt(p.lag).padStart(8)}  dead ${fmt(p.deadLetters)}  state ${fmt(p.stateKeys)} keys ${fmt(p.stateBytes / 1024)} KiB  rss ${fmt(p.rssBytes / 2 ** 20)} MiB` +
          `  latency p50/p95/p99 ${latencyMs !== null ? `${latencyMs.p50}/${latencyMs.p95}/${latencyMs.p99} ms` : '-'}  partitions [${p.partitions.join(',')}]`,
      );
      window = createLatencyHistogram();
      last = p;
      lastAt = now;
    }, 1000);

    // With Kafka gone the final checkpoint would wait for acknowledgements that come only when
    // librdkafka gives up on the records (message.timeout.ms, 5 min). Exiting without it is what a
    // crash does: the next start restores the last checkpoint and replays the events after it.
    const stopWithin = (ms: number): Promise<void> => {
      const deadline = setTimeout(() => {
        log.error(`the final checkpoint did not finish within ${ms / 1000} s (is Kafka reachable?); exiting without it, the next start resumes from the last checkpoint`);
        process.exit(1);
      }, ms);
      deadline.unref();
      return aggregator.stop().finally(() => clearTimeout(deadline));
    };
    let stopping = false;
    const stop = () => {
      if (stopping) process.exit(130);
      stopping = true;
      log.info('stopping (checkpointing state; Ctrl-C again to exit at once)');
      void stopWithin(config.aggregator.stopTimeoutMs);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    try {
      await aggregator.done();
      if (stopping) await aggregator.stop();
      return 0;
    } catch (err) {
      log.error(`stopped on an error: ${(err as Error).message}`);
      await stopWithin(config.aggregator.stopTimeoutMs).catch(() => {});
      return 1;
    } finally {
      clearInterval(timer);
      await ops?.app.close();
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  },
});
