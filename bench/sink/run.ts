import { mkdirSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { PulseConfig } from '@pulse/config';
import { TrackedProducer, producerConfig, ensureTopics, TOPIC_SPECS, TOPICS } from '@pulse/kafka';
import { DuckDbStore, PostgresStore, Sink, startLocalPostgres, decodeRecord, type Row, type Store } from '@pulse/sink';
import { benchBroker } from '../lib/broker.js';
import { machineInfo, type MachineInfo } from '../lib/machine.js';

export interface SinkBenchOptions {
  config: PulseConfig;
  /** user-activity-counts records per run. */
  records: number;
  /** Distinct (user, window) keys among them: the rest are updates of those keys. */
  keys: number;
  runs: number;
  /** PostgreSQL to measure (a database URL); default: a throwaway local cluster. */
  databaseUrl?: string;
  bootstrapServers?: string;
  dataDir: string;
  port: number;
  log: (line: string) => void;
}

export interface StoreFigures {
  /** Store.write alone: decoded rows in batches of sink.batchSize, one transaction each. */
  storeRowsPerSec: number;
  /** The whole sink: Kafka consumer → decode → store transactions with offsets, from the beginning of the topic (after start-up). */
  sinkRowsPerSec: number;
  storeRuns: number[];
  sinkRuns: number[];
}

export interface SinkBenchResult {
  scenario: 'sink';
  records: number;
  keys: number;
  runs: number;
  batchSize: number;
  duckdb: StoreFigures;
  postgres: StoreFigures & { server: string };
  versions: { duckdb: string; postgres: string };
  /** 1-minute load average at the start and the end: the machine is shared, and it shows in the spread. */
  loadAverage: { start: number; end: number };
  machine: MachineInfo;
  startedAt: string;
}

const T = 1_764_100_200_000;
const W5 = 300_000;

/** Record j: the update of key j mod `keys` with count j (so each key's last update is the largest j). */
function activity(j: number, keys: number): { key: string; value: Buffer } {
  const k = j % keys;
  const user = `u-${k % 100_000}`;
  const windowStart = T + W5 * Math.floor(k / 100_000);
  return { key: user, value: Buffer.from(JSON.stringify({ userId: user, windowStart, windowEnd: windowStart + W5, count: j, final: false, oldestEventTs: T + j })) };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function timeStoreWrites(store: Store, records: number, keys: number, batchSize: number): Promise<number> {
  await store.migrate();
  const batches: Row[][] = [];
  for (let start = 0; start < records; start += batchSize) {
    const rows: Row[] = [];
    for (let j = start; j < Math.min(records, start + batchSize); j++) rows.push(decodeRecord(TOPICS.userActivityCounts, activity(j, keys).value, T + j).row);
    batches.push(rows);
  }
  const started = performance.now();
  let offset = 0;
  for (const rows of batches) {
    offset += rows.length;
    await store.write({ rows: { userActivity: rows }, offsets: [{ topic: TOPICS.userActivityCounts, partition: 0, nextOffset: offset }] });
  }
  return Math.round(records / ((performance.now() - started) / 1000));
}

async function timeSink(config: PulseConfig, store: Store, records: number): Promise<number> {
  const sink = new Sink(config, store, { log: { info() {}, warn() {}, error() {} } });
  // Timed from the assignment on: topic checks, migration and metadata are start-up, not throughput.
  await sink.start();
  const started = performance.now();
  while (sink.progress().records < records) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const rate = Math.round(records / ((performance.now() - started) / 1000));
  await sink.stop();
  return rate;
}

/**
 * Rows/s into DuckDB and into PostgreSQL: Store.write alone, and the whole sink from a fresh broker's
 * topic; each the median of `runs` runs on a fresh store.
 */
export async function runSinkBench(o: SinkBenchOptions): Promise<SinkBenchResult> {
  const startedAt = new Date().toISOString();
  const loadAtStart = loadavg()[0]!;
  const batchSize = o.config.sink.batchSize;
  const broker = await benchBroker(o);
  const config: PulseConfig = { ...o.config, kafka: { ...o.config.kafka, bootstrapServers: broker.bootstrap } };
  const work = join(o.dataDir, 'stores');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const local = o.databaseUrl === undefined ? await startLocalPostgres(join(work, 'pg')) : null;
  try {
    await ensureTopics(config, TOPIC_SPECS.filter((t) => t.name === TOPICS.userActivityCounts));
    o.log(`producing ${o.records.toLocaleString('en-US')} user-activity-counts records (${o.keys.toLocaleString('en-US')} keys)`);
    const producer = await TrackedProducer.connect(producerConfig(config, 'bench-sink', { 'acks': -1, 'linger.ms': 20, 'batch.size': 1_000_000 } as never));
    for (let j = 0; j < o.records; j++) {
      const r = activity(j, o.keys);
      while (!producer.produce(TOPICS.userActivityCounts, null, r.value, r.key)) await new Promise((res) => setTimeout(res, 1));
    }
    await producer.flush();
    await producer.close();

    const versions = { duckdb: '', postgres: '' };
    const figures = { duckdb: { storeRuns: [] as number[], sinkRuns: [] as number[] }, postgres: { storeRuns: [] as number[], sinkRuns: [] as number[] } };
    for (let run = 1; run <= o.runs; run++) {
      for (const kind of ['duckdb', 'postgres'] as const) {
        const open = async (name: string): Promise<Store> => {
          if (kind === 'duckdb') return DuckDbStore.open(join(work, `${name}-${run}.duckdb`), { threads: o.config.sink.duckdbThreads });
          if (local !== null) return PostgresStore.open(await local.freshDatabase(`${name}_${run}`));
          const store = await PostgresStore.open(o.databaseUrl!);
          // A given database is emptied first, so that every run starts alike.
          for (const t of ['user_activity', 'latency_histogram', 'sink_offsets', 'sink_rejects']) await store.query(`DROP TABLE IF EXISTS ${t}`, []);
          await store.query('DROP TABLE IF EXISTS schema_version', []);
          return store;
        };
        const a = await open('store');
        if (run === 1) versions[kind] = String((await a.query(kind === 'duckdb' ? 'SELECT version() AS v' : 'SHOW server_version', []))[0]?.[kind === 'duckdb' ? 'v' : 'server_version']);
        figures[kind].storeRuns.push(await timeStoreWrites(a, o.records, o.keys, batchSize));
        await a.close();
        const b = await open('sink');
        figures[kind].sinkRuns.push(await timeSink({ ...config, sink: { ...config.sink, groupId: `pulse-bench-sink-${kind}-${run}` } }, b, o.records));
        await b.close();
        o.log(`run ${run}/${o.runs} ${kind}: store ${figures[kind].storeRuns.at(-1)!.toLocaleString('en-US')} rows/s, sink ${figures[kind].sinkRuns.at(-1)!.toLocaleString('en-US')} rows/s`);
      }
    }
    const summary = (f: { storeRuns: number[]; sinkRuns: number[] }): StoreFigures => ({ storeRowsPerSec: median(f.storeRuns), sinkRowsPerSec: median(f.sinkRuns), ...f });
    return {
      scenario: 'sink',
      records: o.records,
      keys: o.keys,
      runs: o.runs,
      batchSize,
      duckdb: summary(figures.duckdb),
      postgres: { ...summary(figures.postgres), server: local !== null ? 'local throwaway cluster (fsync off)' : 'given by --database-url' },
      versions,
      loadAverage: { start: Math.round(loadAtStart * 100) / 100, end: Math.round(loadavg()[0]! * 100) / 100 },
      machine: machineInfo(),
      startedAt,
    };
  } finally {
    await local?.stop();
    rmSync(work, { recursive: true, force: true });
    await broker.stop();
  }
}
