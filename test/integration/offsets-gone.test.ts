import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { TOPICS } from '../../packages/kafka/src/index.js';
import { memoryLog } from '../../packages/log/src/index.js';
import { openStore, Sink, type Store } from '../../packages/sink/src/index.js';
import { deleteRecordsBefore, keysOn, produceRecords, readAll, testConfig } from './helpers/index.js';
import { resetTopics, testAggregators, waitUntil } from './helpers/pipeline.js';

const T0 = 1_764_099_900_000;
const count = (userId: string, n: number) => ({
  partition: 0,
  key: userId,
  value: JSON.stringify({ userId, windowStart: T0, windowEnd: T0 + 300_000, count: n, final: false, oldestEventTs: T0 }),
});

describe('offsets that no longer point where they did', () => {
  const bootstrap = inject('kafkaBootstrap');
  const config = { ...testConfig(), dataDir: mkdtempSync(join(tmpdir(), 'pulse-offsets-gone-')) };
  const aggregators = testAggregators(bootstrap);
  let store: Store | null = null;
  afterEach(async () => {
    await aggregators.killAll();
    await store?.close();
    store = null;
  });

  /** Runs a sink until the store holds a row for each of `users`; returns its log. */
  async function sinkUntil(users: string[]): Promise<{ log: string[]; sink: Sink }> {
    const memory = memoryLog();
    const log = memory.lines;
    const sink = new Sink(config, store!, { log: memory });
    await sink.start();
    await waitUntil(`rows of ${users.join(', ')}`, async () => {
      const rows = await store!.query('SELECT user_id FROM user_activity', []);
      return users.every((u) => rows.some((r) => r.user_id === u)) ? true : undefined;
    });
    await sink.stop();
    return { log, sink };
  }

  it('sink: offsets stored against a topic that was created again are not used, loudly', async () => {
    await resetTopics(config);
    store = await openStore(config);
    await produceRecords(config, TOPICS.userActivityCounts, [count('u-a', 1), count('u-b', 1), count('u-c', 1)]);
    await sinkUntil(['u-a', 'u-b', 'u-c']);

    // A new topic of the same name (as after `pulse kafka start --fresh`): its offsets start at 0 again,
    // and pass the 3 the store has reached before the sink starts.
    await resetTopics(config);
    await produceRecords(config, TOPICS.userActivityCounts, ['u-d', 'u-e', 'u-f', 'u-g', 'u-h'].map((u) => count(u, 1)));
    const { log, sink } = await sinkUntil(['u-d', 'u-e', 'u-f', 'u-g', 'u-h']);
    expect(log.join('\n')).toMatch(/warn: the offsets in the store for user-activity-counts belong to another topic of that name/);
    expect(sink.counters.foreignOffsetTopics).toBeGreaterThanOrEqual(1);
  });

  it('sink: records deleted by retention while it was stopped are skipped loudly and put on record', async () => {
    await resetTopics(config);
    await store?.close();
    store = await openStore({ ...config, dataDir: mkdtempSync(join(tmpdir(), 'pulse-offsets-gone-')) });
    await produceRecords(config, TOPICS.userActivityCounts, [count('g-a', 1), count('g-b', 1), count('g-c', 1)]);
    await sinkUntil(['g-a', 'g-b', 'g-c']);
    await produceRecords(config, TOPICS.userActivityCounts, [count('g-lost-1', 1), count('g-lost-2', 1), count('g-d', 1), count('g-e', 1)]);
    await deleteRecordsBefore(config, TOPICS.userActivityCounts, 0, 5);

    const { log, sink } = await sinkUntil(['g-d', 'g-e']);
    expect(log.join('\n')).toMatch(/warn: 2 records of user-activity-counts\/0 \(offsets 3 to 4\) were deleted by retention before they were processed/);
    expect(sink.counters.skippedRecords).toBe(2);
    const audit = (await readAll(config, TOPICS.deadLetters)).filter((r) => r.headers['pulse.error.reason'] === 'retention_gap');
    expect(audit.map((r) => [r.headers['pulse.error.stage'], r.headers['pulse.source.topic'], r.headers['pulse.source.partition'], r.headers['pulse.source.offset']])).toEqual([
      ['sink', TOPICS.userActivityCounts, '0', '3'],
    ]);
  });

  it('aggregator: events deleted by retention while it was stopped are skipped loudly, put on record, and the rest counted', async () => {
    await resetTopics(config);
    const [user] = keysOn('gap-user', 4, 12, 1) as [string];
    const click = (i: number) => ({
      partition: 4,
      key: user,
      value: JSON.stringify({ eventId: `e${i}`, type: 'page_view', userId: user, sessionId: 's', source: 'web', ts: T0 + i, properties: {} }),
    });
    const latestCount = async () =>
      (await readAll(config, TOPICS.userActivityCounts)).map((r) => JSON.parse(r.value!.toString()) as { userId: string; count: number }).filter((c) => c.userId === user).at(-1)?.count;

    const group = `gap-${Date.now()}`;
    const first = aggregators.start(group);
    await produceRecords(config, TOPICS.userClicks, Array.from({ length: 20 }, (_, i) => click(i)));
    await waitUntil('20 counted', async () => ((await latestCount()) === 20 ? true : undefined));
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    await produceRecords(config, TOPICS.userClicks, Array.from({ length: 30 }, (_, i) => click(20 + i)));
    await deleteRecordsBefore(config, TOPICS.userClicks, 4, 40);
    const second = aggregators.start(group);
    await second.waitFor(/WARN: aggregator: 20 records of user-clicks\/4 \(offsets 20 to 39\) were deleted by retention/);
    await waitUntil('the 10 after the gap counted', async () => ((await latestCount()) === 30 ? true : undefined));
    const audit = (await readAll(config, TOPICS.deadLetters)).filter((r) => r.headers['pulse.error.reason'] === 'retention_gap');
    expect(audit.map((r) => [r.headers['pulse.error.stage'], r.headers['pulse.source.partition'], r.headers['pulse.source.offset']])).toEqual([['aggregator', '4', '20']]);
  });
});
