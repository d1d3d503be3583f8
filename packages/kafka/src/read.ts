import { randomBytes } from 'node:crypto';
import type { PulseConfig } from '@pulse/config';
import { topicOffsets } from './admin.js';
import { connectionConfig, promisify, RdKafka, type ConsumerGlobalConfig, type KafkaConsumer, type Message } from './clients.js';
import { connectClient } from './refusal.js';

export interface ReadRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** The key as UTF-8 text (Pulse's keys are ids), or null. */
  readonly key: string | null;
  readonly keyBytes: Buffer | null;
  readonly value: Buffer | null;
  readonly timestamp: number | undefined;
  /** Header values as UTF-8 text; when a name repeats, the last value wins (see rawHeaders). */
  readonly headers: Readonly<Record<string, string>>;
  readonly rawHeaders: readonly { readonly key: string; readonly value: Buffer }[];
}

export interface ReadAllOptions {
  /** Give up (with an error saying which partitions are short) after this long; default 30 s. */
  timeoutMs?: number;
  /**
   * Read committed records only, up to the last stable offset (default true: what a Pulse consumer
   * sees; transactions still open are neither waited for nor returned). false reads up to the high
   * watermark, aborted transactions included.
   */
  committed?: boolean;
  /** Only these partitions. */
  partitions?: readonly number[];
}

/**
 * Every record of a topic from the beginning up to its end offsets *as of the call*, sorted by
 * partition and offset. The end offsets are taken first, so records written meanwhile are not
 * returned and the result is deterministic; a partition is done when its end offset is reached (by a
 * record or by the end-of-partition event, which also covers offsets taken by transaction markers or
 * removed by compaction). Uses assign(), not a consumer group: no offsets are committed and nothing
 * rebalances.
 */
export async function readAll(config: PulseConfig, topic: string, options: ReadAllOptions = {}): Promise<ReadRecord[]> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const committed = options.committed ?? true;
  const deadline = Date.now() + timeoutMs;
  const offsets = (await topicOffsets(config, topic, { committed })).filter((o) => options.partitions === undefined || options.partitions.includes(o.partition));
  /** Partition → end offset as of the call; a partition is done once that offset is reached. */
  const ends = new Map(offsets.filter((o) => o.high > o.low).map((o) => [o.partition, o.high]));
  if (ends.size === 0) return [];
  const done = new Set<number>();

  const consumer = new RdKafka.KafkaConsumer(
    {
      ...connectionConfig(config),
      'client.id': `${config.kafka.clientId}-reader`,
      // Required by librdkafka even though assign() never joins the group.
      'group.id': `pulse-reader-${randomBytes(4).toString('hex')}`,
      'enable.auto.commit': false,
      'enable.partition.eof': true,
      'isolation.level': committed ? 'read_committed' : 'read_uncommitted',
      'fetch.wait.max.ms': 50,
    } as ConsumerGlobalConfig,
    { 'auto.offset.reset': 'earliest' },
  );
  const records: ReadRecord[] = [];
  const position = new Map<number, number>();
  // The end-of-partition event is emitted before consume() hands over the messages that precede it,
  // so it only marks the partition done; messages are still taken by their offset below.
  consumer.on('partition.eof', (eof) => {
    const end = ends.get(eof.partition);
    if (eof.topic === topic && end !== undefined && eof.offset >= end) done.add(eof.partition);
  });
  await connectClient(consumer, Math.max(1_000, deadline - Date.now()));
  try {
    consumer.setDefaultConsumeTimeout(100);
    consumer.assign(offsets.filter((o) => ends.has(o.partition)).map((o) => ({ topic, partition: o.partition, offset: o.low })));
    while (done.size < ends.size) {
      if (Date.now() > deadline) {
        const short = [...ends].filter(([p]) => !done.has(p)).map(([p, end]) => `partition ${p} at offset ${position.get(p) ?? 'none'} of end ${end}`);
        throw new Error(`readAll(${topic}): gave up after ${timeoutMs} ms with ${records.length} records; short: ${short.join(', ')}`);
      }
      const batch = await consumeBatch(consumer, 1000);
      for (const m of batch) {
        const end = ends.get(m.partition);
        if (m.topic !== topic || end === undefined || m.offset >= end) continue;
        // Never twice, should the client fetch a range again (say, after a leader change).
        if (m.offset <= (position.get(m.partition) ?? -1)) continue;
        position.set(m.partition, m.offset);
        records.push(toRecord(m));
        if (m.offset >= end - 1) done.add(m.partition);
      }
    }
  } finally {
    await promisify<unknown>((cb) => consumer.disconnect(cb as never)).catch(() => {});
  }
  return records.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}

function consumeBatch(consumer: KafkaConsumer, max: number): Promise<Message[]> {
  return new Promise((resolve, reject) => {
    consumer.consume(max, (err, messages) => (err ? reject(err) : resolve(messages ?? [])));
  });
}

function toRecord(m: Message): ReadRecord {
  const keyBytes = m.key === undefined || m.key === null ? null : Buffer.isBuffer(m.key) ? m.key : Buffer.from(String(m.key), 'utf8');
  const rawHeaders: { key: string; value: Buffer }[] = [];
  for (const header of m.headers ?? []) {
    for (const [key, value] of Object.entries(header)) rawHeaders.push({ key, value: Buffer.isBuffer(value) ? value : Buffer.from(String(value), 'utf8') });
  }
  return {
    topic: m.topic,
    partition: m.partition,
    offset: m.offset,
    key: keyBytes === null ? null : keyBytes.toString('utf8'),
    keyBytes,
    value: m.value ?? null,
    timestamp: m.timestamp,
    headers: Object.fromEntries(rawHeaders.map((h) => [h.key, h.value.toString('utf8')])),
    rawHeaders,
  };
}
