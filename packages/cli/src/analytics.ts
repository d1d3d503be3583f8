import type { PulseConfig } from '@pulse/config';
import { KafkaClientStats } from '@pulse/kafka';
import { Analytics, KafkaMonitor, openStore, Sink } from '@pulse/sink';

/** The analytics side of an API process: the store, its queries, the Kafka monitor and, optionally, the sink. */
export interface AnalyticsSide {
  analytics: Analytics;
  sink: Sink | null;
  /** Prometheus lines for /metrics: the sink's counters and the Kafka clients' statistics. */
  metrics: (() => string[])[];
  /** Where the process's Kafka clients report their librdkafka statistics for /metrics. */
  kafkaStats: KafkaClientStats;
  close(): Promise<void>;
}

/**
 * Opens the store and, when `withSink`, runs the sink in this process. DuckDB allows one process per
 * file, so with DuckDB the API always runs the sink itself (its queries then share the sink's database
 * instance); with PostgreSQL the sink may run in its own `pulse sink` process.
 */
export async function startAnalytics(config: PulseConfig, withSink: boolean, log: (line: string) => void): Promise<AnalyticsSide> {
  const store = await openStore(config);
  const embedded = withSink || store.kind === 'duckdb';
  const stats = new KafkaClientStats();
  let sink: Sink | null = null;
  try {
    if (embedded) {
      sink = new Sink(config, store, { log, stats });
      await sink.start();
    } else {
      await store.migrate();
    }
  } catch (err) {
    await store.close().catch(() => {});
    throw err;
  }
  const monitor = new KafkaMonitor(config);
  monitor.start();
  const running = sink;
  return {
    analytics: new Analytics(store, monitor),
    sink,
    metrics: [() => running?.prometheus() ?? [], () => stats.prometheus()],
    kafkaStats: stats,
    async close() {
      await running?.stop();
      await monitor.stop();
      await store.close();
    },
  };
}
