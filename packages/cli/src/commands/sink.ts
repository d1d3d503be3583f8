import { describeConfig, loadConfig } from '@pulse/config';
import { startOpsServer } from '@pulse/http';
import { createLogger } from '@pulse/log';
import { KafkaClientStats } from '@pulse/kafka';
import { openStore, Sink } from '@pulse/sink';
import { defineCommand, numberFlag, portFlag, untilStopped } from '../command.js';

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

export const sink = defineCommand({
  name: 'sink',
  summary: 'run the sink: output topics → analytics store (DuckDB file by default, or PostgreSQL)',
  help: `Usage: pulse sink [--bootstrap-servers B] [--progress S] [--metrics-port P]

Consumes user-activity-counts, pulse-revenue, pulse-top-products, pulse-unique-users, pulse-funnel and
pulse-sensor-stats into the analytics store, creating and migrating its schema. Every consumed batch
is one transaction: rows upserted by their (key, window) together with the offsets they reach, so a
crash at any moment neither loses nor doubles a row; on start it resumes from the offsets in the
store. Records that do not have the contract's shape are kept in the table sink_rejects with the
reason.

The store: embedded DuckDB in <dataDir>/pulse.duckdb (sink.duckdbFile), or PostgreSQL when
database.url / PULSE_DATABASE_URL is set (postgres://user:password@host:5432/db). DuckDB lets one
process open the file: \`pulse serve\` runs the sink in its analytics process when the store is DuckDB, so run
this command alone only to fill the file without serving it, or with PostgreSQL.

Options:
  --bootstrap-servers B  Kafka to read (default: configuration kafka.bootstrapServers)
  --progress S           seconds between progress lines on stderr (default 5; 0 for none)
  --metrics-port P       serve GET /metrics (Prometheus: the sink's counters and librdkafka statistics)
                         GET /healthz and GET /readyz on 127.0.0.1:P (default: not served)

Configuration (pulse.config.json or environment):
${describeConfig()}`,
  options: {
    'bootstrap-servers': { type: 'string' },
    progress: { type: 'string' },
    'metrics-port': { type: 'string' },
  },
  async run(values) {
    const config = loadConfig({ overrides: { 'kafka.bootstrapServers': values['bootstrap-servers'] } });
    const progressSec = numberFlag('progress', values.progress, 5, 0);
    const metricsPort = values['metrics-port'] === undefined ? null : portFlag('metrics-port', values['metrics-port'] as string);
    const log = createLogger('sink', config.log);
    let store;
    try {
      store = await openStore(config);
    } catch (err) {
      log.error((err as Error).message);
      return 1;
    }
    const stats = new KafkaClientStats();
    const running = new Sink(config, store, { log });
    stats.watch('sink', () => running.kafkaStats());
    try {
      await running.start();
    } catch (err) {
      log.error((err as Error).message);
      await store.close().catch(() => {});
      return 1;
    }

    const ops =
      metricsPort === null
        ? null
        : await startOpsServer({
            host: '127.0.0.1',
            port: metricsPort,
            http: config.http,
            metrics: () => `${[...running.prometheus(), ...stats.prometheus()].join('\n')}\n`,
            // Started means its store is open and its consumer subscribed.
            readiness: () => ({ ready: true, reasons: [], lag: running.progress().lag }),
            health: () => ({ store: store.kind }),
          });
    if (ops !== null) log.info(`metrics on ${ops.url}/metrics`);

    let last = running.progress();
    let lastAt = Date.now();
    const timer =
      progressSec > 0
        ? setInterval(() => {
            const p = running.progress();
            const secs = (Date.now() - lastAt) / 1000;
            log.info(
              { recordsPerSec: Math.round((p.records - last.records) / secs), records: p.records, rows: p.rows, rejected: p.rejected, lag: p.lag, transactions: p.transactions, lastWriteMs: p.lastWriteMs },
              `stored ${fmt((p.records - last.records) / secs).padStart(8)} rec/s  total ${fmt(p.records)}  rows ${fmt(p.rows)}  rejected ${fmt(p.rejected)}` +
                `  lag ${fmt(p.lag)}  transactions ${fmt(p.transactions)} (last ${p.lastWriteMs} ms)`,
            );
            last = p;
            lastAt = Date.now();
          }, progressSec * 1000)
        : undefined;

    let failed = false;
    await untilStopped(
      running.done().catch((err: Error) => {
        failed = true;
        log.error(`stopped on an error: ${err.message}`);
      }),
    );
    clearInterval(timer);
    log.info('stopping (finishing the batch in hand)');
    await running.stop();
    await ops?.app.close();
    await store.close();
    const p = running.progress();
    log.info(`stopped after storing ${fmt(p.records)} records (${fmt(p.rejected)} rejected)`);
    return failed ? 1 : 0;
  },
});
