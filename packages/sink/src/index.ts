import { isAbsolute, resolve } from 'node:path';
import type { PulseConfig } from '@pulse/config';
import { DuckDbStore } from './duckdb-store.js';
import { PostgresStore } from './postgres-store.js';
import type { Store } from './store.js';

export { Analytics, ANALYTICS_QUERIES, BUCKETS, TOP_WINDOWS, MAX_ROWS, type AnalyticsQueries, type Overview, type Range } from './analytics.js';
export { DuckDbStore } from './duckdb-store.js';
export { PostgresStore, redactUrl } from './postgres-store.js';
export { startLocalPostgres, type LocalPostgres } from './local-postgres.js';
export { KafkaMonitor, type KafkaSnapshot } from './monitor.js';
export { decodeRecord, RecordError, SINK_TOPICS, TOP_PRODUCT_METRICS, UNIQUE_USER_GRANULARITIES } from './records.js';
export { mergeBatches, Sink, type SinkProgress } from './sink.js';
export { MIGRATIONS, type Store, type StoreBatch, type QueryRow } from './store.js';
export { TABLE_NAMES, TABLES, type Row, type TableSpec } from './tables.js';
export { mergeTopProducts, type SpaceSavingSummary } from './top-products.js';
export { latencyBucket, bucketUpperMs, summarize } from './latency.js';

/** The DuckDB file the configuration names (relative paths are under dataDir). */
export function duckdbPath(config: PulseConfig): string {
  return isAbsolute(config.sink.duckdbFile) ? config.sink.duckdbFile : resolve(config.dataDir, config.sink.duckdbFile);
}

/** PostgreSQL when database.url (PULSE_DATABASE_URL) is set, else the embedded DuckDB file. */
export function openStore(config: PulseConfig): Promise<Store> {
  return config.database.url.length > 0 ? PostgresStore.open(config.database.url) : DuckDbStore.open(duckdbPath(config), { threads: config.sink.duckdbThreads });
}
