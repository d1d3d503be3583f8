/**
 * The analytics store's tables, described once as data: the DDL, the upserts, DuckDB's appender and
 * PostgreSQL's array parameters are all generated from these descriptions, so the two stores cannot
 * drift apart. Types are the ones both databases understand (FLOAT8 is DuckDB's DOUBLE).
 */
export type ColumnType = 'text' | 'int' | 'bigint' | 'float' | 'bool';

export interface Column {
  readonly name: string;
  readonly type: ColumnType;
  readonly nullable?: boolean;
}

export interface TableSpec {
  readonly name: string;
  readonly columns: readonly Column[];
  /** The upsert key (primary key). */
  readonly key: readonly string[];
  /** On conflict, add the new values to the stored ones instead of replacing them (exact, because offsets commit in the same transaction). */
  readonly additive?: boolean;
}

const col = (name: string, type: ColumnType, nullable = false): Column => ({ name, type, nullable });
const window = [col('window_start', 'bigint'), col('window_end', 'bigint')];

export const TABLES = {
  userActivity: {
    name: 'user_activity',
    columns: [col('user_id', 'text'), ...window, col('count', 'bigint'), col('final', 'bool'), col('oldest_event_ts', 'bigint', true), col('record_ts', 'bigint')],
    key: ['user_id', 'window_start'],
  },
  revenue: {
    name: 'revenue',
    columns: [col('source_partition', 'int'), col('currency', 'text'), ...window, col('orders', 'bigint'), col('items', 'bigint'), col('revenue', 'float'), col('final', 'bool')],
    key: ['source_partition', 'currency', 'window_start'],
  },
  topProducts: {
    name: 'top_products',
    // `items` is the Space-Saving list as JSON text: it is replaced whole and merged in the query layer.
    columns: [col('metric', 'text'), col('source_partition', 'int'), ...window, col('threshold', 'bigint'), col('items', 'text'), col('final', 'bool')],
    key: ['metric', 'source_partition', 'window_start'],
  },
  uniqueUsers: {
    name: 'unique_users',
    columns: [col('granularity', 'text'), col('source_partition', 'int'), ...window, col('estimate', 'float'), col('final', 'bool')],
    key: ['granularity', 'source_partition', 'window_start'],
  },
  funnel: {
    name: 'funnel',
    columns: [
      col('source', 'text'),
      col('source_partition', 'int'),
      ...window,
      col('views', 'bigint'),
      col('carts', 'bigint'),
      col('purchases', 'bigint'),
      col('viewers', 'float'),
      col('carters', 'float'),
      col('buyers', 'float'),
      col('final', 'bool'),
    ],
    key: ['source', 'source_partition', 'window_start'],
  },
  sensorStats: {
    name: 'sensor_stats',
    columns: [
      col('sensor_id', 'text'),
      col('metric', 'text'),
      col('unit', 'text'),
      ...window,
      col('count', 'bigint'),
      col('min', 'float'),
      col('max', 'float'),
      col('mean', 'float'),
      col('ewma', 'float'),
      col('anomaly_score', 'float', true),
      col('final', 'bool'),
    ],
    key: ['sensor_id', 'metric', 'window_start'],
  },
  /** Records the sink could not store, with the reason: bad input is kept, not dropped. */
  rejects: {
    name: 'sink_rejects',
    columns: [col('topic', 'text'), col('source_partition', 'int'), col('source_offset', 'bigint'), col('reason', 'text'), col('value', 'text', true)],
    key: ['topic', 'source_partition', 'source_offset'],
  },
  /** Event → output and event → stored latency of user-activity-counts, in log buckets per minute (see latency.ts). */
  latency: {
    name: 'latency_histogram',
    columns: [col('stage', 'text'), col('minute_start', 'bigint'), col('bucket', 'int'), col('count', 'bigint')],
    key: ['stage', 'minute_start', 'bucket'],
    additive: true,
  },
  /** The next offset of every partition the store reflects: written in the same transaction as the rows. */
  offsets: {
    name: 'sink_offsets',
    // topic_id: the Kafka topic id the offset belongs to (null in rows written before it was kept).
    columns: [col('topic', 'text'), col('source_partition', 'int'), col('next_offset', 'bigint'), col('topic_id', 'text', true)],
    key: ['topic', 'source_partition'],
  },
} as const satisfies Record<string, TableSpec>;

export type TableName = keyof typeof TABLES;
export const TABLE_NAMES = Object.keys(TABLES) as TableName[];

/** A row: values in the order of its table's columns. */
export type Row = readonly (string | number | boolean | null)[];

const SQL_TYPES: Record<ColumnType, string> = { text: 'TEXT', int: 'INTEGER', bigint: 'BIGINT', float: 'FLOAT8', bool: 'BOOLEAN' };

export function createTableSql(t: TableSpec, name = t.name, withKey = true): string {
  const cols = t.columns.map((c) => `${c.name} ${SQL_TYPES[c.type]}${c.nullable ? '' : ' NOT NULL'}`);
  if (withKey) cols.push(`PRIMARY KEY (${t.key.join(', ')})`);
  return `CREATE TABLE IF NOT EXISTS ${name} (${cols.join(', ')})`;
}

/** `INSERT … SELECT <columns> FROM <source> ON CONFLICT (key) DO UPDATE …` for either database. */
export function upsertSql(t: TableSpec, source: string): string {
  const names = t.columns.map((c) => c.name);
  const rest = names.filter((n) => !t.key.includes(n));
  const set = rest.map((n) => (t.additive ? `${n} = ${t.name}.${n} + excluded.${n}` : `${n} = excluded.${n}`));
  return `INSERT INTO ${t.name} (${names.join(', ')}) SELECT ${names.join(', ')} FROM ${source} ON CONFLICT (${t.key.join(', ')}) DO UPDATE SET ${set.join(', ')}`;
}

/**
 * One row per key: the last one for replacing tables (records of a key arrive in order), the sum for
 * additive ones. Both databases refuse an upsert that touches one row twice in a statement.
 */
export function dedupeRows(t: TableSpec, rows: readonly Row[]): Row[] {
  const keyIdx = t.key.map((k) => t.columns.findIndex((c) => c.name === k));
  const byKey = new Map<string, Row>();
  for (const row of rows) {
    const key = JSON.stringify(keyIdx.map((i) => row[i]));
    const prev = byKey.get(key);
    if (t.additive && prev !== undefined) {
      byKey.set(key, row.map((v, i) => (keyIdx.includes(i) ? v : (prev[i] as number) + (v as number))));
    } else {
      // Delete first so that the map's order follows the latest write.
      byKey.delete(key);
      byKey.set(key, row);
    }
  }
  return [...byKey.values()];
}
