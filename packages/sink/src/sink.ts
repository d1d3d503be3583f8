import { createLogger, type Log } from '@pulse/log';
import type { PulseConfig } from '@pulse/config';
import { BatchConsumer, lagFromStats, recordAt, type ConsumedBatch, type KafkaSettings } from '@pulse/engine';
import { describeGap, recordRetentionGaps, type RetentionGap } from '@pulse/dead-letters';
import { consumerConfig, describeTopic, ensureTopics, STATS_INTERVAL_MS, TOPIC_SPECS, topicId, topicOffsets } from '@pulse/kafka';
import { LATENCY_STAGES, latencyBucket } from './latency.js';
import { decodeRecord, RecordError, SINK_TOPICS } from './records.js';
import type { Store, StoreBatch } from './store.js';
import type { Row, TableName } from './tables.js';

/** librdkafka's logical offset "beginning of the partition". */
const OFFSET_BEGINNING = -2;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Largest value kept of a record the sink refuses (the rest is cut, the reason says why). */
const MAX_REJECT_BYTES = 64 * 1024;

export interface SinkCounters {
  records: number;
  rows: number;
  rejected: number;
  transactions: number;
  writeErrors: number;
  /** Records that retention deleted before the sink read them (see start). */
  skippedRecords: number;
  /** Topics whose stored offsets belonged to another topic of the same name, and were not used. */
  foreignOffsetTopics: number;
  /** Rows deleted for being older than sink.retentionDays. */
  expiredRows: number;
}

export interface SinkProgress extends SinkCounters {
  lag: number;
  partitions: number;
  /** Duration of the last store transaction. */
  lastWriteMs: number;
}

export interface SinkOptions {
  log?: Log;
}

/**
 * Consumes the output topics into the analytics store. Every partition of every output topic is
 * assigned to this one sink (no group rebalancing) from the offset the store says it has reached; each
 * consumed batch becomes one store transaction holding the upserted rows and the new offsets together,
 * so a crash at any point resumes exactly after the last committed batch: no row is lost or written
 * twice. Offsets are also committed to Kafka under sink.groupId afterwards, for lag monitoring only.
 */
export class Sink {
  private consumer!: BatchConsumer;
  private readonly next = new Map<string, Map<number, number>>();
  private running = false;
  private loopDone: Promise<void> = Promise.resolve();
  private lastWriteMs = 0;
  private readonly log: Log;
  readonly counters: SinkCounters = { records: 0, rows: 0, rejected: 0, transactions: 0, writeErrors: 0, skippedRecords: 0, foreignOffsetTopics: 0, expiredRows: 0 };
  private expiry: NodeJS.Timeout | null = null;
  /** Topic → its Kafka topic id, stored with every offset. */
  private readonly topicIds = new Map<string, string>();

  constructor(
    private readonly config: PulseConfig,
    readonly store: Store,
    private readonly options: SinkOptions = {},
  ) {
    this.log = options.log ?? createLogger('sink', config.log);
  }

  async start(): Promise<void> {
    const topics = Object.keys(SINK_TOPICS);
    await ensureTopics(this.config, TOPIC_SPECS.filter((t) => topics.includes(t.name)));
    await this.store.migrate();
    const [stored, storedIds] = await Promise.all([this.store.committedOffsets(), this.store.storedTopicIds()]);
    // The native client: a poll is one object however many records (the records' own JSON is still
    // parsed here, one by one, to become rows).
    this.consumer = new BatchConsumer(
      consumerConfig(this.config, 'sink', this.config.sink.groupId, {
        // Fewer, fuller fetches: rows are stored sink.maxWaitMs at a time anyway. Each fetch names every
        // partition of the output topics; waiting 100 ms instead of 20 took the broker from 67–68% to
        // 64% of a core beside the whole pipeline at 10 000 events/s (`bench recs --aggregator`).
        'fetch.wait.max.ms': 100,
        'fetch.min.bytes': 65_536,
        // Also the source of the lag in progress().
        'statistics.interval.ms': Math.min(STATS_INTERVAL_MS, 1000),
      }) as KafkaSettings,
    );
    const assignment = [];
    const gaps: RetentionGap[] = [];
    let resumed = 0;
    for (const topic of topics) {
      const [partitions, id, logs] = await Promise.all([describeTopic(this.config, topic), topicId(this.config, topic), topicOffsets(this.config, topic)]);
      this.topicIds.set(topic, id);
      // Offsets written against another topic of this name (a new cluster, or the topic deleted and
      // created again) would skip that many of this topic's records: read it from the beginning.
      const ids = storedIds.get(topic);
      const foreign = ids !== undefined && (ids.size > 1 || !ids.has(id));
      if (foreign) {
        this.counters.foreignOffsetTopics++;
        this.log.warn(
          `the offsets in the store for ${topic} belong to another topic of that name (id ${[...ids].join(', ')}; now ${id}): a new cluster, or the topic was created again; reading ${topic} from the beginning`,
        );
      }
      const logStart = new Map(logs.map((o) => [o.partition, o.low]));
      const next = new Map<number, number>();
      this.next.set(topic, next);
      for (const { partition } of partitions) {
        let offset = foreign ? undefined : stored.get(topic)?.get(partition);
        if (offset !== undefined) resumed++;
        const first = logStart.get(partition) ?? 0;
        if (offset !== undefined && offset < first) {
          gaps.push({ topic, partition, from: offset, to: first });
          offset = first;
        }
        assignment.push({ topic, partition, offset: offset ?? OFFSET_BEGINNING });
        next.set(partition, offset ?? 0);
      }
    }
    for (const g of gaps) {
      this.counters.skippedRecords += g.to - g.from;
      this.log.warn(`${describeGap(g)}`);
    }
    await recordRetentionGaps(this.config, gaps, 'sink');
    await this.expireOld();
    this.expiry = setInterval(() => void this.expireOld().catch((err: Error) => this.log.warn(`deleting old windows failed: ${err.message}`)), HOUR);
    this.expiry.unref();
    this.consumer.assign(assignment);
    this.running = true;
    this.loopDone = this.loop();
    this.log.info(`reading ${topics.length} topics (${assignment.length} partitions) into ${this.store.kind} ${this.store.location}; ${resumed > 0 ? `resuming ${resumed} partitions from the offsets in the store` : 'from the beginning'}`);
  }

