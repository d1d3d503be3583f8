import {
  native,
  type ConsumedBatch,
  type ConsumedRun,
  type RebalanceInfo,
  type SendResult,
  type TopicPartitionOffset,
  type DeliveryFailureInfo,
  type RecordHeader,
  type TicketNews,
  type TicketCompletion,
} from './native.js';
import type { PackedBatch } from './batch.js';

export type { ConsumedBatch, ConsumedRun, RebalanceInfo, SendResult, TopicPartitionOffset, DeliveryFailureInfo, RecordHeader, TicketNews, TicketCompletion };

/** librdkafka properties; numbers and booleans are passed as their string form. */
export type KafkaSettings = Readonly<Record<string, string | number | boolean | undefined>>;

/**
 * Stable codes of errors from the native Kafka clients (crates/pulse-napi/src/kafka.rs).
 * `KAFKA_AUTHENTICATION` and `KAFKA_TLS`: the cluster refused the client's SASL credentials or its
 * certificate check failed; librdkafka would retry without end, so the client stops (docs/kafka.md).
 */
export type KafkaClientErrorCode = 'KAFKA_CLIENT' | 'KAFKA_BAD_CONFIG' | 'KAFKA_AUTHENTICATION' | 'KAFKA_TLS';

export class KafkaClientError extends Error {
  override readonly name = 'KafkaClientError';
  constructor(
    readonly code: KafkaClientErrorCode,
    message: string,
  ) {
    super(message);
  }
}

interface Refusing {
  refusal(): { code: string; reason: string } | null;
}

/** The client's refusal as an error that says what to check, or null. */
function refusalError(client: Refusing): KafkaClientError | null {
  const r = client.refusal();
  if (r === null) return null;
  return r.code === 'KAFKA_AUTHENTICATION'
    ? new KafkaClientError('KAFKA_AUTHENTICATION', `Kafka authentication failed (check kafka.saslMechanism, kafka.saslUsername, kafka.saslPassword): ${r.reason}`)
    : new KafkaClientError('KAFKA_TLS', `Kafka TLS handshake failed on the broker's certificate (check kafka.sslCaLocation and the broker's host name): ${r.reason}`);
}

/** Throws the client's refusal, if any. */
function throwIfRefused(client: Refusing): void {
  const err = refusalError(client);
  if (err !== null) throw err;
}

/** Runs a client call; any failure of a client the cluster refused is reported as that refusal. */
function guardedBy<T>(client: Refusing, f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw refusalError(client) ?? toKafkaError(err);
  }
}

async function guardedAsyncBy<T>(client: Refusing, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    throw refusalError(client) ?? toKafkaError(err);
  }
}

function toKafkaError(err: unknown): KafkaClientError {
  if (err instanceof KafkaClientError) return err;
  const code = (err as { code?: string }).code === 'KAFKA_BAD_CONFIG' ? 'KAFKA_BAD_CONFIG' : 'KAFKA_CLIENT';
  return new KafkaClientError(code, err instanceof Error ? err.message : String(err));
}

function guarded<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw toKafkaError(err);
  }
}

async function guardedAsync<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    throw toKafkaError(err);
  }
}

function toStrings(settings: KafkaSettings): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(settings)) {
    if (v === undefined) continue;
    if (typeof v === 'function' || typeof v === 'object') throw new KafkaClientError('KAFKA_BAD_CONFIG', `setting ${k} must be a string, number or boolean`);
    out[k] = String(v);
  }
  return out;
}

/** The values of one run of a batch as the engine takes them (views, no copies). */
export function runValues(batch: ConsumedBatch, run: ConsumedRun): PackedBatch {
  return { values: batch.values.subarray(run.valueStart, run.valueEnd), ends: batch.ends.subarray(run.start, run.end), times: batch.timestamps.subarray(run.start, run.end) };
}

/** The values of a whole batch as the engine takes them: the buffer itself, with each run's ends made batch-relative. */
export function batchValues(batch: ConsumedBatch): PackedBatch {
  const ends = new Uint32Array(batch.ends.length);
  for (const run of batch.runs) for (let i = run.start; i < run.end; i++) ends[i] = run.valueStart + batch.ends[i]!;
  return { values: batch.values, ends };
}

