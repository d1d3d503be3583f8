import { afterAll, describe, expect, it } from 'vitest';
import { BatchConsumer, BatchProducer, packValues, recordAt, runValues, type ConsumedBatch, type KafkaSettings } from '../../packages/engine/src/index.js';
import { connectionConfig, consumerConfig, deleteTopics, PARTITIONER } from '../../packages/kafka/src/index.js';
import { createTopic, produceRecords, readAll, testConfig, uniqueTopic } from './helpers/index.js';

const config = testConfig();
const created: string[] = [];
afterAll(async () => {
  await deleteTopics(config, created);
});

async function freshTopic(base: string, partitions: number): Promise<string> {
  const name = uniqueTopic(base);
  created.push(name);
  await createTopic(config, name, partitions);
  return name;
}

function producer(extra: KafkaSettings = {}): BatchProducer {
  return new BatchProducer({ ...connectionConfig(config), 'partitioner': PARTITIONER, 'linger.ms': 5, 'acks': 'all', ...extra });
}

function consumer(group: string, extra: KafkaSettings = {}): BatchConsumer {
  return new BatchConsumer(consumerConfig(config, 'native-test', group, { 'fetch.wait.max.ms': 10, ...extra }) as KafkaSettings);
}

interface Flat {
  topic: string;
  partition: number;
  offset: number;
  key: string;
  value: string;
}

function flatten(c: BatchConsumer, batch: ConsumedBatch): Flat[] {
  const topics = c.topics();
  const out: Flat[] = [];
  for (const run of batch.runs) {
    // Each run's values are one zero-copy view the engine could take as it is.
    const packed = runValues(batch, run);
    expect(packed.ends.length).toBe(run.end - run.start);
    for (let i = run.start; i < run.end; i++) {
      const { key, value } = recordAt(batch, run, i);
      out.push({ topic: topics[run.topic]!, partition: run.partition, offset: batch.offsets[i]!, key: key.toString(), value: value.toString() });
    }
  }
  return out;
}

async function pollUntil(c: BatchConsumer, n: number, timeoutMs = 20_000): Promise<Flat[]> {
  const got: Flat[] = [];
  const deadline = Date.now() + timeoutMs;
  while (got.length < n && Date.now() < deadline) got.push(...flatten(c, await c.poll(1000, 100)));
  return got;
}

