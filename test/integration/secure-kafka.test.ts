import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type PulseConfig } from '../../packages/config/src/index.js';
import { BatchConsumer, BatchProducer, KafkaClientError, type KafkaSettings } from '../../packages/engine/src/index.js';
import { connectionConfig, consumerConfig, describeTopicConfigs, producerConfig, TOPIC_SPECS, TOPICS, type KafkaRefusedError } from '../../packages/kafka/src/index.js';
import { startCluster, stopCluster, type StartResult } from '../../packages/kafka-local/src/index.js';
import { createShopModel, intendedOffsetMs } from '../../packages/loadgen/src/index.js';
import { TEST_PORT } from './global-setup.js';
import { waitForUserCounts } from './helpers/index.js';
import { pulseEnv, spawnPulse, type PulseProcess } from './helpers/pipeline.js';

/**
 * Pulse against a SASL_SSL cluster with SCRAM-SHA-512 logins and a CA of its own, started by this file
 * on a port of its own beside the plaintext test broker (docs/kafka.md).
 */
const SECURE_PORT = TEST_PORT + 400;
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DATA_DIR = resolve(repoRoot, `.pulse/test-kafka-secure-${SECURE_PORT}`);

const RATE = 2000;
const SECONDS = 3;
const SEED = 'secure-it';
/** One minute into a 5-minute window, so that the whole run's events share one window per user. */
const START_TS = 1_764_099_900_000 + 60_000;

let cluster: StartResult;
/** Pulse's environment variables for the cluster, as `pulse kafka start --security sasl_ssl` prints them. */
let clientEnv: Record<string, string>;
let password: string;
const tmp = mkdtempSync(join(tmpdir(), 'pulse-secure-'));
const emptyConfigFile = join(tmp, 'pulse.config.json');
writeFileSync(emptyConfigFile, '{}');

const configOf = (env: Record<string, string>): PulseConfig => loadConfig({ env, file: emptyConfigFile });

/** A CA the cluster's certificate is not signed by. */
function strangerCa(): string {
  const store = join(tmp, 'stranger.p12');
  const pem = join(tmp, 'stranger.pem');
  const common = ['-keystore', store, '-storetype', 'PKCS12', '-storepass', 'stranger'];
  execFileSync('keytool', ['-genkeypair', '-alias', 'ca', '-keyalg', 'RSA', '-keysize', '2048', '-dname', 'CN=Stranger CA', '-ext', 'bc:c', '-validity', '2', ...common], { stdio: 'pipe' });
  execFileSync('keytool', ['-exportcert', '-rfc', '-alias', 'ca', ...common, '-file', pem], { stdio: 'pipe' });
  return pem;
}

beforeAll(async () => {
  cluster = await startCluster({ dataDir: DATA_DIR, nodes: 1, port: SECURE_PORT, fresh: true, security: 'sasl_ssl', log: (line) => console.log(`[secure kafka] ${line}`) });
  clientEnv = Object.fromEntries(cluster.clientEnv);
  password = clientEnv.PULSE_KAFKA_SASL_PASSWORD!;
}, 240_000);

afterAll(async () => {
  await stopCluster({ dataDir: DATA_DIR });
});