/** Value and key of record `i` of a batch (views). */
export function recordAt(batch: ConsumedBatch, run: ConsumedRun, i: number): { value: Buffer; key: Buffer } {
  const v0 = i === run.start ? 0 : batch.ends[i - 1]!;
  const k0 = i === run.start ? 0 : batch.keyEnds[i - 1]!;
  return {
    value: batch.values.subarray(run.valueStart + v0, run.valueStart + batch.ends[i]!),
    key: batch.keys.subarray(run.keyStart + k0, run.keyStart + batch.keyEnds[i]!),
  };
}

/**
 * A librdkafka consumer (in Rust) whose polls return whole batches as flat buffers, one run per
 * partition. Subscribed partitions start paused when assigned: take the events, restore, seek, resume.
 */
export class BatchConsumer {
  private readonly client: InstanceType<typeof native.NativeConsumer>;

  constructor(settings: KafkaSettings) {
    this.client = guarded(() => new native.NativeConsumer(toStrings(settings)));
  }

  subscribe(topics: readonly string[]): void {
    guarded(() => this.client.subscribe([...topics]));
  }

  assign(partitions: readonly TopicPartitionOffset[]): void {
    guarded(() => this.client.assign([...partitions]));
  }

  /** Names of the topics that batch runs refer to by index. */
  topics(): string[] {
    return this.client.topics();
  }

  /** Fails with `KAFKA_AUTHENTICATION` or `KAFKA_TLS` once the cluster has refused the client. */
  async poll(max: number, timeoutMs: number): Promise<ConsumedBatch> {
    const batch = await guardedAsyncBy(this.client, () => this.client.poll(max, timeoutMs));
    if (batch.runs.length === 0) throwIfRefused(this.client);
    return batch;
  }

  takeRebalanceEvents(): RebalanceInfo[] {
    return guarded(() => this.client.takeRebalanceEvents());
  }

  pause(topic: string, partitions: readonly number[]): void {
    guarded(() => this.client.pause(topic, [...partitions]));
  }

  resume(topic: string, partitions: readonly number[]): void {
    guarded(() => this.client.resume(topic, [...partitions]));
  }

  seek(topic: string, partition: number, offset: number, timeoutMs = 10_000): Promise<void> {
    return guardedAsyncBy(this.client, () => this.client.seek(topic, partition, offset, timeoutMs));
  }

  commit(offsets: readonly TopicPartitionOffset[]): void {
    guarded(() => this.client.commit([...offsets]));
  }

  /** librdkafka's latest statistics document, parsed; null before the first (`statistics.interval.ms`). */
  stats(): LibrdKafkaStats | null {
    const json = this.client.stats();
    return json === null ? null : (JSON.parse(json) as LibrdKafkaStats);
  }

  close(): Promise<void> {
    return guardedAsync(() => this.client.close());
  }
}

/** The parts of librdkafka's statistics (STATISTICS.md) Pulse reads. */
export interface LibrdKafkaStats {
  name: string;
  msg_cnt: number;
  msg_size: number;
  replyq: number;
  brokers: Record<string, { rtt?: { p50: number; p99: number }; outbuf_cnt: number }>;
  topics: Record<string, { partitions: Record<string, { hi_offset: number; consumer_lag: number; fetchq_cnt: number; committed_offset: number }> }>;
}

/**
 * Records a consumer has not processed yet: for each (topic, partition, next offset) of `positions`,
 * the high watermark in librdkafka's latest statistics less the next offset. `unknown` counts the
 * partitions the statistics do not cover yet (all of them before the first report).
 */
export function lagFromStats(stats: LibrdKafkaStats | null, positions: Iterable<readonly [topic: string, partition: number, nextOffset: number]>): { lag: number; unknown: number } {
  let lag = 0;
  let unknown = 0;
  for (const [topic, partition, next] of positions) {
    const high = stats?.topics[topic]?.partitions[String(partition)]?.hi_offset ?? -1;
    if (high < 0) unknown++;
    else lag += Math.max(0, high - next);
  }
  return { lag, unknown };
}

/**
 * A librdkafka producer (in Rust) that sends packed records and counts their delivery reports itself.
 * Records are grouped in epochs: `closeEpoch()` ends one, `settled(epoch)` waits for its reports.
 */
export class BatchProducer {
  private readonly client: InstanceType<typeof native.NativeProducer>;

  constructor(settings: KafkaSettings) {
    this.client = guarded(() => new native.NativeProducer(toStrings(settings)));
  }