describe('native Kafka clients against a real broker', () => {
  it('sends a packed batch partitioned like the JavaScript client and reads it back grouped by partition, every record once', async () => {
    const topic = await freshTopic('native-packed', 4);
    const keys = Array.from({ length: 2000 }, (_, i) => `u-${i % 97}`);
    const values = keys.map((k, i) => JSON.stringify({ userId: k, seq: i }));
    const v = packValues(values.map((s) => Buffer.from(s)));
    const k = packValues(keys.map((s) => Buffer.from(s)));
    const p = producer();
    const sent = p.sendPacked(topic, v.values, v.ends, k.values, k.ends);
    expect(sent).toEqual({ next: 2000, sent: 2000, full: false });
    await p.settled(p.closeEpoch());
    expect(p.counts()).toEqual({ delivered: 2000, failed: 0, outstanding: 0 });

    // The same keys through the JavaScript client (murmur2 too) land on the same partitions.
    const reference = await freshTopic('native-packed-ref', 4);
    await produceRecords(config, reference, keys.slice(0, 97).map((key) => ({ key, value: 'x' })));
    const referencePartition = new Map((await readAll(config, reference)).map((r) => [r.key!, r.partition]));

    const c = consumer(`native-read-${Date.now()}`);
    c.assign([0, 1, 2, 3].map((partition) => ({ topic, partition, offset: -2 })));
    const got = await pollUntil(c, 2000);
    await c.close();
    expect(got).toHaveLength(2000);
    expect(new Set(got.map((r) => r.value))).toEqual(new Set(values));
    for (const r of got) {
      expect(r.topic).toBe(topic);
      expect(JSON.parse(r.value).userId).toBe(r.key);
      expect(r.partition).toBe(referencePartition.get(r.key));
    }
    // Per partition, offsets run 0, 1, 2, … and records keep the order they were sent in.
    for (const partition of [0, 1, 2, 3]) {
      const mine = got.filter((r) => r.partition === partition);
      expect(mine.map((r) => r.offset)).toEqual(mine.map((_, i) => i));
      const seqs = mine.map((r) => JSON.parse(r.value).seq as number);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    }
  });

  it('routes packed engine outputs to the topic of their kind and sends single records with headers', async () => {
    const a = await freshTopic('native-out-a', 2);
    const b = await freshTopic('native-out-b', 2);
    const p = producer();
    p.routeOutputs({ 1: a, 3: b });
    const packed = Buffer.concat(
      [
        [1, 'k1', '{"n":1}'],
        [3, 'k2', '{"n":2}'],
        [1, 'k3', '{"n":3}'],
      ].map(([kind, key, value]) => {
        const kb = Buffer.from(key as string);
        const vb = Buffer.from(value as string);
        const head = Buffer.alloc(5);
        head.writeUInt8(kind as number, 0);
        head.writeUInt32LE(kb.length, 1);
        const len = Buffer.alloc(4);
        len.writeUInt32LE(vb.length, 0);
        return Buffer.concat([head, kb, len, vb]);
      }),
    );
    expect(p.sendOutputs(packed)).toEqual({ next: packed.length, sent: 3, full: false });
    expect(p.send(b, 1, Buffer.from('h'), Buffer.from('with headers'), [{ name: 'pulse.error.reason', value: Buffer.from('late') }])).toBe(true);
    // A kind nobody routed is an error, not a silent drop.
    const stray = Buffer.from([9, 1, 0, 0, 0, 0x6b, 1, 0, 0, 0, 0x76]);
    expect(() => p.sendOutputs(stray)).toThrow(/KafkaClientError|Unknown topic|UnknownTopic/i);
    await p.settled(p.closeEpoch());
    expect(p.takeFailures()).toEqual([]);

    const inA = await readAll(config, a);
    const inB = await readAll(config, b);
    expect(inA.map((r) => [r.key, r.value!.toString()]).sort()).toEqual([
      ['k1', '{"n":1}'],
      ['k3', '{"n":3}'],
    ]);
    expect(inB.map((r) => r.value!.toString()).sort()).toEqual(['with headers', '{"n":2}'].sort());
    const withHeaders = inB.find((r) => r.value!.toString() === 'with headers')!;
    expect(withHeaders.partition).toBe(1);
    expect(withHeaders.headers['pulse.error.reason']).toBe('late');
  });

  it('reports group assignments with the partitions paused until resumed, and seeks', async () => {
    const topic = await freshTopic('native-group', 2);
    await produceRecords(
      config,
      topic,
      Array.from({ length: 10 }, (_, i) => ({ partition: i % 2, key: `k${i}`, value: `v${i}` })),
    );
    const c = consumer(`native-group-${Date.now()}`, { 'partition.assignment.strategy': 'cooperative-sticky' });
    c.subscribe([topic]);
    const assigned: number[] = [];
    const deadline = Date.now() + 20_000;
    const early: Flat[] = [];
    while (assigned.length < 2 && Date.now() < deadline) {
      early.push(...flatten(c, await c.poll(100, 100)));
      for (const e of c.takeRebalanceEvents()) if (e.assigned && e.topic === topic) assigned.push(e.partition);
    }
    expect(assigned.sort()).toEqual([0, 1]);
    // Paused on assignment: nothing arrives while the caller "restores".
    for (let i = 0; i < 5; i++) early.push(...flatten(c, await c.poll(100, 100)));
    expect(early).toEqual([]);

    await c.seek(topic, 0, 3);
    await c.seek(topic, 1, -2);
    c.resume(topic, [0, 1]);
    const got = await pollUntil(c, 7);
    expect(got.filter((r) => r.partition === 0).map((r) => r.offset)).toEqual([3, 4]);
    expect(got.filter((r) => r.partition === 1).map((r) => r.value)).toEqual(['v1', 'v3', 'v5', 'v7', 'v9']);
    c.commit([{ topic, partition: 0, offset: 5 }]);
    await c.close();
  });
});
