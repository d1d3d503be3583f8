import { afterAll, describe, expect, it } from 'vitest';
import {
  deleteTopics,
  describeTopic,
  describeTopicConfigs,
  ensureTopics,
  highWatermarks,
  TOPIC_SPECS,
  TopicMismatchError,
  type TopicSpec,
} from '../../packages/kafka/src/index.js';
import { createTopic, produceRecords, readAll, readJson, testBootstrap, testConfig, uniqueTopic } from './helpers/index.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** docs/specification.md, "Topics", written out here rather than taken from TOPIC_SPECS, so that the test checks the contract. */
const CONTRACT = [
  { name: 'user-clicks', partitions: 12, retentionMs: DAY },
  { name: 'user-purchases', partitions: 6, retentionMs: 7 * DAY },
  { name: 'sensor-data', partitions: 24, retentionMs: HOUR },
  { name: 'user-activity-counts', partitions: 12, retentionMs: DAY },
  { name: 'dead-letters', partitions: 6, retentionMs: 7 * DAY },
];

const created: string[] = [];
afterAll(async () => {
  await deleteTopics(testConfig(), created);
});

function testTopic(base: string): string {
  const name = uniqueTopic(base);
  created.push(name);
  return name;
}

describe('ensureTopics with the spec topics', () => {
  it('creates the topics of docs/specification.md, "Topics" with their partitions and retention, and is idempotent', async () => {
    const config = testConfig();
    const first = await ensureTopics(config);
    // Another test file may have created them already; either way every spec topic is accounted for.
    expect([...first.created, ...first.existing].sort()).toEqual(TOPIC_SPECS.map((s) => s.name).sort());
    expect(first.warnings).toEqual([]);

    const second = await ensureTopics(config);
    expect(second.created).toEqual([]);
    expect([...second.existing].sort()).toEqual(TOPIC_SPECS.map((s) => s.name).sort());
    expect(second.topics.every((t) => t.status === 'exists')).toBe(true);

    const configs = await describeTopicConfigs(testBootstrap(), CONTRACT.map((c) => c.name));
    for (const c of CONTRACT) {
      const partitions = await describeTopic(config, c.name);
      expect(partitions.map((p) => p.partition), c.name).toEqual([...Array(c.partitions).keys()]);
      const report = second.topics.find((t) => t.name === c.name)!;
      expect(partitions.every((p) => p.replicas.length === report.replicationFactor && p.leader >= 0), c.name).toBe(true);
      expect(configs.get(c.name)?.['retention.ms'], c.name).toBe(String(c.retentionMs));
      expect(configs.get(c.name)?.['cleanup.policy'], c.name).toBe('delete');
      expect(configs.get(c.name)?.['min.insync.replicas'], c.name).toBe(report.config['min.insync.replicas']);
    }
    // Pulse's own changelog is compacted (its one record per key is the latest snapshot).
    const changelog = await describeTopicConfigs(testBootstrap(), ['pulse-aggregator-changelog']);
    expect(changelog.get('pulse-aggregator-changelog')?.['cleanup.policy']).toBe('compact');
  });
});

describe('ensureTopics with existing topics that differ', () => {
  it('fails on a different partition count, naming the topic, the expected and the actual value', async () => {
    const config = testConfig();
    const name = testTopic('partitions');
    await createTopic(config, name, 3);
    const spec: TopicSpec = { name, partitions: 4, config: {}, doc: '' };
    const err = await ensureTopics(config, [spec]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TopicMismatchError);
    expect((err as TopicMismatchError).mismatches).toEqual([{ topic: name, setting: 'partitions', expected: '4', actual: '3' }]);
    expect((err as Error).message).toContain(`${name}: partitions is 3, expected 4`);
    // Checked, not altered.
    expect((await describeTopic(config, name)).length).toBe(3);
  });

  it('fails on a different retention or cleanup policy, and creates nothing else before failing', async () => {
    const config = testConfig();
    const name = testTopic('retention');
    const untouched = uniqueTopic('not-created');
    await createTopic(config, name, 2, { 'retention.ms': String(HOUR) });
    const specs: TopicSpec[] = [
      { name, partitions: 2, config: { 'retention.ms': String(DAY), 'cleanup.policy': 'compact' }, doc: '' },
      { name: untouched, partitions: 1, config: {}, doc: '' },
    ];
    const err = (await ensureTopics(config, specs).catch((e: unknown) => e)) as TopicMismatchError;
    expect(err).toBeInstanceOf(TopicMismatchError);
    expect(err.mismatches).toEqual(
      expect.arrayContaining([
        { topic: name, setting: 'retention.ms', expected: String(DAY), actual: String(HOUR) },
        { topic: name, setting: 'cleanup.policy', expected: 'compact', actual: 'delete' },
      ]),
    );
    expect(err.message).toContain(`${name}: retention.ms is ${HOUR}, expected ${DAY}`);
    expect((await describeTopicConfigs(testBootstrap(), [untouched])).has(untouched)).toBe(false);
  });

  it('fails on a different replication factor or min.insync.replicas, naming the configuration key', async () => {
    const name = testTopic('replication');
    await createTopic(testConfig(), name, 1);
    const other = testConfig({ PULSE_KAFKA_REPLICATION_FACTOR: '2', PULSE_KAFKA_MIN_INSYNC_REPLICAS: '2' });
    const err = (await ensureTopics(other, [{ name, partitions: 1, config: {}, doc: '' }]).catch((e: unknown) => e)) as TopicMismatchError;
    expect(err).toBeInstanceOf(TopicMismatchError);
    expect(err.mismatches.map((m) => m.setting).sort()).toEqual(['min.insync.replicas', 'replication.factor']);
    expect(err.message).toContain('configuration kafka.replicationFactor');
  });
});

