import type { PulseConfig } from '@pulse/config';
import { describeTopicConfigs as describeNative } from '@pulse/engine';
import type * as RdKafkaTypes from '@confluentinc/kafka-javascript';
import { RdKafka, connectionConfig, promisify, toError, type LibrdKafkaError } from './clients.js';
import { KafkaRefusedError, refusalInLog } from './refusal.js';
import { TOPIC_SPECS, type TopicSpec } from './topics.js';

export type AdminClient = RdKafkaTypes.IAdminClient;

/** Broker error codes (Kafka protocol) that admin calls expect. */
const UNKNOWN_TOPIC_OR_PARTITION = 3;
const TOPIC_ALREADY_EXISTS = 36;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A node-rdkafka-style admin client; its `connect` is synchronous and reaches no broker yet. */
export function createAdminClient(config: PulseConfig, clientId = 'admin'): AdminClient {
  return RdKafka.AdminClient.create({
    ...connectionConfig(config),
    'client.id': `${config.kafka.clientId}-${clientId}`,
  } as RdKafkaTypes.GlobalConfig);
}

async function withAdmin<T>(config: PulseConfig, fn: (admin: AdminClient) => Promise<T>): Promise<T> {
  const admin = createAdminClient(config);
  try {
    return await fn(admin);
  } finally {
    admin.disconnect();
  }
}

export interface BrokerInfo {
  readonly id: number;
  readonly host: string;
  readonly port: number;
}

export interface WaitForBrokerOptions {
  /** Stops waiting (rejecting) when aborted. */
  signal?: AbortSignal;
  /** Broker ids that must be among the listed brokers (a restarted node has rejoined). */
  requireIds?: readonly number[];
}

/** Where to reach a cluster: a bootstrap list (plaintext), or librdkafka connection properties (`connectionConfig`). */
export type KafkaTarget = string | Readonly<Record<string, string>>;

function targetSettings(target: KafkaTarget): Record<string, string> {
  return typeof target === 'string' ? { 'bootstrap.servers': target } : { ...target };
}

/**
 * Waits until a metadata request to `target` lists at least `expectedBrokers` brokers. A broker is
 * listed once it has registered with the controller and is unfenced, i.e. ready for clients. Each
 * attempt uses a fresh client so that librdkafka's reconnect backoff never delays noticing a broker
 * that just came up. A refused login or an untrusted certificate fails at once: waiting cannot fix it.
 */
export async function waitForBroker(target: KafkaTarget, expectedBrokers = 1, timeoutMs = 30_000, options: WaitForBrokerOptions = {}): Promise<BrokerInfo[]> {
  const settings = targetSettings(target);
  const bootstrap = settings['bootstrap.servers'];
  const deadline = Date.now() + timeoutMs;
  const requireIds = options.requireIds ?? [];
  let last = 'no answer yet';
  for (;;) {
    if (options.signal?.aborted) throw new Error(`stopped waiting for Kafka at ${bootstrap}`);
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      const want = requireIds.length > 0 ? `broker${requireIds.length > 1 ? 's' : ''} ${requireIds.join(', ')}` : `${expectedBrokers} broker${expectedBrokers > 1 ? 's' : ''}`;
      throw new Error(`Kafka at ${bootstrap} did not list ${want} within ${(timeoutMs / 1000).toFixed(0)} s (last: ${last})`);
    }
    try {
      const brokers = await fetchBrokers(settings, Math.min(remaining, 5_000));
      if (brokers.length >= expectedBrokers && requireIds.every((id) => brokers.some((b) => b.id === id))) return brokers;
      last = `metadata listed broker${brokers.length === 1 ? '' : 's'} ${brokers.map((b) => b.id).join(', ') || 'none'}`;
    } catch (err) {
      if (err instanceof KafkaRefusedError) throw err;
      last = (err as Error).message;
    }
    await sleep(Math.min(250, Math.max(0, deadline - Date.now())));
  }
}

