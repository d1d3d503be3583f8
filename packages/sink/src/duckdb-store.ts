import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DuckDBInstance, type DuckDBAppender, type DuckDBConnection } from '@duckdb/node-api';
import { createTableSql, dedupeRows, TABLES, TABLE_NAMES, upsertSql, type ColumnType, type Row, type TableSpec } from './tables.js';
import { migrateWith, readCommittedOffsets, readStoredTopicIds, SCHEMA_VERSION_TABLE, type QueryRow, type Store, type StoreBatch } from './store.js';

const stageName = (t: TableSpec) => `stage_${t.name}`;
/** How long opening waits for another process to let go of the file. */
const LOCK_WAIT_MS = 10_000;
/** Idle read connections kept for reuse. */
const MAX_IDLE_READERS = 4;

function append(appender: DuckDBAppender, type: ColumnType, value: string | number | boolean | null): void {
  if (value === null) return appender.appendNull();
  switch (type) {
    case 'text':
      return appender.appendVarchar(value as string);
    case 'int':
      return appender.appendInteger(value as number);
    case 'bigint':
      return appender.appendBigInt(BigInt(value as number));
    case 'float':
      return appender.appendDouble(value as number);
    case 'bool':
      return appender.appendBoolean(value as boolean);
  }
}

function toQueryRow(row: Record<string, unknown>): QueryRow {
  const out: QueryRow = {};
  for (const [k, v] of Object.entries(row)) out[k] = typeof v === 'bigint' ? Number(v) : (v as QueryRow[string]);
  return out;
}

/**
 * The embedded store: one DuckDB file. DuckDB lets one process open a file for writing, so the sink and
 * the queries of its tables share this object in one process (the analytics process of `pulse serve`
 * runs both when the store is DuckDB). Writes go through one connection: the batch is appended to staging tables
 * with DuckDB's appender, then upserted into the real tables, all inside one transaction with the
 * offsets. Reads use their own connections and see committed data only.
 */
export class DuckDbStore implements Store {
  readonly kind = 'duckdb';
  private readonly idle: DuckDBConnection[] = [];
  private writeQueue: Promise<void> = Promise.resolve();

  private constructor(
    readonly location: string,
    private readonly instance: DuckDBInstance,
    private readonly writer: DuckDBConnection,
  ) {}

  /**
   * Opens (or creates) the file with `threads` DuckDB worker threads (DuckDB's default: one per core).
   * A file locked by another process is waited for up to `lockWaitMs`: the analytics process of a
   * `pulse serve` that was killed lets go of it once it notices, a moment later.
   */
  static async open(file: string, o: { threads?: number; lockWaitMs?: number } = {}): Promise<DuckDbStore> {
    mkdirSync(dirname(file), { recursive: true });
    const lockWaitMs = o.lockWaitMs ?? LOCK_WAIT_MS;
    const deadline = Date.now() + lockWaitMs;
    for (;;) {
      try {
        const instance = await DuckDBInstance.create(file, o.threads === undefined ? {} : { threads: String(o.threads) });
        return new DuckDbStore(file, instance, await instance.connect());
      } catch (err) {
        const message = (err as Error).message;
        if (!/lock/i.test(message)) throw err;
        if (Date.now() >= deadline) {
          throw new Error(
            `the DuckDB file ${file} is open in another process (DuckDB allows one writer per file): with DuckDB, run either \`pulse serve\` (its analytics process runs the sink) or \`pulse sink\`, not both; or use PostgreSQL (PULSE_DATABASE_URL). ${message}`,
          );
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  async migrate(): Promise<void> {
    const exec = async (sql: string) => void (await this.writer.run(sql));
    await migrateWith(
      exec,
      async () => {
        const rows = (await this.writer.runAndReadAll(`SELECT max(version) AS v FROM ${SCHEMA_VERSION_TABLE}`)).getRowObjectsJS();
        return Number(rows[0]?.v ?? 0);
      },
      (steps) => this.transaction(steps),
    );
    // Staging tables follow the current columns; they are empty outside a write transaction.
    for (const name of TABLE_NAMES) {
      const t: TableSpec = TABLES[name];
      await exec(`DROP TABLE IF EXISTS ${stageName(t)}`);
      await exec(createTableSql(t, stageName(t), false));
    }
  }

  private async transaction(steps: () => Promise<void>): Promise<void> {
    await this.writer.run('BEGIN TRANSACTION');
    try {
      await steps();
      await this.writer.run('COMMIT');
    } catch (err) {
      await this.writer.run('ROLLBACK').catch(() => {});
      throw err;
    }
  }

  committedOffsets(): Promise<Map<string, Map<number, number>>> {
    return readCommittedOffsets((sql, params) => this.query(sql, params));
  }

  storedTopicIds(): Promise<Map<string, Set<string>>> {
    return readStoredTopicIds((sql, params) => this.query(sql, params));
  }

  write(batch: StoreBatch): Promise<void> {
    // One transaction at a time on the writing connection.
    const run = this.writeQueue.then(() => this.writeNow(batch));
    this.writeQueue = run.catch(() => {});
    return run;
  }

  private async writeNow(batch: StoreBatch): Promise<void> {
    const tables: [TableSpec, readonly Row[]][] = [];
    for (const name of TABLE_NAMES) {
      if (name === 'offsets') continue;
      const rows = batch.rows[name];
      if (rows !== undefined && rows.length > 0) tables.push([TABLES[name], rows]);
    }
    if (batch.offsets.length > 0) tables.push([TABLES.offsets, batch.offsets.map((o) => [o.topic, o.partition, o.nextOffset, o.topicId ?? null])]);
    if (tables.length === 0) return;
    await this.transaction(async () => {
      for (const [t, rows] of tables) {
        const appender = await this.writer.createAppender(stageName(t));
        try {
          for (const row of dedupeRows(t, rows)) {
            t.columns.forEach((c, i) => append(appender, c.type, row[i] ?? null));
            appender.endRow();
          }
          appender.flushSync();
        } finally {
          appender.closeSync();
        }
        await this.writer.run(upsertSql(t, stageName(t)));
        await this.writer.run(`DELETE FROM ${stageName(t)}`);
      }
    });
  }

  async query(sql: string, params: readonly (string | number | boolean)[]): Promise<QueryRow[]> {
    const conn = this.idle.pop() ?? (await this.instance.connect());
    try {
      // Whole numbers bind as BIGINT (times in ms do not fit an INTEGER; as DOUBLE they would widen the query's types).
      const values = params.map((v) => (typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : v));
      const reader = await conn.runAndReadAll(sql, values);
      return reader.getRowObjectsJS().map((r) => toQueryRow(r as Record<string, unknown>));
    } finally {
      if (this.idle.length < MAX_IDLE_READERS) this.idle.push(conn);
      else conn.closeSync();
    }
  }

  async close(): Promise<void> {
    await this.writeQueue;
    for (const c of this.idle.splice(0)) c.closeSync();
    this.writer.closeSync();
    this.instance.closeSync();
  }
}
