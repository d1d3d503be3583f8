import { createRequire } from 'node:module';
import type { PulseConfig } from '@pulse/config';
import type * as RdKafkaTypes from '@confluentinc/kafka-javascript';

// The client is CommonJS; load it once through require so that its native binding is shared.
const require = createRequire(import.meta.url);
export const RdKafka = require('@confluentinc/kafka-javascript') as typeof RdKafkaTypes;

export type Producer = RdKafkaTypes.Producer;
export type KafkaConsumer = RdKafkaTypes.KafkaConsumer;
export type Message = RdKafkaTypes.Message;
export type LibrdKafkaError = RdKafkaTypes.LibrdKafkaError;
export type ProducerGlobalConfig = RdKafkaTypes.ProducerGlobalConfig;
export type ConsumerGlobalConfig = RdKafkaTypes.ConsumerGlobalConfig;

/**
 * librdkafka's default partitioner hashes keys with CRC32; Java clients use murmur2. Pulse uses murmur2
 * everywhere so that a key lands on the same partition whichever client wrote it.
 */
export const PARTITIONER = 'murmur2_random';

/**
 * The librdkafka properties that reach a cluster: bootstrap servers, security protocol, SASL and TLS
 * (docs/kafka.md). Every Kafka client of Pulse, native or JavaScript, starts from these.
 */
export function connectionConfig(config: PulseConfig): Record<string, string> {
  const k = config.kafka;
  const out: Record<string, string> = { 'bootstrap.servers': k.bootstrapServers, 'security.protocol': k.securityProtocol.toLowerCase() };
  if (k.securityProtocol.startsWith('SASL_')) {
    out['sasl.mechanisms'] = k.saslMechanism;
    out['sasl.username'] = k.saslUsername;
    out['sasl.password'] = k.saslPassword;
  }
  if (k.securityProtocol.endsWith('SSL')) {
    if (k.sslCaLocation !== '') out['ssl.ca.location'] = k.sslCaLocation;
    if (k.sslCertificateLocation !== '') out['ssl.certificate.location'] = k.sslCertificateLocation;
    if (k.sslKeyLocation !== '') out['ssl.key.location'] = k.sslKeyLocation;
    if (k.sslKeyPassword !== '') out['ssl.key.password'] = k.sslKeyPassword;
    if (k.sslKeystoreLocation !== '') out['ssl.keystore.location'] = k.sslKeystoreLocation;
    if (k.sslKeystorePassword !== '') out['ssl.keystore.password'] = k.sslKeystorePassword;
    out['ssl.endpoint.identification.algorithm'] = k.sslEndpointIdentification;
  }
  return out;
}

/**
 * The connection settings as a Java client's properties, for Kafka's own tools (ProducerPerformance in
 * the benchmarks): the JAAS line for SASL, the CA as a PEM truststore, a PKCS#12 keystore for mutual TLS.
 * Java clients read no PEM key pair from separate files, so that form of mutual TLS is refused.
 */
export function javaConnectionProperties(config: PulseConfig): Record<string, string> {
  const k = config.kafka;
  const out: Record<string, string> = { 'bootstrap.servers': k.bootstrapServers, 'security.protocol': k.securityProtocol };
  if (k.securityProtocol.startsWith('SASL_')) {
    const module = k.saslMechanism === 'PLAIN' ? 'org.apache.kafka.common.security.plain.PlainLoginModule' : 'org.apache.kafka.common.security.scram.ScramLoginModule';
    const quote = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
    out['sasl.mechanism'] = k.saslMechanism;
    out['sasl.jaas.config'] = `${module} required username=${quote(k.saslUsername)} password=${quote(k.saslPassword)};`;
  }
  if (k.securityProtocol.endsWith('SSL')) {
    if (k.sslCaLocation !== '') Object.assign(out, { 'ssl.truststore.type': 'PEM', 'ssl.truststore.location': k.sslCaLocation });
    if (k.sslCertificateLocation !== '') throw new Error("Kafka's Java tools take a client certificate as a PKCS#12 keystore (kafka.sslKeystoreLocation), not as PEM files");
    if (k.sslKeystoreLocation !== '') Object.assign(out, { 'ssl.keystore.type': 'PKCS12', 'ssl.keystore.location': k.sslKeystoreLocation, 'ssl.keystore.password': k.sslKeystorePassword });
    out['ssl.endpoint.identification.algorithm'] = k.sslEndpointIdentification === 'https' ? 'https' : '';
  }
  return out;
}

/**
 * The producer settings of the load generator and collectors: the spec's batching and compression,
 * overridable by configuration. With acks=all (the default) the producer is idempotent, so a retry
 * after a lost acknowledgement (a broker failing over) neither duplicates nor reorders records; with the
 * spec's acks=1 it cannot be (librdkafka requires acks=all for idempotence).
 */
export function producerConfig(config: PulseConfig, clientId: string, overrides: ProducerGlobalConfig = {}): ProducerGlobalConfig {
  const all = config.producer.acks === 'all' || config.producer.acks === '-1';
  // `acks` is a topic-level property; librdkafka takes it in the global configuration as the default.
  return {
    ...connectionConfig(config),
    'client.id': `${config.kafka.clientId}-${clientId}`,
    'batch.size': config.producer.batchSize,
    'linger.ms': config.producer.lingerMs,
    'compression.type': config.producer.compression as ProducerGlobalConfig['compression.type'],
    'acks': all ? -1 : Number(config.producer.acks),
    'enable.idempotence': all,
    'partitioner': PARTITIONER,
    ...overrides,
  } as ProducerGlobalConfig;
}

/**
 * How long librdkafka waits before fetching a partition again once its local queue holds
 * queued.min.messages (100 000) records. Every partition's queue is the consumer's one queue, so a
 * consumer 100 000 records behind stops fetching them all; with the default 1 s it then drains its
 * queue, idles until the next fetch, and stays about a second behind for as long as the backlog lasts,
 * with CPU to spare (state latency ~0.8 s at 120 000 events/s with the aggregator at 35% of a core).
 * A short backoff lets it catch up at full speed; the queue stays bounded by the same thresholds.
 */
const FETCH_QUEUE_BACKOFF_MS = 10;

export function consumerConfig(config: PulseConfig, clientId: string, groupId: string, overrides: ConsumerGlobalConfig = {}): ConsumerGlobalConfig {
  return {
    ...connectionConfig(config),
    'client.id': `${config.kafka.clientId}-${clientId}`,
    'group.id': groupId,
    'enable.auto.commit': false,
    'auto.offset.reset': 'earliest',
    'fetch.queue.backoff.ms': FETCH_QUEUE_BACKOFF_MS,
    ...overrides,
  } as ConsumerGlobalConfig;
}

/** Wraps a node-style callback API in a promise. */
export function promisify<T>(fn: (cb: (err: LibrdKafkaError | null | undefined, value: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    fn((err, value) => {
      if (err) reject(toError(err));
      else resolve(value);
    });
  });
}

/** A librdkafka error as a real Error, keeping its numeric code. */
export function toError(err: LibrdKafkaError | Error): Error {
  if (err instanceof Error) return err;
  return Object.assign(new Error(err.message), { code: err.code, origin: err.origin, isRetriable: err.isRetriable });
}
