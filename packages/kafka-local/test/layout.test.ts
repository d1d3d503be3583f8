import { describe, expect, it } from 'vitest';
import { readJarLock } from '../src/jars.js';
import { bootstrapOf, brokerThreads, newClusterId, planNodes, serverProperties } from '../src/layout.js';
import { clientConnection, clientEnvironment, scramFormatArgs, type SecurityState } from '../src/security.js';

function parse(properties: string): Map<string, string> {
  return new Map(
    properties
      .split('\n')
      .filter((l) => l.length > 0 && !l.startsWith('#'))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]),
  );
}

describe('cluster layout', () => {
  it('puts a single node on 9092 with its controller on 9093', () => {
    const [node] = planNodes('/tmp/x', 1, 9092);
    expect(node).toMatchObject({ id: 1, brokerPort: 9092, controllerPort: 9093, dir: '/tmp/x/kafka/node-1' });
    const props = parse(serverProperties(node!, [node!]));
    expect(props.get('controller.quorum.voters')).toBe('1@127.0.0.1:9093');
    expect(props.get('listeners')).toBe('PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093');
    expect(props.get('offsets.topic.replication.factor')).toBe('1');
    expect(props.get('transaction.state.log.min.isr')).toBe('1');
    expect(props.get('auto.create.topics.enable')).toBe('false');
    expect(props.get('group.initial.rebalance.delay.ms')).toBe('0');
    expect(props.get('num.partitions')).toBe('1');
    expect(props.get('log.dirs')).toBe('/tmp/x/kafka/node-1/data');
    expect(props.get('num.io.threads')).toBe(String(brokerThreads().io));
  });

  it("sizes a node's threads to the machine: one of each per two cores, at most Kafka's defaults", () => {
    expect([1, 2, 4, 8, 64].map((cores) => brokerThreads(cores))).toEqual([
      { network: 1, io: 1 },
      { network: 1, io: 1 },
      { network: 2, io: 2 },
      { network: 3, io: 4 },
      { network: 3, io: 8 },
    ]);
  });

  it('gives three nodes distinct ports, one static voter set and replicated internal topics', () => {
    const nodes = planNodes('/tmp/x', 3, 19092);
    expect(nodes.map((n) => [n.brokerPort, n.controllerPort])).toEqual([
      [19092, 19093],
      [19094, 19095],
      [19096, 19097],
    ]);
    expect(bootstrapOf(nodes)).toBe('127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096');
    const props = nodes.map((n) => parse(serverProperties(n, nodes)));
    expect(new Set(props.map((p) => p.get('controller.quorum.voters')))).toEqual(new Set(['1@127.0.0.1:19093,2@127.0.0.1:19095,3@127.0.0.1:19097']));
    expect(props.map((p) => p.get('node.id'))).toEqual(['1', '2', '3']);
    expect(props[0]!.get('offsets.topic.replication.factor')).toBe('3');
    expect(props[0]!.get('transaction.state.log.min.isr')).toBe('2');
  });

  it('secures the client listener with TLS and SCRAM, and keeps the controllers PLAINTEXT', () => {
    const [node] = planNodes('/tmp/x', 1, 9092);
    const security: SecurityState = {
      security: 'sasl_ssl',
      caFile: '/tmp/x/kafka/tls/ca.pem',
      keystoreFile: '/tmp/x/kafka/tls/broker.p12',
      truststoreFile: '/tmp/x/kafka/tls/truststore.p12',
      storePassword: 'sp',
      scram: { broker: { name: 'broker', password: 'bp' }, client: { name: 'pulse', password: 'cp' } },
    };
    const props = parse(serverProperties(node!, [node!], security));
    expect(props.get('listeners')).toBe('SASL_SSL://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093');
    expect(props.get('advertised.listeners')).toBe('SASL_SSL://127.0.0.1:9092');
    expect(props.get('listener.security.protocol.map')).toBe('SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT');
    expect(props.get('inter.broker.listener.name')).toBe('SASL_SSL');
    expect(props.get('sasl.enabled.mechanisms')).toBe('SCRAM-SHA-512');
    expect(props.get('sasl.mechanism.inter.broker.protocol')).toBe('SCRAM-SHA-512');
    expect(props.get('listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config')).toBe('org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="bp";');
    expect([props.get('ssl.keystore.location'), props.get('ssl.keystore.type'), props.get('ssl.truststore.location')]).toEqual([security.keystoreFile, 'PKCS12', security.truststoreFile]);
    expect(scramFormatArgs(security)).toEqual(['--add-scram', 'SCRAM-SHA-512=[name=broker,password=bp]', '--add-scram', 'SCRAM-SHA-512=[name=pulse,password=cp]']);
    expect(clientConnection('127.0.0.1:9092', security)).toEqual({
      'bootstrap.servers': '127.0.0.1:9092',
      'security.protocol': 'sasl_ssl',
      'ssl.ca.location': security.caFile,
      'sasl.mechanisms': 'SCRAM-SHA-512',
      'sasl.username': 'pulse',
      'sasl.password': 'cp',
    });
    expect(clientEnvironment('127.0.0.1:9092', security).map(([k]) => k)).toEqual([
      'KAFKA_BOOTSTRAP_SERVERS',
      'PULSE_KAFKA_SECURITY_PROTOCOL',
      'PULSE_KAFKA_SASL_MECHANISM',
      'PULSE_KAFKA_SASL_USERNAME',
      'PULSE_KAFKA_SASL_PASSWORD',
      'PULSE_KAFKA_SSL_CA_LOCATION',
    ]);
    const ssl = parse(serverProperties(node!, [node!], { ...security, security: 'ssl', scram: undefined }));
    expect(ssl.get('listeners')).toBe('SSL://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093');
    expect(ssl.has('sasl.enabled.mechanisms')).toBe(false);
  });

  it('makes cluster ids of 16 random bytes in base64url that never look like a flag', () => {
    for (let i = 0; i < 200; i++) {
      const id = newClusterId();
      expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
      expect(Buffer.from(id, 'base64url')).toHaveLength(16);
    }
  });
});

describe('the Kafka jar list', () => {
  it('pins Apache Kafka and every jar of its runtime classpath with a published checksum', () => {
    const lock = readJarLock();
    expect(lock.kafkaVersion).toMatch(/^\d+\.\d+\.\d+$/);
    expect(lock.repository).toBe('https://repo1.maven.org/maven2');
    const files = lock.jars.map((j) => j.file);
    expect(new Set(files).size).toBe(files.length);
    expect(files).toContain(`kafka_2.13-${lock.kafkaVersion}.jar`);
    expect(files).toContain(`kafka-tools-${lock.kafkaVersion}.jar`);
    // Kafka logs through SLF4J 1.7: the SLF4J 1.x log4j binding, not the SLF4J 2 one.
    expect(files.some((f) => f.startsWith('log4j-slf4j-impl-'))).toBe(true);
    expect(files.some((f) => f.startsWith('log4j-slf4j2-impl-'))).toBe(false);
  });
});