async function fetchBrokers(settings: Record<string, string>, timeoutMs: number): Promise<BrokerInfo[]> {
  // Errors only, as events (never printed): connection refused is the expected answer while a broker
  // starts; a refused login or certificate ends the wait.
  const client = new RdKafka.Producer({ ...settings, 'client.id': 'pulse-wait-for-broker', 'log_level': 3 } as RdKafkaTypes.ProducerGlobalConfig);
  let refused: ((err: Error) => void) | undefined;
  const refusal = new Promise<never>((_, reject) => (refused = reject));
  refusal.catch(() => {});
  client.on('event.log', (line: { message: string }) => {
    const r = refusalInLog(line.message);
    if (r !== null) refused!(r);
  });
  try {
    const metadata = await Promise.race([promisify<RdKafkaTypes.Metadata>((cb) => client.connect({ timeout: timeoutMs, allTopics: false }, cb as never)), refusal]);
    return metadata.brokers.map((b) => ({ id: b.id, host: b.host, port: b.port }));
  } finally {
    if (client.isConnected()) await promisify<unknown>((cb) => client.disconnect(cb as never)).catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------------
// Topic creation and validation

/** An existing topic whose partitions, replication or configuration differ from its specification. */
export interface TopicMismatch {
  readonly topic: string;
  /** `partitions`, `replication.factor`, or a topic configuration key such as `retention.ms`. */
  readonly setting: string;
  readonly expected: string;
  readonly actual: string;
}

/** Where an expected value comes from, for the error message. */
const SOURCE: Record<string, string> = {
  'replication.factor': 'configuration kafka.replicationFactor',
  'min.insync.replicas': 'configuration kafka.minInsyncReplicas',
};

export class TopicMismatchError extends Error {
  override readonly name = 'TopicMismatchError';
  constructor(readonly mismatches: readonly TopicMismatch[]) {
    super(
      [
        `existing Kafka topic${new Set(mismatches.map((m) => m.topic)).size > 1 ? 's do' : ' does'} not match the specification:`,
        ...mismatches.map((m) => `  ${m.topic}: ${m.setting} is ${m.actual}, expected ${m.expected}${SOURCE[m.setting] ? ` (${SOURCE[m.setting]})` : ''}`),
        'Existing topics are checked, never altered. If the configuration is wrong, fix it; otherwise delete and',
        'recreate the topics (their data is lost), e.g. `pulse kafka start --fresh` for the local broker.',
      ].join('\n'),
    );
  }
}

export interface TopicReport {
  readonly name: string;
  readonly partitions: number;
  readonly replicationFactor: number;
  /** The configuration Pulse requires of the topic (spec entries, cleanup.policy, min.insync.replicas). */
  readonly config: Readonly<Record<string, string>>;
  readonly status: 'created' | 'exists';
}

export interface EnsureTopicsResult {
  readonly created: readonly string[];
  readonly existing: readonly string[];
  readonly topics: readonly TopicReport[];
  /** Checks that could not be made (the configuration of existing topics could not be read). */
  readonly warnings: readonly string[];
}

export interface EnsureTopicsOptions {
  /** Overall budget, including waiting for the broker to answer; default 30 s. */
  timeoutMs?: number;
}

/** Replicas of a topic when configuration leaves it to the cluster (kafka.replicationFactor 0). */
export const MAX_AUTO_REPLICATION = 3;

/**
 * The replication factor of a topic Pulse creates on a cluster of `brokers` live brokers: configured,
 * or one replica per broker up to MAX_AUTO_REPLICATION (docs/kafka.md, "Replication").
 */
export function replicationFor(config: PulseConfig, brokers: number): number {
  return config.kafka.replicationFactor > 0 ? config.kafka.replicationFactor : Math.max(1, Math.min(MAX_AUTO_REPLICATION, brokers));
}

/**
 * min.insync.replicas of a topic with `replicationFactor` replicas: configured, or 2 from 3 replicas up,
 * so that an acks=all write survives a broker failure and the topic stays writable through one.
 */
export function minInsyncFor(config: PulseConfig, replicationFactor: number): number {
  return config.kafka.minInsyncReplicas > 0 ? config.kafka.minInsyncReplicas : replicationFactor >= 3 ? 2 : 1;
}

/** The topic-level configuration a spec requires of a topic with `replicationFactor` replicas. */
export function requiredTopicConfig(config: PulseConfig, spec: TopicSpec, replicationFactor: number): Record<string, string> {
  return { 'cleanup.policy': 'delete', ...spec.config, 'min.insync.replicas': String(minInsyncFor(config, replicationFactor)) };
}

/**
 * Creates the topics that do not exist, with their partitions, the configured replication factor and
 * min.insync.replicas, and the spec's configuration. Topics that exist are checked, not altered: a
 * different partition count, replication factor or configuration value fails with a TopicMismatchError
 * naming each topic, setting, expected and actual value, before anything is created. Safe to run
 * concurrently from several processes.
 */
export async function ensureTopics(config: PulseConfig, specs: readonly TopicSpec[] = TOPIC_SPECS, options: EnsureTopicsOptions = {}): Promise<EnsureTopicsResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  const bootstrap = config.kafka.bootstrapServers;
  let brokers: BrokerInfo[];
  try {
    brokers = await waitForBroker(connectionConfig(config), 1, Math.min(timeoutMs, 15_000));
  } catch (err) {
    if (err instanceof KafkaRefusedError) throw err;
    throw new Error(`cannot reach Kafka at ${bootstrap} (is it running? \`pnpm pulse kafka start\` starts a local one): ${(err as Error).message}`);
  }
  const warnings: string[] = [];
  const replicationFactor = replicationFor(config, brokers.length);
  return withAdmin(config, async (admin) => {
    const names = specs.map((s) => s.name);
    const existing = await describeExisting(admin, names, timeoutMs);
    await validate(config, specs.filter((s) => existing.has(s.name)), existing, warnings);

    const created: string[] = [];
    const raced: TopicSpec[] = [];
    for (const spec of specs.filter((s) => !existing.has(s.name))) {
      const topic: RdKafkaTypes.NewTopic = {
        topic: spec.name,
        num_partitions: spec.partitions,
        replication_factor: replicationFactor,
        config: requiredTopicConfig(config, spec, replicationFactor) as RdKafkaTypes.NewTopic['config'],
      };
      try {
        await promisify<void>((cb) => admin.createTopic(topic, Math.max(1_000, deadline - Date.now()), cb as never));
        created.push(spec.name);
      } catch (err) {
        // Another process created it between our describe and create: check it like any existing topic.
        if ((err as { code?: number }).code === TOPIC_ALREADY_EXISTS) raced.push(spec);
        else throw new Error(`creating topic ${spec.name} (${spec.partitions} partitions, replication factor ${replicationFactor}) failed: ${(err as Error).message}`);
      }
    }
    if (raced.length > 0) {
      // The other creator's topic may not be in this broker's metadata yet: wait until it is.
      let missing = raced.map((s) => s.name);
      while (missing.length > 0) {
        for (const [name, d] of await describeExisting(admin, missing, timeoutMs)) existing.set(name, d);
        missing = missing.filter((name) => !existing.has(name));
        if (missing.length === 0) break;
        if (Date.now() >= deadline) throw new Error(`topics ${missing.join(', ')} exist (another process created them) but their metadata did not arrive`);
        await sleep(100);
      }
      await validate(config, raced, existing, warnings);
    }
    // Creation returns when the controller accepted it; wait until every partition has a leader that
    // serves requests, so that a client started right after sees neither "unknown topic" nor
    // "not leader".
    await waitForLeaders(admin, created, Math.max(1_000, deadline - Date.now()));
    for (const name of created) {
      const spec = specs.find((s) => s.name === name)!;
      await listOffsets(admin, name, [...Array(spec.partitions).keys()], RdKafka.OffsetSpec.LATEST, false, Math.max(deadline, Date.now() + 1_000));
    }

    const topics = specs.map((spec): TopicReport => {
      const isNew = created.includes(spec.name);
      const d = existing.get(spec.name);
      const rf = isNew ? replicationFactor : (d!.partitions[0]?.replicas.length ?? 0);
      return {
        name: spec.name,
        partitions: isNew ? spec.partitions : d!.partitions.length,
        replicationFactor: rf,
        config: requiredTopicConfig(config, spec, rf),
        status: isNew ? 'created' : 'exists',
      };
    });
    return { created, existing: topics.filter((t) => t.status === 'exists').map((t) => t.name), topics, warnings };
  });
}

async function describeExisting(admin: AdminClient, names: readonly string[], timeoutMs: number): Promise<Map<string, RdKafkaTypes.TopicDescription>> {
  const found = new Map<string, RdKafkaTypes.TopicDescription>();
  if (names.length === 0) return found;
  const descriptions = await promisify<RdKafkaTypes.TopicDescription[]>((cb) => admin.describeTopics([...names], { timeout: Math.min(timeoutMs, 30_000) }, cb as never));
  for (const d of descriptions) {
    if (d.error === undefined || d.error === null) found.set(d.name, d);
    else if (d.error.code !== UNKNOWN_TOPIC_OR_PARTITION) throw new Error(`describing topic ${d.name} failed: ${d.error.message}`);
  }
  return found;
}

async function validate(config: PulseConfig, specs: readonly TopicSpec[], existing: Map<string, RdKafkaTypes.TopicDescription>, warnings: string[]): Promise<void> {
  if (specs.length === 0) return;
  const mismatches: TopicMismatch[] = [];
  for (const spec of specs) {
    const d = existing.get(spec.name)!;
    if (d.partitions.length !== spec.partitions) {
      mismatches.push({ topic: spec.name, setting: 'partitions', expected: String(spec.partitions), actual: String(d.partitions.length) });
    }
    // With the replication left to the cluster, an existing topic's factor stands: a broker down for a
    // moment must not make the topics look wrong.
    const rf = d.partitions[0]?.replicas.length ?? 0;
    if (config.kafka.replicationFactor > 0 && rf !== config.kafka.replicationFactor) {
      mismatches.push({ topic: spec.name, setting: 'replication.factor', expected: String(config.kafka.replicationFactor), actual: String(rf) });
    }
  }
  const rfOf = (spec: TopicSpec): number => existing.get(spec.name)!.partitions[0]?.replicas.length ?? 0;
  const keys = [...new Set(specs.flatMap((s) => Object.keys(requiredTopicConfig(config, s, rfOf(s)))))];
  let actual: Map<string, Record<string, string | null>> | undefined;
  try {
    actual = await describeTopicConfigs(connectionConfig(config), specs.map((s) => s.name), { keys, clientId: `${config.kafka.clientId}-admin` });
  } catch (err) {
    if ((err as { code?: string }).code === 'KAFKA_AUTHENTICATION' || (err as { code?: string }).code === 'KAFKA_TLS') throw err;
    warnings.push(`could not read the configuration of existing topics, so retention and cleanup policy were not checked: ${(err as Error).message}`);
  }
  if (actual !== undefined) {
    for (const spec of specs) {
      const values = actual.get(spec.name) ?? {};
      for (const [key, expected] of Object.entries(requiredTopicConfig(config, spec, rfOf(spec)))) {
        const value = values[key];
        if (value !== undefined && value !== expected) mismatches.push({ topic: spec.name, setting: key, expected, actual: value ?? '(none)' });
      }
    }
  }
  if (mismatches.length > 0) {
    // Grouped by topic, in the order of the specs.
    const order = specs.map((s) => s.name);
    throw new TopicMismatchError([...mismatches].sort((a, b) => order.indexOf(a.topic) - order.indexOf(b.topic)));
  }
}

async function waitForLeaders(admin: AdminClient, names: readonly string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pending = [...names];
  while (pending.length > 0) {
    const found = await describeExisting(admin, pending, timeoutMs).catch(() => new Map<string, RdKafkaTypes.TopicDescription>());
    pending = pending.filter((name) => {
      const d = found.get(name);
      return d === undefined || d.partitions.length === 0 || d.partitions.some((p) => p.leader === null || p.leader === undefined || p.leader.id < 0);
    });
    if (pending.length === 0) return;
    if (Date.now() >= deadline) throw new Error(`topics created but without partition leaders after ${(timeoutMs / 1000).toFixed(0)} s: ${pending.join(', ')}`);
    await sleep(100);
  }
}

/**
 * Deletes topics (for tests), ignoring those that do not exist, and waits until they are gone so that
 * the same names can be created again at once.
 */
export async function deleteTopics(config: PulseConfig, topics: readonly string[], timeoutMs = 30_000): Promise<void> {
  if (topics.length === 0) return;
  await withAdmin(config, async (admin) => {
    for (const topic of topics) {
      try {
        await promisify<void>((cb) => admin.deleteTopic(topic, timeoutMs, cb as never));
      } catch (err) {
        if ((err as { code?: number }).code !== UNKNOWN_TOPIC_OR_PARTITION) throw new Error(`deleting topic ${topic} failed: ${(err as Error).message}`);
      }
    }
    const deadline = Date.now() + timeoutMs;
    while ((await describeExisting(admin, topics, timeoutMs)).size > 0) {
      if (Date.now() >= deadline) throw new Error(`topics still exist ${timeoutMs} ms after deletion: ${topics.join(', ')}`);
      await sleep(100);
    }
  });
}

// ---------------------------------------------------------------------------------------------------
// Partitions and offsets

export interface PartitionInfo {
  readonly partition: number;
  /** Broker id of the leader, or -1 while there is none. */
  readonly leader: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
}

/** Partitions of a topic with leader, replicas and in-sync replicas (broker ids); throws for an unknown topic. */
export async function describeTopic(config: PulseConfig, topic: string, timeoutMs = 10_000): Promise<PartitionInfo[]> {
  return withAdmin(config, (admin) => partitionsOf(admin, topic, timeoutMs));
}

/**
 * The topic's id (its UUID, in hex): Kafka gives a topic a new one when it is created again, and a topic
 * of the same name on another cluster has another, so offsets stored with it can be told apart.
 */
export async function topicId(config: PulseConfig, topic: string, timeoutMs = 10_000): Promise<string> {
  return withAdmin(config, async (admin) => {
    const { mostSignificantBits: high, leastSignificantBits: low } = (await describeOne(admin, topic, timeoutMs)).topicId;
    return `${BigInt.asUintN(64, high).toString(16).padStart(16, '0')}${BigInt.asUintN(64, low).toString(16).padStart(16, '0')}`;
  });
}

async function partitionsOf(admin: AdminClient, topic: string, timeoutMs: number): Promise<PartitionInfo[]> {
  return (await describeOne(admin, topic, timeoutMs)).partitions
    .map((p) => ({ partition: p.partition, leader: p.leader?.id ?? -1, replicas: p.replicas.map((r) => r.id), isr: p.isr.map((r) => r.id) }))
    .sort((a, b) => a.partition - b.partition);
}

async function describeOne(admin: AdminClient, topic: string, timeoutMs: number): Promise<RdKafkaTypes.TopicDescription> {
  // A topic created a moment ago (by another client) can be missing from this broker's metadata
  // for a little while: ask again briefly before calling it unknown.
  const deadline = Date.now() + Math.min(timeoutMs, 2_000);
  let d: RdKafkaTypes.TopicDescription | undefined;
  for (;;) {
    [d] = await promisify<RdKafkaTypes.TopicDescription[]>((cb) => admin.describeTopics([topic], { timeout: timeoutMs }, cb as never));
    if (d?.error?.code !== UNKNOWN_TOPIC_OR_PARTITION || Date.now() >= deadline) break;
    await sleep(100);
  }
  if (d === undefined || d.error) throw new Error(`describing topic ${topic} failed: ${d?.error?.message ?? 'no answer'}`);
  return d;
}

export interface PartitionOffsets {
  readonly partition: number;
  /** First offset still in the log. */
  readonly low: number;
  /** With `committed: false` the high watermark; with `committed: true` the last stable offset. */
  readonly high: number;
}

export interface OffsetsOptions {
  /** Read-committed end offsets (the last stable offset: transactions still open are excluded). */
  committed?: boolean;
  timeoutMs?: number;
}

/** Earliest and end offset of every partition of a topic, sorted by partition. */
export async function topicOffsets(config: PulseConfig, topic: string, options: OffsetsOptions = {}): Promise<PartitionOffsets[]> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  return withAdmin(config, async (admin) => {
    const partitions = (await partitionsOf(admin, topic, timeoutMs)).map((p) => p.partition);
    const committed = options.committed ?? false;
    const [low, high] = await Promise.all([
      listOffsets(admin, topic, partitions, RdKafka.OffsetSpec.EARLIEST, committed, deadline),
      listOffsets(admin, topic, partitions, RdKafka.OffsetSpec.LATEST, committed, deadline),
    ]);
    return partitions.map((partition, i) => ({ partition, low: low[i]!, high: high[i]! }));
  });
}

