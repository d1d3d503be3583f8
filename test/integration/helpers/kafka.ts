import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { loadConfig, type PulseConfig } from '../../../packages/config/src/index.js';
import { kafkaPartition } from '../../../packages/engine/src/index.js';
import { createAdminClient, ensureTopics, producerConfig, promisify, TrackedProducer, type EnsureTopicsResult, type Headers } from '../../../packages/kafka/src/index.js';

/** Bootstrap servers of the test cluster (started by global-setup.ts, or KAFKA_BOOTSTRAP_SERVERS). */
export function testBootstrap(): string {
  return inject('kafkaBootstrap');
}

/**
 * A configuration pointing at the test cluster. Only the variables given here (and replication settings
 * from the environment, for runs against an external 3-node cluster) are read, so a developer's
 * PULSE_* environment does not leak into the tests.
 */
/** Fixtures use fixed event times of 2025, older than the store's retention: a test store keeps everything. */
export const FIXTURE_ENV = { PULSE_SINK_RETENTION_DAYS: '0', PULSE_LOG_FORMAT: 'pretty' };

export function testConfig(env: NodeJS.ProcessEnv = {}): PulseConfig {
  const passThrough: NodeJS.ProcessEnv = {};
  for (const name of ['PULSE_KAFKA_REPLICATION_FACTOR', 'PULSE_KAFKA_MIN_INSYNC_REPLICAS']) {
    if (process.env[name] !== undefined) passThrough[name] = process.env[name];
  }
  return loadConfig({ env: { ...passThrough, ...FIXTURE_ENV, KAFKA_BOOTSTRAP_SERVERS: testBootstrap(), ...env } });
}

/**
 * A topic name no other test (or earlier run against the same external cluster) uses:
 * `test-<base>-<time><random>`. Tests that create topics use it so that they can run in any order.
 */
export function uniqueTopic(base: string): string {
  return `test-${base}-${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

/** Creates one topic (idempotently, through ensureTopics) with the given partitions and configuration. */
export function createTopic(config: PulseConfig, name: string, partitions: number, topicConfig: Record<string, string> = {}): Promise<EnsureTopicsResult> {
  return ensureTopics(config, [{ name, partitions, config: topicConfig, doc: 'test topic' }]);
}

export interface ProduceRecord {
  key?: string | Buffer | null;
  /** Strings and Buffers are sent as they are; anything else as JSON. */
  value: unknown;
  headers?: Record<string, string | Buffer>;
  /** Explicit partition; by default the key decides (murmur2, as every Pulse producer). */
  partition?: number;
  timestamp?: number;
}

function toBuffer(value: unknown): Buffer | null {
  if (value === null) return null;
  if (Buffer.isBuffer(value)) return value;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/**
 * Produces records with acks=all and waits until every one is acknowledged; throws if any failed.
 * Records with the same partition arrive in the order given.
 */
export async function produceRecords(config: PulseConfig, topic: string, records: readonly ProduceRecord[]): Promise<void> {
  const producer = await TrackedProducer.connect(producerConfig(config, 'test-producer', { 'acks': -1, 'linger.ms': 5 } as never));
  try {
    for (const r of records) {
      const headers: Headers | undefined = r.headers === undefined ? undefined : Object.entries(r.headers).map(([k, v]) => ({ [k]: v }));
      while (!producer.produce(topic, r.partition ?? null, toBuffer(r.value), r.key ?? null, headers, r.timestamp)) {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    }
    await producer.flush();
    await producer.drained();
    const failures = producer.takeFailures();
    if (failures.length > 0) throw new Error(`${failures.length} of ${records.length} records to ${topic} failed; first: ${failures[0]!.message}`);
  } finally {
    await producer.close();
  }
}

/**
 * The first `count` ids `${prefix}-${n}` that Kafka's default partitioner (murmur2) puts on `partition`
 * of `partitions`: the keys a fixture may produce to that partition explicitly.
 */
export function keysOn(prefix: string, partition: number, partitions: number, count: number): string[] {
  const keys: string[] = [];
  for (let n = 0; keys.length < count; n++) {
    const key = `${prefix}-${n}`;
    if (kafkaPartition(key, partitions) === partition) keys.push(key);
  }
  return keys;
}

/** Deletes a partition's records below `offset`, as retention would: the log then starts there. */
export async function deleteRecordsBefore(config: PulseConfig, topic: string, partition: number, offset: number): Promise<void> {
  const admin = createAdminClient(config, 'test-delete-records');
  try {
    await promisify<unknown>((cb) => admin.deleteRecords([{ topic, partition, offset }], { timeout: 30_000 }, cb as never));
  } finally {
    admin.disconnect();
  }
}