describe('a SASL_SSL cluster with SCRAM-SHA-512', () => {
  const processes: PulseProcess[] = [];
  const run = (args: string[], env: Record<string, string>): PulseProcess => {
    const p = spawnPulse(args, env);
    processes.push(p);
    return p;
  };

  afterEach(async () => {
    for (const p of processes.splice(0)) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  });

  it('takes topics create, generate and aggregate over TLS with SCRAM logins, counting every click exactly, and never logs the password', async () => {
    expect(cluster.security).toBe('sasl_ssl');
    expect(Object.keys(clientEnv)).toEqual([
      'KAFKA_BOOTSTRAP_SERVERS',
      'PULSE_KAFKA_SECURITY_PROTOCOL',
      'PULSE_KAFKA_SASL_MECHANISM',
      'PULSE_KAFKA_SASL_USERNAME',
      'PULSE_KAFKA_SASL_PASSWORD',
      'PULSE_KAFKA_SSL_CA_LOCATION',
    ]);
    const env = pulseEnv(cluster.bootstrap!, clientEnv);

    const topics = run(['topics', 'create'], env);
    expect(await topics.exited, topics.output()).toBe(0);
    expect(topics.output()).toContain(`${TOPIC_SPECS.length} created, 0 already present`);
    // Run again: the existing topics' configuration is read back over SASL_SSL and checked, no warning.
    const again = run(['topics', 'create'], env);
    expect(await again.exited, again.output()).toBe(0);
    expect(again.output()).toContain(`0 created, ${TOPIC_SPECS.length} already present`);
    expect(again.output()).not.toMatch(/warning|not checked/i);

    const generator = run(['generate', '--rate', String(RATE), '--duration', String(SECONDS), '--seed', SEED, '--start-ts', String(START_TS), '--quiet'], env);
    const aggregator = run(['aggregate', '--progress', '0'], pulseEnv(cluster.bootstrap!, { ...clientEnv, PULSE_AGGREGATOR_GROUP_ID: `secure-agg-${Date.now()}`, PULSE_AGGREGATOR_EMIT_INTERVAL_MS: '20' }));
    expect(await generator.exited, generator.output()).toBe(0);
    expect(generator.output()).toMatch(/delivered 6,000, failed 0/);

    // The clicks the generator sent, per user: the model is deterministic for a seed and start time.
    const model = createShopModel(SEED);
    const expected = new Map<string, number>();
    for (let i = 0; i < RATE * SECONDS; i++) {
      const e = model.next(START_TS + intendedOffsetMs(i, RATE));
      if (e.topic !== TOPICS.userClicks) continue;
      expected.set(e.key, (expected.get(e.key) ?? 0) + 1);
    }
    expect(expected.size).toBeGreaterThan(100);

    // Read back over the client.properties file the cluster wrote, as a managed service hands one out.
    const reader = configOf({ PULSE_KAFKA_CLIENT_PROPERTIES: cluster.clientProperties! });
    expect(connectionConfig(reader)).toMatchObject({ 'security.protocol': 'sasl_ssl', 'sasl.mechanisms': 'SCRAM-SHA-512', 'sasl.username': 'pulse' });
    const counts = await waitForUserCounts(reader, expected, START_TS - 60_000);
    expect(Object.fromEntries(counts)).toEqual(Object.fromEntries(expected));

    aggregator.child.kill('SIGTERM');
    expect(await aggregator.exited, aggregator.output()).toBe(0);
    const configs = await describeTopicConfigs(connectionConfig(reader), [TOPICS.userClicks, TOPICS.aggregatorChangelog], { keys: ['retention.ms', 'cleanup.policy'] });
    expect(configs.get(TOPICS.userClicks)).toEqual({ 'retention.ms': String(24 * 3_600_000), 'cleanup.policy': 'delete' });
    expect(configs.get(TOPICS.aggregatorChangelog)?.['cleanup.policy']).toBe('compact');
    for (const p of [topics, again, generator, aggregator]) expect(p.output()).not.toContain(password);
  });

  it('ends every client within a minute, saying so, when the password is wrong', async () => {
    const wrong = 'not-the-password';
    const env = pulseEnv(cluster.bootstrap!, { ...clientEnv, PULSE_KAFKA_SASL_PASSWORD: wrong, PULSE_WRITE_KEYS: 'wk' });
    const started = Date.now();
    const commands = [
      run(['topics', 'create'], env),
      run(['aggregate', '--progress', '0'], env),
      run(['collect', '--port', '0', '--progress', '0'], env),
      run(['generate', '--rate', '100', '--duration', '5', '--quiet'], env),
    ];
    for (const p of commands) {
      expect(await p.exited, p.output()).toBe(1);
      expect(p.output()).toMatch(/Kafka authentication failed \(check kafka\.saslMechanism, kafka\.saslUsername, kafka\.saslPassword\): .*SASL authentication error/);
      expect(p.output()).not.toContain(wrong);
      expect(p.output()).not.toContain(password);
      expect(p.output()).not.toMatch(/\n\s+at /); // a message, not a stack trace
    }
    expect(Date.now() - started).toBeLessThan(60_000);

    // The native clients themselves stop, rather than retry without end.
    const config = configOf({ ...clientEnv, PULSE_KAFKA_SASL_PASSWORD: wrong });
    const consumer = new BatchConsumer(consumerConfig(config, 'secure-test', `secure-${Date.now()}`) as KafkaSettings);
    consumer.subscribe([TOPICS.userClicks]);
    const polled = await pollUntilRefused(consumer);
    expect(polled).toBeInstanceOf(KafkaClientError);
    expect((polled as KafkaClientError).code).toBe('KAFKA_AUTHENTICATION');
    expect((polled as Error).message).toMatch(/invalid credentials/);
    const producer = new BatchProducer(producerConfig(config, 'secure-test') as KafkaSettings);
    const probe = producer.probe(TOPICS.userClicks, 60_000).then(
      () => null,
      (err: unknown) => err,
    );
    const refused = await probe;
    expect((refused as KafkaClientError).code).toBe('KAFKA_AUTHENTICATION');
    await producer.flush(1_000);
    const described = await describeTopicConfigs(connectionConfig(config), [TOPICS.userClicks]).catch((err: unknown) => err);
    expect((described as KafkaRefusedError).code).toBe('KAFKA_AUTHENTICATION');
  });

  it("ends every client within a minute, saying so, when the broker's certificate is not from a trusted CA", async () => {
    const env = pulseEnv(cluster.bootstrap!, { ...clientEnv, PULSE_KAFKA_SSL_CA_LOCATION: strangerCa() });
    const started = Date.now();
    const commands = [run(['sink', '--progress', '0'], env), run(['aggregate', '--progress', '0'], env)];
    for (const p of commands) {
      expect(await p.exited, p.output()).toBe(1);
      expect(p.output()).toMatch(/Kafka TLS handshake failed on the broker's certificate \(check kafka\.sslCaLocation .*\): .*certificate verify failed/);
      expect(p.output()).not.toContain(password);
    }
    expect(Date.now() - started).toBeLessThan(60_000);

    const config = configOf({ ...clientEnv, PULSE_KAFKA_SSL_CA_LOCATION: join(tmp, 'stranger.pem') });
    const consumer = new BatchConsumer(consumerConfig(config, 'secure-test', `secure-${Date.now()}`) as KafkaSettings);
    consumer.subscribe([TOPICS.userClicks]);
    const polled = await pollUntilRefused(consumer);
    expect((polled as KafkaClientError).code).toBe('KAFKA_TLS');
    expect((polled as Error).message).toMatch(/certificate verify failed/);
  });
});

/** Polls until the consumer fails (as it must, refused) or a minute passes; returns the error. */
async function pollUntilRefused(consumer: BatchConsumer): Promise<unknown> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      await consumer.poll(100, 500);
    } catch (err) {
      return err;
    }
  }
  return null;
}