/** Errors of a partition whose leader is being elected or has just moved: asking again will do. */
const RETRIABLE_PARTITION_ERRORS = new Set([UNKNOWN_TOPIC_OR_PARTITION, 5 /* LEADER_NOT_AVAILABLE */, 6 /* NOT_LEADER_OR_FOLLOWER */, 74 /* FENCED_LEADER_EPOCH */, 75 /* UNKNOWN_LEADER_EPOCH */]);

/** One offset per partition (in the order given), retrying partitions whose leader is not ready yet. */
async function listOffsets(admin: AdminClient, topic: string, partitions: readonly number[], spec: RdKafkaTypes.OffsetSpec, committed: boolean, deadline: number): Promise<number[]> {
  const isolationLevel = committed ? RdKafka.IsolationLevel.READ_COMMITTED : RdKafka.IsolationLevel.READ_UNCOMMITTED;
  const result = new Map<number, number>();
  let todo = [...partitions];
  for (;;) {
    const answers = await promisify<RdKafkaTypes.ListOffsetsResult[]>((cb) =>
      admin.listOffsets(
        todo.map((partition) => ({ topic, partition, offset: spec })),
        { timeout: Math.max(1_000, deadline - Date.now()), isolationLevel },
        cb as never,
      ),
    );
    let lastError: string | undefined;
    for (const a of answers) {
      if (!a.error) result.set(a.partition, Number(a.offset));
      else if (RETRIABLE_PARTITION_ERRORS.has(a.error.code) || (a.error as { isRetriable?: boolean }).isRetriable) lastError = `${topic}/${a.partition}: ${a.error.message}`;
      else throw new Error(`listing offsets of ${topic}/${a.partition} failed: ${toError(a.error as LibrdKafkaError).message}`);
    }
    todo = todo.filter((p) => !result.has(p));
    if (todo.length === 0) return partitions.map((p) => result.get(p)!);
    if (Date.now() >= deadline) throw new Error(`listing offsets of ${topic} failed: ${lastError ?? `no answer for partitions ${todo.join(', ')}`}`);
    await sleep(100);
  }
}

