import { afterAll, describe, expect, it } from 'vitest';
import { deleteTopics, ensureTopics, TOPIC_SPECS, TOPICS } from '../../packages/kafka/src/index.js';
import { CLICK_TYPES, createShopModel, intendedOffsetMs, runGenerator, type TopicNames } from '../../packages/loadgen/src/index.js';
import { readAll, testConfig, uniqueTopic, type ReadRecord } from './helpers/index.js';

const RATE = 5000;
const SECONDS = 2;
const SEED = 'loadgen-it';
const START_TS = 1_764_100_000_000;

// Topics of their own, with the spec's partition counts, so that records other tests write to the
// spec topics do not mix in.
const topics: TopicNames = { clicks: uniqueTopic('clicks'), purchases: uniqueTopic('purchases'), sensors: uniqueTopic('sensors') };
const partitionsOf = (name: string) => TOPIC_SPECS.find((s) => s.name === name)!.partitions;

afterAll(async () => {
  await deleteTopics(testConfig(), Object.values(topics));
});

describe('load generator against Kafka', () => {
  it('writes every generated event once, keyed by userId / sensorId, in the shapes of §3', async () => {
    const config = testConfig();
    await ensureTopics(config, [
      { name: topics.clicks, partitions: partitionsOf(TOPICS.userClicks), config: {}, doc: 'test user-clicks' },
      { name: topics.purchases, partitions: partitionsOf(TOPICS.userPurchases), config: {}, doc: 'test user-purchases' },
      { name: topics.sensors, partitions: partitionsOf(TOPICS.sensorData), config: {}, doc: 'test sensor-data' },
    ]);

    const stats = await runGenerator({ config, rate: RATE, durationSec: SECONDS, seed: SEED, startTs: START_TS, topics });
    const total = RATE * SECONDS;
    expect(stats).toMatchObject({ events: total, produced: total, delivered: total, failed: 0, aborted: false, startTs: START_TS, seed: SEED });
    expect(stats.firstError).toBeUndefined();
    expect(stats.perTopic[topics.purchases]).toBeGreaterThan(0);
    expect(stats.achievedRate).toBeGreaterThan(RATE * 0.8);

    const read = new Map<string, ReadRecord[]>();
    for (const topic of Object.values(topics)) read.set(topic, await readAll(config, topic));
    for (const topic of Object.values(topics)) expect(read.get(topic)!.length, topic).toBe(stats.perTopic[topic]);
    const records = [...read.values()].flat();
    expect(records).toHaveLength(total);

    // Exactly the events the model gives for this seed and start time: none lost, none twice.
    const model = createShopModel(SEED, { topics });
    const expected = Array.from({ length: total }, (_, i) => model.next(START_TS + intendedOffsetMs(i, RATE)));
    const asText = (r: { topic: string; key: string | null; value: string }) => `${r.topic} ${r.key} ${r.value}`;
    expect(records.map((r) => asText({ topic: r.topic, key: r.key, value: r.value!.toString('utf8') })).sort()).toEqual(expected.map(asText).sort());

    const partitionOfKey = new Map<string, string>();
    const lastTs = new Map<string, number>();
    for (const r of records) {
      const v = JSON.parse(r.value!.toString('utf8')) as Record<string, unknown>;
      expect(typeof v.eventId).toBe('string');
      expect(Number.isSafeInteger(v.ts)).toBe(true);
      expect(v.ts as number).toBeGreaterThanOrEqual(START_TS);
      expect(v.ts as number).toBeLessThan(START_TS + SECONDS * 1000);
      if (r.topic === topics.clicks) {
        expect(CLICK_TYPES).toContain(v.type);
        expect(r.key).toBe(v.userId);
        expect(typeof v.sessionId).toBe('string');
        expect(['web', 'mobile']).toContain(v.source);
      } else if (r.topic === topics.purchases) {
        expect(v.type).toBe('purchase');
        expect(r.key).toBe(v.userId);
        expect(Array.isArray(v.items) && (v.items as unknown[]).length > 0).toBe(true);
        expect(typeof v.total).toBe('number');
        expect(v.currency).toBe('USD');
      } else {
        expect(r.key).toBe(v.sensorId);
        expect(typeof v.value).toBe('number');
        expect(typeof v.metric).toBe('string');
      }
      // One partition per key (the murmur2 partitioner), and within a partition the generator's order.
      const where = `${r.topic}/${r.partition}`;
      expect(partitionOfKey.get(`${r.topic} ${r.key}`) ?? where).toBe(where);
      partitionOfKey.set(`${r.topic} ${r.key}`, where);
      expect(v.ts as number).toBeGreaterThanOrEqual(lastTs.get(where) ?? 0);
      lastTs.set(where, v.ts as number);
    }
    // Keys spread over every partition of each topic.
    for (const topic of Object.values(topics)) {
      const used = new Set(read.get(topic)!.map((r) => r.partition));
      if (topic !== topics.purchases) expect(used.size, topic).toBe(partitionsOf(topic === topics.clicks ? TOPICS.userClicks : TOPICS.sensorData));
    }
  });
});