  /** The topic of each engine output kind, for `sendOutputs`. */
  routeOutputs(topicsByKind: Readonly<Record<number, string>>): void {
    const routes: (string | null)[] = [];
    for (const [kind, topic] of Object.entries(topicsByKind)) routes[Number(kind)] = topic;
    this.client.routeOutputs(Array.from(routes, (t) => t ?? null));
  }

  /** One record; false when librdkafka's queue is full (nothing was queued). */
  send(topic: string, partition: number | null, key: Buffer | null, value: Buffer | null, headers?: RecordHeader[]): boolean {
    return guardedBy(this.client, () => this.client.send(topic, partition, key, value, headers));
  }

  /** Records `from…` of a packed batch, partitioned by key; stops early when the queue is full. */
  sendPacked(topic: string, values: Buffer, ends: Uint32Array, keys: Buffer, keyEnds: Uint32Array, from = 0): SendResult {
    return guarded(() => this.client.sendPacked(topic, values, ends, keys, keyEnds, from));
  }

  /** The engine's packed outputs from byte `from`; stops early when the queue is full. */
  sendOutputs(packed: Buffer, from = 0): SendResult {
    return guarded(() => this.client.sendOutputs(packed, from));
  }

  /**
   * Record `index` of `ticket` (say, one HTTP request), partitioned by key; false when the queue is
   * full. The ticket's answers come back together from `waitTickets` once all its records have one.
   */
  sendTicketed(ticket: number, index: number, topic: string, key: Buffer, value: Buffer): boolean {
    return guarded(() => this.client.sendTicketed(ticket, index, topic, key, value));
  }

  /**
   * The records of `packed` (engine output format) that start at `starts`, as records 0, 1, … of
   * `ticket`, each to the topic its kind is routed to; returns how many were queued before the queue
   * was full. Their answers come back from `waitTickets`, as for `sendTicketed`.
   */
  sendTicketedOutputs(ticket: number, packed: Buffer, starts: Uint32Array): number {
    return guarded(() => this.client.sendTicketedOutputs(ticket, packed, starts));
  }

  /** Completed tickets since the last call (waiting up to `timeoutMs` for one), and broker-down news. */
  waitTickets(timeoutMs: number): Promise<TicketNews> {
    return guardedAsyncBy(this.client, () => this.client.waitTickets(timeoutMs));
  }

  /**
   * Whether the cluster answers a metadata request for `topic` within `timeoutMs`; fails with
   * `KAFKA_AUTHENTICATION` or `KAFKA_TLS` when it refuses the client.
   */
  async probe(topic: string, timeoutMs: number): Promise<boolean> {
    const up = await guardedAsyncBy(this.client, () => this.client.probe(topic, timeoutMs));
    if (!up) throwIfRefused(this.client);
    return up;
  }

  closeEpoch(): number {
    return this.client.closeEpoch();
  }

  isSettled(epoch: number): boolean {
    return this.client.isSettled(epoch);
  }

  /**
   * Resolves once every record up to `epoch` has been reported (delivered or failed); fails once the
   * cluster has refused the client, whose records would otherwise wait for their timeout.
   */
  async settled(epoch: number): Promise<void> {
    while (!(await this.client.waitSettled(epoch, 1000))) throwIfRefused(this.client);
  }

  counts(): { delivered: number; failed: number; outstanding: number } {
    return this.client.counts();
  }

  takeFailures(): DeliveryFailureInfo[] {
    return this.client.takeFailures();
  }

  stats(): LibrdKafkaStats | null {
    const json = this.client.stats();
    return json === null ? null : (JSON.parse(json) as LibrdKafkaStats);
  }

  flush(timeoutMs = 30_000): Promise<void> {
    return guardedAsyncBy(this.client, () => this.client.flush(timeoutMs));
  }
}

/**
 * The effective configuration of `topics` (explicit values and the broker defaults they inherit),
 * through librdkafka's admin API with the connection properties in `settings`, by topic name; topics
 * that do not exist are left out. The admin client does not hear of a refused login: check the
 * connection first.
 */
export async function describeTopicConfigs(settings: KafkaSettings, topics: readonly string[], timeoutMs: number): Promise<Map<string, Record<string, string | null>>> {
  const found = await guardedAsync(() => native.describeTopicConfigs(toStrings(settings), [...topics], timeoutMs));
  return new Map(found.map((t) => [t.topic, Object.fromEntries(t.entries.map((e) => [e.name, e.value ?? null]))]));
}

export function librdkafkaVersion(): string {
  return native.librdkafkaVersion();
}
