import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_POM, readPomVersions } from '../src/jars.js';
import { bootstrapOf, brokerThreads, newClusterId, planNodes, serverProperties } from '../src/layout.js';

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

  it('makes cluster ids of 16 random bytes in base64url that never look like a flag', () => {
    for (let i = 0; i < 200; i++) {
      const id = newClusterId();
      expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
      expect(Buffer.from(id, 'base64url')).toHaveLength(16);
    }
  });
});

describe('the Kafka pom', () => {
  it('pins the Kafka and log4j versions the jar cache is named after', () => {
    const versions = readPomVersions(readFileSync(DEFAULT_POM, 'utf8'));
    expect(versions.kafka).toMatch(/^\d+\.\d+\.\d+$/);
    expect(versions.log4j).toMatch(/^2\.\d+\.\d+$/);
    expect(() => readPomVersions('<project/>')).toThrow(/kafka\.version/);
  });
});
