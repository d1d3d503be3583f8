import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'pulse-kafka-config-'));
const emptyFile = join(dir, 'pulse.config.json');
writeFileSync(emptyFile, '{}');
const caFile = join(dir, 'ca.pem');
writeFileSync(caFile, '-----BEGIN CERTIFICATE-----\n');
const load = (env: Record<string, string>) => loadConfig({ env, file: emptyFile });

function properties(name: string, lines: string[]): string {
  const file = join(dir, name);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** The message of the ConfigError `f` throws. */
function errorOf(f: () => unknown): ConfigError {
  try {
    f();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('Kafka connection settings', () => {
  it('are PLAINTEXT without credentials by default', () => {
    const k = load({}).kafka;
    expect([k.securityProtocol, k.saslMechanism, k.saslUsername, k.saslPassword, k.sslCaLocation]).toEqual(['PLAINTEXT', '', '', '', '']);
  });

  it('come from the PULSE_KAFKA_* variables', () => {
    const k = load({
      PULSE_KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
      PULSE_KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      PULSE_KAFKA_SASL_USERNAME: 'shop',
      PULSE_KAFKA_SASL_PASSWORD: 's3cret',
      PULSE_KAFKA_SSL_CA_LOCATION: caFile,
    }).kafka;
    expect([k.securityProtocol, k.saslMechanism, k.saslUsername, k.saslPassword, k.sslCaLocation]).toEqual(['SASL_SSL', 'SCRAM-SHA-512', 'shop', 's3cret', caFile]);
  });

  it('say which key is missing or wrong, and where it came from', () => {
    expect(() => load({ PULSE_KAFKA_SECURITY_PROTOCOL: 'SASL_SSL' })).toThrow(/kafka\.saslMechanism \(from default\): must be set when kafka\.securityProtocol is SASL_SSL/);
    expect(() => load({ PULSE_KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', PULSE_KAFKA_SASL_MECHANISM: 'PLAIN', PULSE_KAFKA_SASL_USERNAME: 'u' })).toThrow(/kafka\.saslPassword .*must be set for SASL PLAIN/);
    expect(() => load({ PULSE_KAFKA_SECURITY_PROTOCOL: 'sasl-ssl' })).toThrow(/must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL/);
    expect(() => load({ PULSE_KAFKA_SECURITY_PROTOCOL: 'SSL', PULSE_KAFKA_SSL_CA_LOCATION: join(dir, 'absent.pem') })).toThrow(/kafka\.sslCaLocation \(from environment PULSE_KAFKA_SSL_CA_LOCATION\): cannot read .*absent\.pem: ENOENT/);
    expect(() => load({ PULSE_KAFKA_SSL_CA_LOCATION: caFile })).toThrow(/kafka\.sslCaLocation .*is set but kafka\.securityProtocol is PLAINTEXT/);
    expect(() => load({ PULSE_KAFKA_SECURITY_PROTOCOL: 'SSL', PULSE_KAFKA_SSL_CERTIFICATE_LOCATION: caFile })).toThrow(/needs both kafka\.sslCertificateLocation and kafka\.sslKeyLocation/);
  });

  it('never echo a password in an error', () => {
    const err = errorOf(() => load({ PULSE_KAFKA_SASL_PASSWORD: 'hunter2-do-not-print' }));
    expect(err.message).toMatch(/kafka\.saslPassword .*does not use SASL/);
    expect(err.message).not.toContain('hunter2');
    const fromFile = join(dir, 'bad-type.json');
    writeFileSync(fromFile, JSON.stringify({ kafka: { saslPassword: ['hunter2-in-json'] } }));
    const typed = errorOf(() => loadConfig({ env: {}, file: fromFile }));
    expect(typed.message).toMatch(/kafka\.saslPassword .*expected a non-empty string, got a list \(hidden\)/);
    expect(typed.message).not.toContain('hunter2');
  });
});

describe('kafka.clientProperties', () => {
  it("reads a managed service's SCRAM login from the JAAS line, with the CA relative to the file", () => {
    const bundle = join(dir, 'bundle');
    mkdirSync(bundle, { recursive: true });
    writeFileSync(join(bundle, 'ca.pem'), 'pem');
    const file = properties('bundle/client.properties', [
      '# from the service console',
      'bootstrap.servers=kafka-1.example.com:9093,kafka-2.example.com:9093',
      'security.protocol=SASL_SSL',
      'sasl.mechanism=SCRAM-SHA-256',
      'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\',
      '    username="avnadmin" password="p@ss=w\\\\\\"ord";',
      'ssl.truststore.type=PEM',
      'ssl.truststore.location=ca.pem',
      'client.dns.lookup=use_all_dns_ips',
      'acks=all',
    ]);
    const k = load({ PULSE_KAFKA_CLIENT_PROPERTIES: file }).kafka;
    expect(k.bootstrapServers).toBe('kafka-1.example.com:9093,kafka-2.example.com:9093');
    expect([k.securityProtocol, k.saslMechanism, k.saslUsername, k.saslPassword]).toEqual(['SASL_SSL', 'SCRAM-SHA-256', 'avnadmin', 'p@ss=w"ord']);
    expect(k.sslCaLocation).toBe(join(bundle, 'ca.pem'));
  });

  it('reads PLAIN credentials (the mechanism follows the login module) and lets the environment win', () => {
    const file = properties('plain.properties', [
      'bootstrap.servers=pkc-1.cloud:9092',
      'security.protocol=SASL_SSL',
      "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username='KEY' password='SECRET';",
    ]);
    const k = load({ PULSE_KAFKA_CLIENT_PROPERTIES: file }).kafka;
    expect([k.saslMechanism, k.saslUsername, k.saslPassword, k.sslCaLocation]).toEqual(['PLAIN', 'KEY', 'SECRET', '']);
    const overridden = load({ PULSE_KAFKA_CLIENT_PROPERTIES: file, PULSE_KAFKA_SASL_PASSWORD: 'rotated', KAFKA_BOOTSTRAP_SERVERS: 'other:9092' }).kafka;
    expect([overridden.saslPassword, overridden.bootstrapServers]).toEqual(['rotated', 'other:9092']);
  });

  it('refuses what librdkafka cannot use, saying what to do instead', () => {
    const jks = properties('jks.properties', ['security.protocol=SSL', 'ssl.truststore.location=client.truststore.jks', 'ssl.truststore.password=x']);
    expect(() => load({ PULSE_KAFKA_CLIENT_PROPERTIES: jks })).toThrow(/kafka\.clientProperties \(from .*jks\.properties\): ssl\.truststore\.location: a JKS truststore cannot be read by librdkafka; export its CA as PEM/);
    const oauth = properties('oauth.properties', ['security.protocol=SASL_SSL', 'sasl.mechanism=OAUTHBEARER', 'sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;']);
    expect(() => load({ PULSE_KAFKA_CLIENT_PROPERTIES: oauth })).toThrow(/sasl\.jaas\.config: login module .*OAuthBearerLoginModule is not supported/);
    const mismatch = properties('mismatch.properties', ['security.protocol=SASL_SSL', 'sasl.mechanism=SCRAM-SHA-512', 'sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";']);
    expect(() => load({ PULSE_KAFKA_CLIENT_PROPERTIES: mismatch })).toThrow(/PlainLoginModule does not go with sasl\.mechanism SCRAM-SHA-512/);
    expect(() => load({ PULSE_KAFKA_CLIENT_PROPERTIES: join(dir, 'absent.properties') })).toThrow(/kafka\.clientProperties .*cannot read the client properties file/);
  });
});