describe('ensureTopics run concurrently', () => {
  it('creates each topic once and reports it as present to the other caller', async () => {
    const config = testConfig();
    const specs: TopicSpec[] = [testTopic('race-a'), testTopic('race-b')].map((name) => ({ name, partitions: 3, config: { 'retention.ms': String(HOUR) }, doc: '' }));
    const [a, b] = await Promise.all([ensureTopics(config, specs), ensureTopics(config, specs)]);
    for (const spec of specs) {
      expect([...a.created, ...b.created].filter((n) => n === spec.name)).toHaveLength(1);
      expect([...a.created, ...a.existing]).toContain(spec.name);
      expect([...b.created, ...b.existing]).toContain(spec.name);
    }
  });
});

describe('deleteTopics', () => {
  it('deletes, ignores unknown topics, and lets the name be created again at once', async () => {
    const config = testConfig();
    const name = testTopic('recreate');
    await createTopic(config, name, 2);
    await deleteTopics(config, [name, uniqueTopic('never-existed')]);
    expect((await createTopic(config, name, 5)).created).toEqual([name]);
    expect((await describeTopic(config, name)).length).toBe(5);
  });
});

describe('readAll (test helper)', () => {
  it('returns every record up to the end offsets with key, value, headers, partition and offset', async () => {
    const config = testConfig();
    const name = testTopic('read-all');
    await createTopic(config, name, 3);
    const records = Array.from({ length: 300 }, (_, i) => ({
      key: `u-${i % 17}`,
      value: { i, userId: `u-${i % 17}` },
      headers: { 'pulse.test.index': String(i) },
    }));
    await produceRecords(config, name, records);
    await produceRecords(config, name, [{ key: null, value: null, partition: 2 }]);

    const marks = await highWatermarks(config, name);
    expect(marks.reduce((a, b) => a + b, 0)).toBe(301);

    const read = await readAll(config, name);
    expect(read).toHaveLength(301);
    const tombstone = read.find((r) => r.value === null)!;
    expect(tombstone).toMatchObject({ key: null, partition: 2 });

    const json = (await readJson<{ i: number; userId: string }>(config, name)).filter((r) => r.json !== null);
    expect(json.map((r) => r.json!.i).sort((a, b) => a - b)).toEqual(records.map((_, i) => i));
    for (const r of json) {
      expect(r.key).toBe(r.json!.userId);
      expect(r.headers['pulse.test.index']).toBe(String(r.json!.i));
    }
    // One key, one partition; within a partition, offsets are contiguous and in send order.
    const partitionOfKey = new Map<string, number>();
    for (const r of json) {
      expect(partitionOfKey.get(r.key!) ?? r.partition).toBe(r.partition);
      partitionOfKey.set(r.key!, r.partition);
    }
    for (let p = 0; p < 3; p++) {
      const inPartition = read.filter((r) => r.partition === p);
      expect(inPartition.map((r) => r.offset)).toEqual([...Array(inPartition.length).keys()]);
      const indexes = inPartition.filter((r) => r.value !== null).map((r) => Number(r.headers['pulse.test.index']));
      expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
    }
    // An empty topic reads as empty, at once.
    const empty = testTopic('read-empty');
    await createTopic(config, empty, 2);
    expect(await readAll(config, empty, { timeoutMs: 5_000 })).toEqual([]);
  });
});
