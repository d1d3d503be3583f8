import { TOPICS } from '@pulse/kafka';
import type { Row, TableName } from './tables.js';

/** The topics the sink reads and the table each one fills. */
export const SINK_TOPICS: Readonly<Record<string, TableName>> = {
  [TOPICS.userActivityCounts]: 'userActivity',
  [TOPICS.revenue]: 'revenue',
  [TOPICS.topProducts]: 'topProducts',
  [TOPICS.uniqueUsers]: 'uniqueUsers',
  [TOPICS.funnel]: 'funnel',
  [TOPICS.sensorStats]: 'sensorStats',
};

export const TOP_PRODUCT_METRICS = ['views', 'carts', 'purchases'] as const;
export const UNIQUE_USER_GRANULARITIES = ['1m', '5m'] as const;

/** A record the sink refuses, with a reason that names the field. */
export class RecordError extends Error {
  override readonly name = 'RecordError';
}

type Json = Record<string, unknown>;

function text(o: Json, field: string, oneOf?: readonly string[]): string {
  const v = o[field];
  if (typeof v !== 'string' || v.length === 0) throw new RecordError(`${field}: expected a non-empty string`);
  if (v.length > 1024) throw new RecordError(`${field}: longer than 1024 characters`);
  // PostgreSQL text cannot hold NUL.
  if (v.includes('\u0000')) throw new RecordError(`${field}: contains a NUL character`);
  if (oneOf !== undefined && !oneOf.includes(v)) throw new RecordError(`${field}: expected one of ${oneOf.join(', ')}`);
  return v;
}

function int(o: Json, field: string, min = 0): number {
  const v = o[field];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new RecordError(`${field}: expected an integer ≥ ${min}`);
  return v;
}

function num(o: Json, field: string): number {
  const v = o[field];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new RecordError(`${field}: expected a finite number`);
  return v;
}

function bool(o: Json, field: string): boolean {
  const v = o[field] ?? false;
  if (typeof v !== 'boolean') throw new RecordError(`${field}: expected true or false`);
  return v;
}

function windowOf(o: Json): [number, number] {
  const start = int(o, 'windowStart');
  const end = int(o, 'windowEnd');
  if (end <= start) throw new RecordError('windowEnd: must be after windowStart');
  return [start, end];
}

function topItems(o: Json): string {
  const items = o.items;
  if (!Array.isArray(items) || items.length > 10_000) throw new RecordError('items: expected an array of at most 10000 entries');
  const clean = items.map((item: unknown, i) => {
    if (item === null || typeof item !== 'object') throw new RecordError(`items[${i}]: expected an object`);
    const it = item as Json;
    const count = int(it, 'count');
    const error = int(it, 'error');
    if (error > count) throw new RecordError(`items[${i}].error: larger than its count`);
    return { productId: text(it, 'productId'), count, error };
  });
  return JSON.stringify(clean);
}

/** A decoded record: the row for its table and, for activity counts, the event time it reflects. */
export interface Decoded {
  table: TableName;
  row: Row;
  /** user-activity-counts: the oldest event time the update reflects (for end-to-end latency). */
  oldestEventTs: number | null;
}

/**
 * Parses and validates one output record into its table's row (column order of tables.ts). Throws a
 * RecordError naming the field when the record does not have the contract's shape.
 */
export function decodeRecord(topic: string, value: Buffer | null, timestamp: number): Decoded {
  const table = SINK_TOPICS[topic];
  if (table === undefined) throw new RecordError(`unknown topic ${topic}`);
  if (value === null) throw new RecordError('no value (tombstone)');
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch {
    throw new RecordError('invalid JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new RecordError('expected a JSON object');
  const o = parsed as Json;
  const final = bool(o, 'final');
  switch (table) {
    case 'userActivity': {
      const oldest = o.oldestEventTs === undefined || o.oldestEventTs === null ? null : int(o, 'oldestEventTs');
      return { table, row: [text(o, 'userId'), ...windowOf(o), int(o, 'count'), final, oldest, timestamp], oldestEventTs: oldest };
    }
    case 'revenue':
      return { table, row: [int(o, 'partition'), text(o, 'currency'), ...windowOf(o), int(o, 'orders'), int(o, 'items'), num(o, 'revenue'), final], oldestEventTs: null };
    case 'topProducts':
      return { table, row: [text(o, 'metric', TOP_PRODUCT_METRICS), int(o, 'partition'), ...windowOf(o), int(o, 'threshold'), topItems(o), final], oldestEventTs: null };
    case 'uniqueUsers':
      return { table, row: [text(o, 'granularity', UNIQUE_USER_GRANULARITIES), int(o, 'partition'), ...windowOf(o), num(o, 'estimate'), final], oldestEventTs: null };
    case 'funnel':
      return {
        table,
        row: [
          text(o, 'source'),
          int(o, 'partition'),
          ...windowOf(o),
          int(o, 'views'),
          int(o, 'carts'),
          int(o, 'purchases'),
          num(o, 'viewers'),
          num(o, 'carters'),
          num(o, 'buyers'),
          final,
        ],
        oldestEventTs: null,
      };
    case 'sensorStats': {
      const anomaly = o.anomalyScore === null || o.anomalyScore === undefined ? null : num(o, 'anomalyScore');
      return {
        table,
        row: [text(o, 'sensorId'), text(o, 'metric'), o.unit === undefined || o.unit === '' ? '' : text(o, 'unit'), ...windowOf(o), int(o, 'count'), num(o, 'min'), num(o, 'max'), num(o, 'mean'), num(o, 'ewma'), anomaly, final],
        oldestEventTs: null,
      };
    }
    default:
      throw new RecordError(`no table for ${topic}`);
  }
}
