import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { TOPICS } from '../../packages/kafka/src/index.js';
import { keysOn, produceRecords, readAll, rng, testConfig, type ProduceRecord, type ReadRecord } from './helpers/index.js';
import { resetTopics, restoredCount, testAggregators, waitUntil } from './helpers/pipeline.js';

type RawRecord = ProduceRecord & { partition: number; key: string; value: string };

const MIN = 60_000;
/** A window boundary: 2025-11-25T19:45:00Z. */
const T0 = 1_764_099_900_000;
const PARTITIONS = 12;

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

const click = (eventId: string, userId: string, ts: number) =>
  JSON.stringify({ eventId, type: 'product_view', userId, sessionId: `s-${userId}`, productId: 'p-1', source: 'web', ts, properties: {} });

interface Fixture {
  /** Records in the order they are produced; each user always on the same partition. */
  records: RawRecord[];
  /** `${userId}|${windowStart}` → the count its final record must carry. */
  finals: Map<string, number>;
  /** Value of each record that must become a dead letter → its reason. */
  deadLetters: Map<string, string>;
}

/**
 * Per partition: events of window A [T0, T0+5m) and of window B's first minute, shuffled together, with
 * malformed records, one from far in the future and one of another partition's user among them; then an event at T0+6m+1s, which closes A (grace 60 s); then late events
 * for A; then one at T0+20m, which closes B. Every count is known in advance.
 */
function fixture(seed: number): Fixture {
  const random = rng(seed);
  const finals = new Map<string, number>();
  const deadLetters = new Map<string, string>();
  const records: RawRecord[] = [];
  let id = 0;
  for (let p = 0; p < PARTITIONS; p++) {
    const open: RawRecord[] = [];
    const users = keysOn(`u-${p}`, p, PARTITIONS, 3);
    const [first] = users as [string];
    for (const user of users) {
      const inA = 1 + Math.floor(random() * 8);
      const inB = Math.floor(random() * 4);
      finals.set(`${user}|${T0}`, inA);
      if (inB > 0) finals.set(`${user}|${T0 + 5 * MIN}`, inB);
      for (let i = 0; i < inA; i++) open.push({ partition: p, key: user, value: click(`e${id++}`, user, T0 + Math.floor(random() * 5 * MIN)) });
      for (let i = 0; i < inB; i++) open.push({ partition: p, key: user, value: click(`e${id++}`, user, T0 + 5 * MIN + Math.floor(random() * MIN)) });
    }
    const bad: [string, string][] = [
      [`{"eventId":"bad-${p}", not json`, 'invalid_json'],
      [JSON.stringify({ eventId: `nouser-${p}`, type: 'click', ts: T0 }), 'missing_field'],
      [JSON.stringify({ eventId: `strts-${p}`, userId: first, ts: 'yesterday' }), 'wrong_type'],
      // 2038: counted, it would close every open window of the partition for good.
      [click(`future-${p}`, first, Date.UTC(2038, 0, 1)), 'future'],
      // A user of the next partition, as a producer with another partitioner would place it: counted
      // here, that user's count would be split over two partitions.
      [click(`misplaced-${p}`, keysOn(`u-${(p + 1) % PARTITIONS}`, (p + 1) % PARTITIONS, PARTITIONS, 1)[0]!, T0), 'wrong_partition'],
    ];
    for (const [value, reason] of bad) {
      deadLetters.set(value, reason);
      open.push({ partition: p, key: first, value });
    }
    records.push(...shuffle(open, random));
    const [advancer] = keysOn(`adv-${p}`, p, PARTITIONS, 1) as [string];
    records.push({ partition: p, key: advancer, value: click(`e${id++}`, advancer, T0 + 6 * MIN + 1000) });
    finals.set(`${advancer}|${T0 + 5 * MIN}`, 1);
    const late = click(`late-${p}`, first, T0 + MIN);
    deadLetters.set(late, 'late');
    records.push({ partition: p, key: first, value: late });
    const [closer] = keysOn(`close-${p}`, p, PARTITIONS, 1) as [string];
    records.push({ partition: p, key: closer, value: click(`e${id++}`, closer, T0 + 20 * MIN) });
  }
  return { records, finals, deadLetters };
}

interface CountRecord {
  userId: string;
  windowStart: number;
  windowEnd: number;
  count: number;
  final: boolean;
}

/** The final counts seen so far, checking that repeated finals of a window agree. */
function finalsOf(outputs: ReadRecord[]): Map<string, number> {
  const finals = new Map<string, number>();
  for (const m of outputs) {
    const r = JSON.parse(m.value!.toString()) as CountRecord;
    expect(m.key).toBe(r.userId);
    expect(r.windowEnd - r.windowStart).toBe(5 * MIN);
    if (!r.final) continue;
    const key = `${r.userId}|${r.windowStart}`;
    const seen = finals.get(key);
    if (seen !== undefined) expect(r.count, `a repeated final of ${key} must repeat the same count`).toBe(seen);
    finals.set(key, r.count);
  }
  return finals;
}

