import { describeConfig, loadConfig } from '@pulse/config';
import { MAX_BATCH_EVENTS, MAX_EVENT_BYTES, MAX_REQUEST_BYTES, startCollector } from '@pulse/collector';
import { createLogger } from '@pulse/log';
import { ensureTopics } from '@pulse/kafka';
import { defineCommand, numberFlag, untilStopped, UsageError } from '../command.js';

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

export const collect = defineCommand({
  name: 'collect',
  summary: 'run the HTTP collector: Segment-compatible and native event ingestion into Kafka',
  help: `Usage: pulse collect [--host H] [--port P] [--bootstrap-servers B] [--progress S]

Takes events over HTTP and writes them to the Kafka topics, answering 200 only when Kafka has
acknowledged every event of the request.

  POST /v1/track /v1/page /v1/screen /v1/identify /v1/group /v1/alias /v1/batch
                    Segment's HTTP Tracking API: point a Segment library's host at this service.
                    The write key is the Basic-auth user name (empty password) or \`writeKey\` in the body
  POST /v1/events   one event or an array of them, in the shapes of user-clicks and user-purchases
  POST /v1/sensors  one sensor reading or an array of them
  GET  /metrics /healthz /readyz

Limits: ${MAX_EVENT_BYTES / 1024} KB per event, ${MAX_REQUEST_BYTES / 1024} KB per request, ${fmt(MAX_BATCH_EVENTS)} events per request. Answers: 400 (with the
field at fault), 401 (missing or unknown write key), 413 (too large), 429 + Retry-After
(collector.rateLimit), 503 + Retry-After (Kafka unreachable or behind). Ctrl-C stops taking requests,
waits for the ones in flight and flushes the producer.

Options:
  --host H               address to listen on (default: configuration collector.host, 127.0.0.1)
  --port P               port (default: configuration collector.port, 8088)
  --bootstrap-servers B  Kafka to use (default: configuration kafka.bootstrapServers)
  --progress S           seconds between progress lines on stderr (default 5; 0 for none)

Configuration (pulse.config.json or environment):
${describeConfig()}`,
  options: {
    host: { type: 'string' },
    port: { type: 'string' },
    'bootstrap-servers': { type: 'string' },
    progress: { type: 'string' },
  },
  async run(values) {
    const port = values.port === undefined ? undefined : numberFlag('port', values.port, 0, 0);
    if (port !== undefined && (!Number.isInteger(port) || port > 65535)) throw new UsageError(`--port must be a port number, got ${JSON.stringify(values.port)}`);
    const config = loadConfig({
      overrides: { 'kafka.bootstrapServers': values['bootstrap-servers'], 'collector.host': values.host, 'collector.port': port },
    });
    const progressSec = numberFlag('progress', values.progress, 5, 0);
    const log = createLogger('collect', config.log);
    if (config.collector.writeKeys.length === 0) {
      log.error('no write keys configured; set PULSE_WRITE_KEYS=key1,key2 (or collector.writeKeys in pulse.config.json)');
      return 2;
    }
    try {
      await ensureTopics(config);
    } catch (err) {
      log.error((err as Error).message);
      return 1;
    }
    const collector = await startCollector(config, { log, logger: createLogger('collector', config.log) });
    log.info(`listening on ${collector.url} (${config.collector.writeKeys.length} write key${config.collector.writeKeys.length === 1 ? '' : 's'}), writing to Kafka at ${config.kafka.bootstrapServers}`);

    let last = collector.metrics.totals();
    let lastAt = Date.now();
    const timer =
      progressSec > 0
        ? setInterval(() => {
            const t = collector.metrics.totals();
            const secs = (Date.now() - lastAt) / 1000;
            log.info({ acceptedPerSec: Math.round((t.accepted - last.accepted) / secs), accepted: t.accepted, rejected: t.rejected }, `accepted ${fmt((t.accepted - last.accepted) / secs).padStart(8)} ev/s  total ${fmt(t.accepted)}  rejected ${fmt(t.rejected)}`);
            last = t;
            lastAt = Date.now();
          }, progressSec * 1000)
        : undefined;

    await untilStopped();
    clearInterval(timer);
    log.info('stopping: finishing requests in flight and flushing the producer (Ctrl-C again to exit at once)');
    await collector.close();
    const t = collector.metrics.totals();
    log.info(`stopped after accepting ${fmt(t.accepted)} events (${fmt(t.rejected)} rejected)`);
    return 0;
  },
});
