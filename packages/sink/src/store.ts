import { createTableSql, TABLES, TABLE_NAMES, type Row, type TableName } from './tables.js';

/** Rows for some tables and the offsets they bring the store to, written in one transaction. */
export interface StoreBatch {
  rows: Partial<Record<TableName, Row[]>>;
  offsets: { topic: string; partition: number; nextOffset: number; topicId?: string }[];
}

export type QueryRow = Record<string, string | number | boolean | null>;

/** The analytics store: DuckDB (embedded, one process) or PostgreSQL. */
export interface Store {
  readonly kind: 'duckdb' | 'postgres';
  /** Where it is, for logs (a file path, or the URL without its password). */
  readonly location: string;
  /** Creates or upgrades the schema. */
  migrate(): Promise<void>;
  /** Topic → partition → the next offset to read, as committed with the rows. */
  committedOffsets(): Promise<Map<string, Map<number, number>>>;
  /** Topic → the Kafka topic ids its stored offsets were written with (see topicId in @pulse/kafka). */
  storedTopicIds(): Promise<Map<string, Set<string>>>;
  /** Upserts the rows and stores the offsets, all or nothing. Rows must be one per key (dedupeRows). */
  write(batch: StoreBatch): Promise<void>;
  /** A parameterized read ($1, $2, … in both dialects); BIGINT values come back as numbers. */
  query(sql: string, params: readonly (string | number | boolean)[]): Promise<QueryRow[]>;
  close(): Promise<void>;
}

/**
 * Schema migrations, applied in order inside one transaction each; `schema_version` remembers the last
 * one applied. Add new steps at the end, never edit a released one.
 */
export const MIGRATIONS: readonly (readonly string[])[] = [
  [
    ...TABLE_NAMES.map((t) => createTableSql(TABLES[t])),
    `CREATE INDEX IF NOT EXISTS revenue_window ON ${TABLES.revenue.name} (window_start)`,
    `CREATE INDEX IF NOT EXISTS funnel_window ON ${TABLES.funnel.name} (window_start)`,
    `CREATE INDEX IF NOT EXISTS unique_users_window ON ${TABLES.uniqueUsers.name} (window_start)`,
  ],
  // A store made by the first step already has the column.
  [`ALTER TABLE ${TABLES.offsets.name} ADD COLUMN IF NOT EXISTS topic_id TEXT`],
];

export const SCHEMA_VERSION_TABLE = 'schema_version';

/** Topic → partition → the next offset to read, from the offsets table, through either store's query. */
export async function readCommittedOffsets(query: Store['query']): Promise<Map<string, Map<number, number>>> {
  const rows = await query(`SELECT topic, source_partition, next_offset FROM ${TABLES.offsets.name}`, []);
  const out = new Map<string, Map<number, number>>();
  for (const r of rows) {
    let m = out.get(r.topic as string);
    if (m === undefined) out.set(r.topic as string, (m = new Map()));
    m.set(r.source_partition as number, r.next_offset as number);
  }
  return out;
}

/** Topic → the topic ids of its stored offsets, through either store's query. */
export async function readStoredTopicIds(query: Store['query']): Promise<Map<string, Set<string>>> {
  const rows = await query(`SELECT DISTINCT topic, topic_id FROM ${TABLES.offsets.name} WHERE topic_id IS NOT NULL`, []);
  const out = new Map<string, Set<string>>();
  for (const r of rows) {
    let ids = out.get(r.topic as string);
    if (ids === undefined) out.set(r.topic as string, (ids = new Set()));
    ids.add(r.topic_id as string);
  }
  return out;
}

/** Applies the migrations not yet applied, through the given transactional executor. */
export async function migrateWith(
  exec: (sql: string) => Promise<void>,
  readVersion: () => Promise<number>,
  transaction: (steps: () => Promise<void>) => Promise<void>,
): Promise<number> {
  await exec(`CREATE TABLE IF NOT EXISTS ${SCHEMA_VERSION_TABLE} (version INTEGER NOT NULL)`);
  const current = await readVersion();
  for (let v = current; v < MIGRATIONS.length; v++) {
    await transaction(async () => {
      for (const sql of MIGRATIONS[v]!) await exec(sql);
      await exec(`DELETE FROM ${SCHEMA_VERSION_TABLE}`);
      await exec(`INSERT INTO ${SCHEMA_VERSION_TABLE} VALUES (${v + 1})`);
    });
  }
  return MIGRATIONS.length;
}
