import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectionConfig, consumerConfig, javaConnectionProperties, minInsyncFor, producerConfig, replicationFor, requiredTopicConfig } from '../src/index.js';
import { loadConfig } from '../../config/src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'pulse-kafka-clients-'));
const ca = join(dir, 'ca.pem');
writeFileSync(ca, 'pem');
const noFile = join(dir, 'pulse.config.json');
writeFileSync(noFile, '{}');

describe('connectionConfig', () => {
  it('is the bootstrap list alone for a PLAINTEXT cluster', () => {
    expect(connectionConfig(loadConfig({ env: {}, file: noFile }))).toEqual({ 'bootstrap.servers': '127.0.0.1:9092', 'security.protocol': 'plaintext' });
  });

  it('carries SASL and TLS into every client, producers and consumers alike', () => {
    const config = loadConfig({
      file: noFile,
      env: {
        KAFKA_BOOTSTRAP_SERVERS: 'k1:9093',
        PULSE_KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
        PULSE_KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
        PULSE_KAFKA_SASL_USERNAME: 'pulse',
        PULSE_KAFKA_SASL_PASSWORD: 'pw',
        PULSE_KAFKA_SSL_CA_LOCATION: ca,
      },
    });
    const expected = {
      'bootstrap.servers': 'k1:9093',
      'security.protocol': 'sasl_ssl',
      'sasl.mechanisms': 'SCRAM-SHA-512',
      'sasl.username': 'pulse',
      'sasl.password': 'pw',
      'ssl.ca.location': ca,
      'ssl.endpoint.identification.algorithm': 'https',
    };
    expect(connectionConfig(config)).toEqual(expected);
    expect(producerConfig(config, 'p')).toMatchObject(expected);
    expect(consumerConfig(config, 'c', 'g')).toMatchObject(expected);
  });

  it('passes mutual-TLS files through and leaves SASL out of an SSL connection', () => {
    const config = loadConfig({
      file: noFile,
      env: { PULSE_KAFKA_SECURITY_PROTOCOL: 'SSL', PULSE_KAFKA_SSL_CERTIFICATE_LOCATION: ca, PULSE_KAFKA_SSL_KEY_LOCATION: ca, PULSE_KAFKA_SSL_KEY_PASSWORD: 'kp' },
    });
    expect(connectionConfig(config)).toEqual({
      'bootstrap.servers': '127.0.0.1:9092',
      'security.protocol': 'ssl',
      'ssl.certificate.location': ca,
      'ssl.key.location': ca,
      'ssl.key.password': 'kp',
      'ssl.endpoint.identification.algorithm': 'https',
    });
  });
});

describe('durability defaults', () => {
  it('produce with acks=all and idempotence, and keep the spec acks=1 as a setting without idempotence', () => {
    const durable = producerConfig(loadConfig({ env: {}, file: noFile }), 'p');
    expect([durable.acks, durable['enable.idempotence']]).toEqual([-1, true]);
    const spec = producerConfig(loadConfig({ env: { PULSE_PRODUCER_ACKS: '1' }, file: noFile }), 'p');
    expect([spec.acks, spec['enable.idempotence']]).toEqual([1, false]);
  });

  it('replicate topics once per broker up to three, with min.insync.replicas 2 from three replicas, unless configured', () => {
    const auto = loadConfig({ env: {}, file: noFile });
    expect([1, 2, 3, 6].map((brokers) => replicationFor(auto, brokers))).toEqual([1, 2, 3, 3]);
    expect([1, 2, 3].map((rf) => minInsyncFor(auto, rf))).toEqual([1, 1, 2]);
    const spec = { name: 't', partitions: 1, config: { 'retention.ms': '1000' }, doc: '' };
    expect(requiredTopicConfig(auto, spec, 3)).toEqual({ 'cleanup.policy': 'delete', 'retention.ms': '1000', 'min.insync.replicas': '2' });
    const fixed = loadConfig({ env: { PULSE_KAFKA_REPLICATION_FACTOR: '2', PULSE_KAFKA_MIN_INSYNC_REPLICAS: '1' }, file: noFile });
    expect([replicationFor(fixed, 6), minInsyncFor(fixed, 2)]).toEqual([2, 1]);
  });
});

describe('javaConnectionProperties', () => {
  it("gives Kafka's Java tools the same connection: a JAAS line with quoted credentials and the CA as a PEM truststore", () => {
    const config = loadConfig({
      file: noFile,
      env: {
        KAFKA_BOOTSTRAP_SERVERS: 'k1:9093',
        PULSE_KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
        PULSE_KAFKA_SASL_MECHANISM: 'SCRAM-SHA-256',
        PULSE_KAFKA_SASL_USERNAME: 'pulse',
        PULSE_KAFKA_SASL_PASSWORD: 'a"b\\c',
        PULSE_KAFKA_SSL_CA_LOCATION: ca,
      },
    });
    expect(javaConnectionProperties(config)).toEqual({
      'bootstrap.servers': 'k1:9093',
      'security.protocol': 'SASL_SSL',
      'sasl.mechanism': 'SCRAM-SHA-256',
      'sasl.jaas.config': 'org.apache.kafka.common.security.scram.ScramLoginModule required username="pulse" password="a\\"b\\\\c";',
      'ssl.truststore.type': 'PEM',
      'ssl.truststore.location': ca,
      'ssl.endpoint.identification.algorithm': 'https',
    });
    expect(javaConnectionProperties(loadConfig({ env: {}, file: noFile }))).toEqual({ 'bootstrap.servers': '127.0.0.1:9092', 'security.protocol': 'PLAINTEXT' });
  });
});