  /**
   * Deletes the store's windows older than sink.retentionDays (at start, then hourly), so that the
   * store does not grow for ever; returns how many rows went.
   */
  async expireOld(now = Date.now()): Promise<number> {
    const days = this.config.sink.retentionDays;
    if (days === 0) return 0;
    const deleted = await this.store.expire(now - days * DAY);
    this.counters.expiredRows += deleted;
    if (deleted > 0) this.log.info(`deleted ${deleted} rows of windows older than ${days} days (sink.retentionDays)`);
    return deleted;
  }

  /** Resolves when the sink stops; rejects if it stopped on an error. */
  done(): Promise<void> {
    return this.loopDone;
  }

  /**
   * Each store transaction gathers what arrives for up to `sink.maxWaitMs` after its first record (or
   * `sink.batchSize` records): a transaction costs the store a statement per table whatever its size,
   * so a few large ones cost far less than many small ones, and repeated updates of a key collapse.
   */
  private async loop(): Promise<void> {
    const { batchSize, maxWaitMs } = this.config.sink;
    while (this.running) {
      const first = await this.consumer.poll(batchSize, 50);
      if (first.ends.length === 0) continue;
      const gathered = [first];
      let records = first.ends.length;
      const deadline = Date.now() + maxWaitMs;
      for (let left = maxWaitMs; this.running && records < batchSize && left > 0; left = deadline - Date.now()) {
        const more = await this.consumer.poll(batchSize - records, Math.min(left, 50));
        if (more.ends.length === 0) continue;
        gathered.push(more);
        records += more.ends.length;
      }
      await this.writeUntilStored(gathered);
    }
  }

