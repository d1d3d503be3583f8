import { describe, expect, it } from 'vitest';
import { TOPICS } from '@pulse/kafka';
import { createShopModel, intendedOffsetMs, plannedEvents, runGenerator, type EventSink } from '../src/index.js';

const T0 = 1_764_100_000_000;

interface Sent {
  topic: string;
  key: string;
  value: string;
  at: number;
}

/** An in-memory producer: records what it is given and when; `accept` can simulate a full queue. */
class FakeSink implements EventSink {
  readonly sent: Sent[] = [];
  flushed = 0;
  attempts = 0;
  constructor(private readonly accept: (attempt: number) => boolean = () => true) {}
  produce(topic: string, _partition: number | null, value: Buffer | null, key: Buffer | string | null): boolean {
    if (!this.accept(this.attempts++)) return false;
    this.sent.push({ topic, key: String(key), value: value!.toString(), at: performance.now() });
    return true;
  }
  inFlight(): number {
    return 0;
  }
  stats() {
    return { produced: this.sent.length, delivered: this.sent.length, failed: 0 };
  }
  async flush(): Promise<void> {
    this.flushed++;
  }
  async drained(): Promise<void> {}
}

const tsOf = (s: Sent): number => (JSON.parse(s.value) as { ts: number }).ts;

describe('pacing math', () => {
  it('computes intended offsets exactly, without drift', () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((i) => intendedOffsetMs(i, 3))).toEqual([0, 333, 666, 1000, 1333, 1666, 2000]);
    expect(intendedOffsetMs(100_000, 100_000)).toBe(1000);
    expect(intendedOffsetMs(99_999, 100_000)).toBe(999);
    // Ten hours at 100 000/s: still exactly on the millisecond grid.
    expect(intendedOffsetMs(3_600_000_000, 100_000)).toBe(36_000_000);
    expect(intendedOffsetMs(7, 0.5)).toBe(14_000);
  });

  it('plans rate × duration events', () => {
    expect(plannedEvents(5000, 2)).toBe(10_000);
    expect(plannedEvents(3, 0.5)).toBe(2);
    expect(plannedEvents(1000, Infinity)).toBe(Infinity);
  });
});

