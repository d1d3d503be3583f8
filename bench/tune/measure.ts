import type { PulseConfig } from '@pulse/config';
import { RdKafka, connectClient, connectionConfig, ensureTopics, producerConfig, promisify, toError, type LibrdKafkaError, type ProducerGlobalConfig } from '@pulse/kafka';
import { median } from '../lib/stats.js';

/** A topic of the tuner's own for its round trips, so that no probe record reaches the pipeline's topics. */
export const PROBE_TOPIC = 'pulse-tune-probe';

export interface RoundTrips {
  /** Produce round trips: one record at a time (linger 0), produce call → delivery report, ms. */
  produceMs: { median: number; p90: number; samples: number };
  /** Metadata requests for one topic, call → answer, ms. */
  metadataMs: { median: number; samples: number };
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

/**
 * Measures the round-trip time to the cluster with the project's producer settings (acks included)
 * except that nothing lingers: the fixed cost of one produce request that the spec's batch formula
 * weighs against holding events back.
 */
export async function measureRoundTrips(config: PulseConfig, samples = 50, overrides: ProducerGlobalConfig = {}): Promise<RoundTrips> {
  if (!Number.isInteger(samples) || samples < 1) throw new RangeError(`samples must be a positive whole number, got ${samples}`);
  await ensureTopics(config, [{ name: PROBE_TOPIC, partitions: 1, config: { 'retention.ms': '600000' }, doc: 'round-trip probes of pulse tune' }]);
  const producer = new RdKafka.Producer({ ...producerConfig(config, 'tune', overrides), 'linger.ms': 0, dr_cb: true } as ProducerGlobalConfig);
  await connectClient(producer);
  producer.setPollInBackground(true);
  try {
    let pending: ((err: Error | null) => void) | undefined;
    producer.on('delivery-report', (err: LibrdKafkaError | null | undefined) => pending?.(err ? toError(err) : null));
    const value = Buffer.alloc(230, 'x');
    const produce: number[] = [];
    // The first round trips open connections and fetch metadata: warm up before measuring.
    for (let i = -5; i < samples; i++) {
      const start = performance.now();
      await new Promise<void>((resolve, reject) => {
        pending = (err) => (err ? reject(err) : resolve());
        producer.produce(PROBE_TOPIC, 0, value, null);
      });
      if (i >= 0) produce.push(performance.now() - start);
    }
    const metadata: number[] = [];
    for (let i = 0; i < Math.min(samples, 20); i++) {
      const start = performance.now();
      await promisify<unknown>((cb) => producer.getMetadata({ topic: PROBE_TOPIC, timeout: 10_000 }, cb as never));
      metadata.push(performance.now() - start);
    }
    const sorted = [...produce].sort((a, b) => a - b);
    const round = (n: number) => Math.round(n * 1000) / 1000;
    return {
      produceMs: { median: round(median(produce)), p90: round(quantile(sorted, 0.9)), samples: produce.length },
      metadataMs: { median: round(median(metadata)), samples: metadata.length },
    };
  } finally {
    await promisify<unknown>((cb) => producer.disconnect(cb as never)).catch(() => {});
  }
}

export interface TopicRate {
  topic: string;
  partitions: number;
  /** Records appended per second over the window, all partitions together. */
  ratePerSec: number;
  windowSec: number;
}

type MetadataClient = InstanceType<typeof RdKafka.KafkaConsumer>;

/** A consumer that joins no group: only for metadata and watermark queries. */
async function withMetadataClient<T>(config: PulseConfig, fn: (client: MetadataClient) => Promise<T>): Promise<T> {
  const client = new RdKafka.KafkaConsumer({ ...connectionConfig(config), 'group.id': 'pulse-tune', 'client.id': `${config.kafka.clientId}-tune` }, {});
  await connectClient(client);
  try {
    return await fn(client);
  } finally {
    await promisify<unknown>((cb) => client.disconnect(cb as never)).catch(() => {});
  }
}

async function partitionsOf(client: MetadataClient, config: PulseConfig, topic: string): Promise<number> {
  const metadata = await promisify<{ topics: { name: string; partitions: unknown[] }[] }>((cb) => client.getMetadata({ topic, timeout: 10_000 }, cb as never));
  const partitions = metadata.topics.find((t) => t.name === topic)?.partitions.length ?? 0;
  if (partitions === 0) throw new Error(`topic ${topic} does not exist on ${config.kafka.bootstrapServers}`);
  return partitions;
}

/** The partition count of a topic, from the cluster's metadata. */
export function topicPartitions(config: PulseConfig, topic: string): Promise<number> {
  return withMetadataClient(config, (client) => partitionsOf(client, config, topic));
}

/** Measures a topic's event rate from the growth of its partitions' high watermarks over `windowSec`. */
export function measureTopicRate(config: PulseConfig, topic: string, windowSec: number): Promise<TopicRate> {
  if (!(windowSec > 0)) return Promise.reject(new RangeError(`windowSec must be positive, got ${windowSec}`));
  return withMetadataClient(config, async (client) => {
    const partitions = await partitionsOf(client, config, topic);
    const total = async () => {
      let sum = 0;
      for (let p = 0; p < partitions; p++) {
        const w = await promisify<{ highOffset: number }>((cb) => client.queryWatermarkOffsets(topic, p, 10_000, cb as never));
        sum += w.highOffset;
      }
      return { sum, at: performance.now() };
    };
    const first = await total();
    await new Promise((r) => setTimeout(r, windowSec * 1000));
    const last = await total();
    const seconds = (last.at - first.at) / 1000;
    return { topic, partitions, ratePerSec: Math.round((last.sum - first.sum) / seconds), windowSec: Math.round(seconds * 10) / 10 };
  });
}