  /** A batch that the store refuses (say, PostgreSQL restarting) is retried until it is stored or the sink stops. */
  private async writeUntilStored(consumed: ConsumedBatch[]): Promise<void> {
    const now = Date.now();
    const batch = mergeBatches(consumed.map((c) => this.toBatch(c, now)));
    for (let attempt = 1; ; attempt++) {
      const started = Date.now();
      try {
        await this.store.write(batch);
        this.lastWriteMs = Date.now() - started;
        break;
      } catch (err) {
        this.counters.writeErrors++;
        if (!this.running) throw err;
        this.log.warn(`store write failed (attempt ${attempt}, retrying): ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, Math.min(5000, 200 * attempt)));
      }
    }
    for (const c of consumed) this.counters.records += c.ends.length;
    this.counters.transactions++;
    for (const o of batch.offsets) this.next.get(o.topic)?.set(o.partition, o.nextOffset);
    try {
      this.consumer.commit(batch.offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.nextOffset })));
    } catch (err) {
      // Kafka's copy of the offsets only feeds lag monitoring; the store's copy is the one resumed from.
      this.log.warn(`offset commit to Kafka failed: ${(err as Error).message}`);
    }
  }

  /** Decodes a batch into rows per table, rejects, latency buckets and the offsets it reaches. */
  private toBatch(consumed: ConsumedBatch, now: number): StoreBatch {
    const rows: Partial<Record<TableName, Row[]>> = {};
    const push = (table: TableName, row: Row) => (rows[table] ??= []).push(row);
    const offsets = new Map<string, StoreBatch['offsets'][number]>();
    const minute = now - (now % MINUTE);
    // Latency is counted here per stage and bucket: a few rows a batch rather than two a record.
    const latency = new Map<string, Map<number, number>>(Object.values(LATENCY_STAGES).map((stage) => [stage, new Map()]));
    const count = (stage: string, ms: number) => {
      const buckets = latency.get(stage)!;
      const b = latencyBucket(ms);
      buckets.set(b, (buckets.get(b) ?? 0) + 1);
    };
    const topics = this.consumer.topics();
    for (const run of consumed.runs) {
      const topic = topics[run.topic]!;
      offsets.set(`${topic}/${run.partition}`, { topic, partition: run.partition, nextOffset: consumed.offsets[run.end - 1]! + 1, topicId: this.topicIds.get(topic) });
      for (let i = run.start; i < run.end; i++) {
        // An empty value is a tombstone (or a record without one): decoded as null, refused as such.
        const { value: bytes } = recordAt(consumed, run, i);
        const value = bytes.length === 0 ? null : bytes;
        const ts = consumed.timestamps[i]!;
        try {
          const d = decodeRecord(topic, value, ts >= 0 ? ts : now);
          push(d.table, d.row);
          this.counters.rows++;
          if (d.oldestEventTs !== null) {
            if (ts >= 0) count(LATENCY_STAGES.output, ts - d.oldestEventTs);
            count(LATENCY_STAGES.stored, now - d.oldestEventTs);
          }
        } catch (err) {
          if (!(err instanceof RecordError)) throw err;
          this.counters.rejected++;
          const text = value === null ? null : value.subarray(0, MAX_REJECT_BYTES).toString('utf8').replace(/\u0000/g, '\ufffd');
          push('rejects', [topic, run.partition, consumed.offsets[i]!, err.message, text]);
        }
      }
    }
    for (const [stage, buckets] of latency) for (const [bucket, n] of buckets) push('latency', [stage, minute, bucket, n]);
    return { rows, offsets: [...offsets.values()] };
  }

  progress(): SinkProgress {
    const positions = [...this.next].flatMap(([topic, next]) => [...next].map(([p, offset]) => [topic, p, offset] as const));
    // Partitions the statistics do not cover yet (before the first fetch) count as zero.
    const { lag } = lagFromStats(this.consumer.stats(), positions);
    return { ...this.counters, lag, partitions: positions.length, lastWriteMs: this.lastWriteMs };
  }

  /** The consumer's latest librdkafka statistics (lag, fetch queues, round trips), or null before the first. */
  kafkaStats(): object | null {
    return this.consumer?.stats() ?? null;
  }

  /** Prometheus lines of the sink's own counters. */
  prometheus(): string[] {
    const p = this.progress();
    const counter = (name: string, help: string, value: number, type = 'counter') => [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`];
    return [
      ...counter('pulse_sink_records_total', 'Records the sink consumed and stored (rows and rejects).', p.records),
      ...counter('pulse_sink_rows_total', 'Rows upserted into the store.', p.rows),
      ...counter('pulse_sink_rejected_total', 'Records that did not have the contract shape (kept in sink_rejects).', p.rejected),
      ...counter('pulse_sink_transactions_total', 'Store transactions committed.', p.transactions),
      ...counter('pulse_sink_write_errors_total', 'Store transactions that failed and were retried.', p.writeErrors),
      ...counter('pulse_sink_skipped_records_total', 'Records retention deleted before the sink read them (each gap is also on dead-letters as retention_gap).', p.skippedRecords),
      ...counter('pulse_sink_expired_rows_total', 'Rows deleted for being older than sink.retentionDays.', p.expiredRows),
      ...counter('pulse_sink_foreign_offset_topics_total', 'Topics whose stored offsets belonged to another topic of the same name and were not used.', p.foreignOffsetTopics),
      ...counter('pulse_sink_lag', 'Records on the output topics not yet in the store.', p.lag, 'gauge'),
      ...counter('pulse_sink_last_write_ms', 'Duration of the last store transaction in ms.', p.lastWriteMs, 'gauge'),
    ];
  }

  /** Stops consuming after the batch in hand is stored, and leaves Kafka. The store stays open (its owner closes it). */
  async stop(): Promise<void> {
    if (this.expiry !== null) clearInterval(this.expiry);
    if (!this.running) return;
    this.running = false;
    await this.loopDone.catch(() => {});
    await this.consumer.close().catch(() => {});
  }
}

/** Store batches taken one after another as one: their rows in order, and the furthest offset of each partition. */
export function mergeBatches(batches: readonly StoreBatch[]): StoreBatch {
  if (batches.length === 1) return batches[0]!;
  const rows: Partial<Record<TableName, Row[]>> = {};
  const offsets = new Map<string, StoreBatch['offsets'][number]>();
  for (const b of batches) {
    for (const [table, list] of Object.entries(b.rows) as [TableName, Row[]][]) {
      // A loop, not push(...list): a table may get two rows a record (latency), up to 200 000 at the
      // largest sink.batchSize, more arguments than a call takes.
      const into = (rows[table] ??= []);
      for (const row of list) into.push(row);
    }
    for (const o of b.offsets) offsets.set(`${o.topic}/${o.partition}`, o);
  }
  return { rows, offsets: [...offsets.values()] };
}