/** Updates never run ahead of the final count of their window. */
function expectUpdatesBoundedByFinals(outputs: ReadRecord[], finals: Map<string, number>): void {
  for (const m of outputs) {
    const r = JSON.parse(m.value!.toString()) as CountRecord;
    const final = finals.get(`${r.userId}|${r.windowStart}`);
    if (final !== undefined) expect(r.count).toBeLessThanOrEqual(final);
  }
}

describe('aggregator against a real broker', () => {
  const bootstrap = inject('kafkaBootstrap');
  const config = testConfig();
  const aggregators = testAggregators(bootstrap);
  const startAggregator = aggregators.start;

  /** Waits until every expected final is present, then checks finals, updates and dead letters exactly. */
  async function expectExactResults(f: Fixture, opts: { deadLettersOnce: boolean }): Promise<void> {
    const outputs = await waitUntil('all final counts', async () => {
      const out = await readAll(config, TOPICS.userActivityCounts);
      const finals = finalsOf(out);
      return [...f.finals.keys()].every((k) => finals.has(k)) ? out : undefined;
    });
    const finals = finalsOf(outputs);
    expect(Object.fromEntries(finals)).toEqual(Object.fromEntries(f.finals));
    expectUpdatesBoundedByFinals(outputs, finals);

    const dead = await waitUntil('all dead letters', async () => {
      const all = await readAll(config, TOPICS.deadLetters);
      return new Set(all.map((m) => m.value!.toString())).size >= f.deadLetters.size ? all : undefined;
    });
    const bySource = new Map<string, string>();
    for (const m of dead) {
      const value = m.value!.toString();
      expect(m.headers['pulse.error.reason'], value).toBe(f.deadLetters.get(value));
      expect(m.headers['pulse.error.stage']).toBe('aggregator');
      expect(m.headers['pulse.source.topic']).toBe(TOPICS.userClicks);
      expect(m.headers['pulse.error.detail']?.length).toBeGreaterThan(5);
      const source = `${m.headers['pulse.source.partition']}@${m.headers['pulse.source.offset']}`;
      // A replay after a crash may repeat a dead letter, but only for the same source record.
      if (bySource.has(source)) expect(bySource.get(source)).toBe(value);
      bySource.set(source, value);
    }
    expect(new Set(bySource.values())).toEqual(new Set(f.deadLetters.keys()));
    if (opts.deadLettersOnce) expect(dead.length).toBe(f.deadLetters.size);
  }

  beforeEach(async () => {
    await resetTopics(config);
  });

  afterEach(() => aggregators.killAll());

  it('counts every event exactly and sends malformed, future, misplaced and late events to dead-letters', async () => {
    const f = fixture(1);
    const aggregator = startAggregator(`agg-exact-${Date.now()}`, ['--metrics-port', '0']);
    await aggregator.waitFor(/metrics on http:\/\/127\.0\.0\.1:\d+\/metrics/);
    const ops = /metrics on (http:\/\/127\.0\.0\.1:\d+)\/metrics/.exec(aggregator.output())![1]!;
    // Ready once its 42 input partitions are assigned and restored.
    const ready = await waitUntil('the aggregator ready', async () => {
      const res = await fetch(`${ops}/readyz`);
      const body = (await res.json()) as { ready: boolean; partitions: number };
      return res.status === 200 && body.partitions > 0 ? body : undefined;
    });
    expect(ready).toMatchObject({ ready: true, reasons: [], partitions: 42, restoring: 0 });
    await produceRecords(config, TOPICS.userClicks, f.records);
    await expectExactResults(f, { deadLettersOnce: true });

    const metrics = await (await fetch(`${ops}/metrics`)).text();
    for (const reason of ['invalid_json', 'missing_field', 'wrong_type', 'future', 'wrong_partition', 'late']) {
      expect(metrics, reason).toMatch(new RegExp(`^pulse_aggregator_dead_letters_total\\{reason="${reason}"\\} ${PARTITIONS}$`, 'm'));
    }
    expect(metrics).toMatch(/^pulse_aggregator_partitions 42$/m);
    expect(metrics).toMatch(/^pulse_aggregator_ready 1$/m);
    expect((await fetch(`${ops}/healthz`)).status).toBe(200);

    aggregator.child.kill('SIGTERM');
    expect(await aggregator.exited).toBe(0);
  });

  it('loses and double-counts nothing when the aggregator is SIGKILLed mid-stream and restarted', async () => {
    const f = fixture(2);
    const group = `agg-kill-${Date.now()}`;
    const first = startAggregator(group);
    await first.waitFor(/aggregator: restored 42 partitions/);
    const half = Math.floor(f.records.length / 2);
    await produceRecords(config, TOPICS.userClicks, f.records.slice(0, half));
    // Let it process and checkpoint some of it (a snapshot in the changelog), then kill it without warning.
    await waitUntil('first outputs', async () => ((await readAll(config, TOPICS.userActivityCounts)).length > 0 ? true : undefined));
    await waitUntil('a first checkpoint', async () => ((await readAll(config, TOPICS.aggregatorChangelog)).length > 0 ? true : undefined));
    first.child.kill('SIGKILL');
    await first.exited;

    await produceRecords(config, TOPICS.userClicks, f.records.slice(half));
    const second = startAggregator(group);
    await expectExactResults(f, { deadLettersOnce: false });
    expect(second.output()).toMatch(/user-clicks 12 \([1-9]\d* from snapshots\)/);
  });

  it('moves partitions to the surviving aggregator when one of two is killed, with exact counts', async () => {
    const f = fixture(3);
    const group = `agg-pair-${Date.now()}`;
    const a = startAggregator(group);
    const b = startAggregator(group);
    await waitUntil('both aggregators to own partitions', async () =>
      /restored \d+ partitions/.test(a.output()) && /restored \d+ partitions/.test(b.output()) ? true : undefined,
    );
    const third = Math.floor(f.records.length / 3);
    await produceRecords(config, TOPICS.userClicks, f.records.slice(0, third));
    await waitUntil('first outputs', async () => ((await readAll(config, TOPICS.userActivityCounts)).length > 0 ? true : undefined));
    a.child.kill('SIGKILL');
    await a.exited;
    await produceRecords(config, TOPICS.userClicks, f.records.slice(third));

    await expectExactResults(f, { deadLettersOnce: false });
    // The survivor restored A's partitions after A's session expired: every input partition, over its restores.
    expect(restoredCount(b.output())).toBeGreaterThanOrEqual(42);
  });

  it('writes a whole snapshot per partition on first assignment, then parts and deltas, and restores them exactly after a SIGKILL', async () => {
    const f = fixture(4);
    // Users of window B's first seconds, before the fixture: enough that a whole snapshot needs parts of 1 KiB.
    const extra: RawRecord[] = [];
    for (let p = 0; p < PARTITIONS; p++) {
      for (const user of keysOn(`many-${p}`, p, PARTITIONS, 150)) {
        f.finals.set(`${user}|${T0 + 5 * MIN}`, 2);
        for (let i = 0; i < 2; i++) extra.push({ partition: p, key: user, value: click(`m-${user}-${i}`, user, T0 + 5 * MIN + 1000 + i) });
      }
    }
    const checkpointed = testAggregators(bootstrap, { PULSE_AGGREGATOR_SNAPSHOT_PART_BYTES: '1024', PULSE_AGGREGATOR_MAX_DELTAS: '4' });
    try {
      const group = `agg-deltas-${Date.now()}`;
      const first = checkpointed.start(group);
      await first.waitFor(/aggregator: restored 42 partitions/);
      const keysOf = async () => new Set((await readAll(config, TOPICS.aggregatorChangelog)).map((m) => m.key ?? ''));
      // No event yet, and every input partition already has its checkpoint: a restore never searches for one.
      const empty = await waitUntil('a whole snapshot of every partition', async () => {
        const keys = await keysOf();
        return keys.size >= 42 ? keys : undefined;
      });
      expect([...empty].filter((k) => /^(user-clicks|user-purchases|sensor-data):\d+$/.test(k))).toHaveLength(42);

      await produceRecords(config, TOPICS.userClicks, extra);
      const half = Math.floor(f.records.length / 2);
      await produceRecords(config, TOPICS.userClicks, f.records.slice(0, half));
      const keys = await waitUntil('deltas and a snapshot in parts', async () => {
        const k = [...(await keysOf())];
        return k.some((x) => x.includes('#')) && k.some((x) => x.includes('~')) ? k : undefined;
      });
      expect(keys.filter((k) => k.startsWith('user-clicks:') && k.includes('#')).length).toBeGreaterThan(0);
      first.child.kill('SIGKILL');
      await first.exited;

      await produceRecords(config, TOPICS.userClicks, f.records.slice(half));
      const second = checkpointed.start(group);
      await expectExactResults(f, { deadLettersOnce: false });
      expect(second.output()).toMatch(/user-clicks 12 \(12 from snapshots\)/);
      expect(second.output()).not.toMatch(/WARN/);
    } finally {
      await checkpointed.killAll();
    }
  });
});