/** High watermark of every partition of a topic, indexed by partition. */
export async function highWatermarks(config: PulseConfig, topic: string, options: OffsetsOptions = {}): Promise<number[]> {
  return (await topicOffsets(config, topic, options)).map((o) => o.high);
}

// ---------------------------------------------------------------------------------------------------
// Topic configuration

export interface DescribeConfigsOptions {
  /** Only these keys; all of the topic's configuration when omitted. */
  keys?: readonly string[];
  clientId?: string;
  timeoutMs?: number;
}

/**
 * The effective configuration of topics (explicit values and the broker defaults they inherit), by
 * topic name; topics that do not exist are left out. The JavaScript client offers no DescribeConfigs,
 * so this goes through librdkafka's admin API in the native clients, over the same connection settings
 * as every other client. A refused login or certificate fails with a KafkaRefusedError.
 */
export async function describeTopicConfigs(target: KafkaTarget, topics: readonly string[], options: DescribeConfigsOptions = {}): Promise<Map<string, Record<string, string | null>>> {
  const settings = { ...targetSettings(target), 'client.id': options.clientId ?? 'pulse-admin' };
  const timeoutMs = options.timeoutMs ?? 10_000;
  // librdkafka's admin client never hears of a refused login or certificate: a metadata request does.
  await waitForBroker(settings, 1, timeoutMs);
  const found = await describeNative(settings, topics, timeoutMs);
  if (options.keys === undefined) return found;
  const keys = options.keys;
  return new Map([...found].map(([topic, values]) => [topic, Object.fromEntries(keys.filter((k) => k in values).map((k) => [k, values[k]!]))]));
}