describe('runGenerator', () => {
  it('sends rate × duration events, each with its intended ts, on schedule', async () => {
    const sink = new FakeSink();
    const stats = await runGenerator({ producer: sink, rate: 2000, durationSec: 1, seed: 's', startTs: T0 });
    expect(sink.sent).toHaveLength(2000);
    expect(stats.events).toBe(2000);
    expect(sink.sent.map(tsOf)).toEqual(sink.sent.map((_, i) => T0 + intendedOffsetMs(i, 2000)));
    // Never early: event i leaves no sooner than its intended offset after the start (sendMs ends
    // with the last event).
    const start = sink.sent[sink.sent.length - 1]!.at - stats.sendMs;
    const early = sink.sent.filter((s, i) => s.at - start < intendedOffsetMs(i, 2000) - 0.5);
    expect(early).toEqual([]);
    expect(stats.sendMs).toBeGreaterThan(990);
    expect(stats.sendMs).toBeLessThan(1500);
    expect(stats.achievedRate).toBeGreaterThan(2000 * 0.66);
    expect(stats.achievedRate).toBeLessThan(2000 * 1.02);
    expect(Object.values(stats.perTopic).reduce((a, b) => a + b, 0)).toBe(2000);
    expect(stats.perTopic[TOPICS.sensorData]).toBe(sink.sent.filter((s) => s.topic === TOPICS.sensorData).length);
    expect(stats.perType.purchase).toBe(stats.perTopic[TOPICS.userPurchases]);
    expect(stats).toMatchObject({ seed: 's', startTs: T0, targetRate: 2000, produced: 2000, delivered: 2000, failed: 0, aborted: false });
    expect(sink.flushed).toBe(1);
  });

  it('produces exactly what the model generates for the same seed and start', async () => {
    const a = new FakeSink();
    const b = new FakeSink();
    await runGenerator({ producer: a, rate: 20_000, durationSec: 0.25, seed: 9, startTs: T0, users: 1000 });
    await runGenerator({ producer: b, rate: 20_000, durationSec: 0.25, seed: 9, startTs: T0, users: 1000 });
    const model = createShopModel(9, { users: 1000 });
    const expected = Array.from({ length: 5000 }, (_, i) => model.next(T0 + intendedOffsetMs(i, 20_000)));
    expect(a.sent.map(({ topic, key, value }) => ({ topic, key, value }))).toEqual(expected);
    expect(b.sent.map((s) => s.value)).toEqual(a.sent.map((s) => s.value));
  });

  it('retries on a full queue without losing or reordering events', async () => {
    // Refuses two attempts in every fifty.
    const sink = new FakeSink((attempt) => attempt % 50 > 1);
    const stats = await runGenerator({ producer: sink, rate: 5000, durationSec: 0.4, seed: 'q', startTs: T0 });
    expect(sink.sent).toHaveLength(2000);
    expect(stats.queueFullWaits).toBeGreaterThan(0);
    const model = createShopModel('q');
    expect(sink.sent.map((s) => s.value)).toEqual(sink.sent.map((_, i) => model.next(T0 + intendedOffsetMs(i, 5000)).value));
  });

  it('catches up after falling behind, keeping intended times and reporting the lag', async () => {
    // The queue is full for the first 300 ms: the backlog then goes out at once.
    let openAt = 0;
    const sink = new FakeSink(() => {
      if (openAt === 0) openAt = performance.now() + 300;
      return performance.now() >= openAt;
    });
    const progress: number[] = [];
    const stats = await runGenerator({
      producer: sink,
      rate: 4000,
      durationSec: 0.6,
      seed: 'lag',
      startTs: T0,
      progressIntervalMs: 100,
      onProgress: (p) => progress.push(p.behindMs),
    });
    expect(sink.sent).toHaveLength(2400);
    expect(sink.sent.map(tsOf)).toEqual(sink.sent.map((_, i) => T0 + intendedOffsetMs(i, 4000)));
    expect(stats.maxBehindMs).toBeGreaterThan(250);
    expect(Math.max(...progress)).toBeGreaterThan(50);
    // Caught up: the last events left close to their intended time.
    const start = sink.sent[0]!.at - 300;
    const last = sink.sent[sink.sent.length - 1]!;
    expect(last.at - start - intendedOffsetMs(2399, 4000)).toBeLessThan(100);
  });

  it('stops on abort, flushing what it sent', async () => {
    const controller = new AbortController();
    const sink = new FakeSink((attempt) => {
      if (attempt === 150) controller.abort();
      return true;
    });
    const stats = await runGenerator({ producer: sink, rate: 1000, durationSec: Infinity, signal: controller.signal });
    expect(stats.aborted).toBe(true);
    expect(stats.events).toBe(sink.sent.length);
    // It stops within the burst being sent, a few milliseconds' worth at this rate.
    expect(stats.events).toBeGreaterThan(150);
    expect(stats.events).toBeLessThan(200);
    expect(sink.flushed).toBe(1);
    expect(stats.seed).toMatch(/^\d+$/);
  });

  it('rejects bad options by name', async () => {
    const sink = new FakeSink();
    await expect(runGenerator({ producer: sink, rate: 0, durationSec: 1 })).rejects.toThrow(/^rate/);
    await expect(runGenerator({ producer: sink, rate: 10, durationSec: -1 })).rejects.toThrow(/^durationSec/);
    await expect(runGenerator({ producer: sink, rate: 10, durationSec: 1, startTs: 1.5 })).rejects.toThrow(/^startTs/);
    await expect(runGenerator({ rate: 10, durationSec: 1 })).rejects.toThrow(/config/);
  });
});
