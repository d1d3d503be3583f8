import pg from 'pg';
import { dedupeRows, TABLES, TABLE_NAMES, upsertSql, type ColumnType, type Row, type TableSpec } from './tables.js';
import { migrateWith, readCommittedOffsets, readStoredTopicIds, SCHEMA_VERSION_TABLE, type QueryRow, type Store, type StoreBatch } from './store.js';

const INT8_OID = 20;
const ARRAY_TYPES: Record<ColumnType, string> = { text: 'text[]', int: 'int4[]', bigint: 'int8[]', float: 'float8[]', bool: 'bool[]' };

/** BIGINT as a JavaScript number (pg returns strings by default); Pulse's counts and times fit 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/** The URL without its password, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable database URL)';
  }
}

/**
 * The store in PostgreSQL. A batch is one transaction: per table, one multi-row upsert whose rows come
 * in as one array parameter per column (`INSERT … SELECT … FROM unnest($1::text[], …)`), so the
 * statement is the same whatever the batch size and no value is ever spliced into SQL; then the offsets
 * the same way.
 */
export class PostgresStore implements Store {
  readonly kind = 'postgres';
  readonly location: string;

  private constructor(
    private readonly pool: pg.Pool,
    url: string,
  ) {
    this.location = redactUrl(url);
  }

  static async open(url: string): Promise<PostgresStore> {
    const pool = new pg.Pool({ connectionString: url, max: 8, types, connectionTimeoutMillis: 10_000, statement_timeout: 30_000 });
    // A bad URL or a server that is down fails here, with its reason, not at the first batch.
    const client = await pool.connect().catch(async (err: Error) => {
      await pool.end().catch(() => {});
      throw new Error(`cannot connect to PostgreSQL at ${redactUrl(url)}: ${err.message}`);
    });
    client.release();
    // An idle client that loses its connection emits an error; the pool replaces it.
    pool.on('error', () => {});
    return new PostgresStore(pool, url);
  }

  private async transaction(steps: (client: pg.PoolClient) => Promise<void>): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await steps(client);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  async migrate(): Promise<void> {
    // Two sinks starting together must not both migrate: an advisory lock serializes them.
    const client = await this.pool.connect();
    try {
      await client.query('SELECT pg_advisory_lock(7274173)');
      await migrateWith(
        async (sql) => void (await client.query(sql)),
        async () => Number((await client.query(`SELECT max(version) AS v FROM ${SCHEMA_VERSION_TABLE}`)).rows[0]?.v ?? 0),
        async (steps) => {
          await client.query('BEGIN');
          try {
            await steps();
            await client.query('COMMIT');
          } catch (err) {
            await client.query('ROLLBACK').catch(() => {});
            throw err;
          }
        },
      );
    } finally {
      await client.query('SELECT pg_advisory_unlock(7274173)').catch(() => {});
      client.release();
    }
  }

  committedOffsets(): Promise<Map<string, Map<number, number>>> {
    return readCommittedOffsets((sql, params) => this.query(sql, params));
  }

  storedTopicIds(): Promise<Map<string, Set<string>>> {
    return readStoredTopicIds((sql, params) => this.query(sql, params));
  }

  async write(batch: StoreBatch): Promise<void> {
    const tables: [TableSpec, readonly Row[]][] = [];
    for (const name of TABLE_NAMES) {
      if (name === 'offsets') continue;
      const rows = batch.rows[name];
      if (rows !== undefined && rows.length > 0) tables.push([TABLES[name], rows]);
    }
    if (batch.offsets.length > 0) tables.push([TABLES.offsets, batch.offsets.map((o) => [o.topic, o.partition, o.nextOffset, o.topicId ?? null])]);
    if (tables.length === 0) return;
    await this.transaction(async (client) => {
      for (const [t, rows] of tables) {
        const unique = dedupeRows(t, rows);
        const source = `unnest(${t.columns.map((c, i) => `$${i + 1}::${ARRAY_TYPES[c.type]}`).join(', ')}) AS s(${t.columns.map((c) => c.name).join(', ')})`;
        const columns = t.columns.map((_, i) => unique.map((row) => row[i] ?? null));
        await client.query(upsertSql(t, source), columns);
      }
    });
  }

  async query(sql: string, params: readonly (string | number | boolean)[]): Promise<QueryRow[]> {
    return (await this.pool.query(sql, params as unknown[])).rows as QueryRow[];
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
