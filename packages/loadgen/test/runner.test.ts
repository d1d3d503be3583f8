import { describe, expect, it } from 'vitest';
import { TOPICS } from '@pulse/kafka';
import { createShopModel, dueEvents, type GeneratedEvent, intendedOffsetMs, plannedEvents, runGenerator, type EventSink, type PackedEvents } from '../src/index.js';
import { Backlog } from '../src/producer.js';

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
  sendPacked(r: PackedEvents): boolean {
    if (!this.accept(this.attempts++)) return false;
    const at = performance.now();
    for (const { key, value } of unpack(r)) this.sent.push({ topic: r.topic, key, value, at });
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

function unpack(r: { values: Buffer; ends: Uint32Array; keys: Buffer; keyEnds: Uint32Array }, count = r.ends.length): { key: string; value: string }[] {
  return Array.from({ length: count }, (_, i) => ({
    key: r.keys.toString('utf8', i === 0 ? 0 : r.keyEnds[i - 1], r.keyEnds[i]),
    value: r.values.toString('utf8', i === 0 ? 0 : r.ends[i - 1], r.ends[i]),
  }));
}

/**
 * The events a run should send, one by one from the model, and the sent events put back in that order:
 * a burst goes out topic by topic, so only the order within a topic is the model's.
 */
function inRunOrder(sent: Sent[], seed: string | number, rate: number, options: { users?: number } = {}): { expected: GeneratedEvent[]; got: Sent[] } {
  const model = createShopModel(seed, options);
  const expected = Array.from({ length: sent.length }, (_, i) => model.next(T0 + intendedOffsetMs(i, rate)));
  const queues = new Map<string, Sent[]>();
  for (const s of sent) (queues.get(s.topic) ?? queues.set(s.topic, []).get(s.topic)!).push(s);
  const got = expected.map((e) => queues.get(e.topic)?.shift() ?? { topic: '(missing)', key: '', value: '', at: NaN });
  return { expected, got };
}

const strip = ({ topic, key, value }: { topic: string; key: string; value: string }) => ({ topic, key, value });

describe('pacing math', () => {
  it('computes intended offsets exactly, without drift', () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((i) => intendedOffsetMs(i, 3))).toEqual([0, 333, 666, 1000, 1333, 1666, 2000]);
    expect(intendedOffsetMs(100_000, 100_000)).toBe(1000);
    expect(intendedOffsetMs(99_999, 100_000)).toBe(999);
    // Ten hours at 100 000/s: still exactly on the millisecond grid.
    expect(intendedOffsetMs(3_600_000_000, 100_000)).toBe(36_000_000);
    expect(intendedOffsetMs(7, 0.5)).toBe(14_000);
  });

  it('counts the events due by an elapsed time exactly', () => {
    for (const rate of [3, 1000, 2000, 7919, 100_000, 333_333]) {
      for (const ms of [0, 0.5, 1, 2.9, 999, 1000, 12_345.6]) {
        const n = dueEvents(ms, rate);
        // Event n-1 is due (offset ≤ the whole ms elapsed), event n is not.
        expect(intendedOffsetMs(n - 1, rate)).toBeLessThanOrEqual(Math.floor(ms));
        expect(intendedOffsetMs(n, rate)).toBeGreaterThan(Math.floor(ms));
      }
    }
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
    // Each event is the model's, with its intended time as ts.
    const { expected, got } = inRunOrder(sink.sent, 's', 2000);
    expect(got.map(strip)).toEqual(expected);
    // Never early: event i leaves no sooner than its intended offset after the start (sendMs ends
    // with the last burst).
    const start = Math.max(...sink.sent.map((s) => s.at)) - stats.sendMs;
    const early = got.filter((s, i) => s.at - start < intendedOffsetMs(i, 2000) - 0.5);
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
    expect(a.sent).toHaveLength(5000);
    const { expected, got } = inRunOrder(a.sent, 9, 20_000, { users: 1000 });
    expect(got.map(strip)).toEqual(expected);
    const again = inRunOrder(b.sent, 9, 20_000, { users: 1000 });
    expect(again.got.map(strip)).toEqual(expected);
  });

  it('retries on a full queue without losing or reordering events', async () => {
    // Refuses two offers in every fifty.
    const sink = new FakeSink((attempt) => attempt % 50 > 1);
    const stats = await runGenerator({ producer: sink, rate: 5000, durationSec: 0.4, seed: 'q', startTs: T0 });
    expect(sink.sent).toHaveLength(2000);
    expect(stats.queueFullWaits).toBeGreaterThan(0);
    const { expected, got } = inRunOrder(sink.sent, 'q', 5000);
    expect(got.map(strip)).toEqual(expected);
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
    const { expected, got } = inRunOrder(sink.sent, 'lag', 4000);
    expect(got.map(strip)).toEqual(expected);
    expect(stats.maxBehindMs).toBeGreaterThan(250);
    expect(Math.max(...progress)).toBeGreaterThan(50);
    // Caught up: the last events left close to their intended time.
    const start = sink.sent[0]!.at - 300;
    expect(got[2399]!.at - start - intendedOffsetMs(2399, 4000)).toBeLessThan(100);
  });

  it('wakes once a tick, sending what has come due and nothing early', async () => {
    const sink = new FakeSink();
    const start = performance.now();
    await runGenerator({ producer: sink, rate: 2000, durationSec: 0.5, seed: 't', startTs: T0, tickMs: 20 });
    expect(sink.sent).toHaveLength(1000);
    // 0.5 s of 20 ms ticks is 25 wake-ups (a few more if timers fire late), each one call per topic.
    expect(sink.attempts).toBeLessThanOrEqual(3 * 30);
    const { got } = inRunOrder(sink.sent, 't', 2000);
    for (const [i, s] of got.entries()) expect(s.at - start).toBeGreaterThanOrEqual(intendedOffsetMs(i, 2000) - 1);
  });

  it('stops on abort, flushing what it sent', async () => {
    const controller = new AbortController();
    const sink = new FakeSink((attempt) => {
      if (attempt === 150) controller.abort();
      return true;
    });
    const stats = await runGenerator({ producer: sink, rate: 1000, durationSec: Infinity, signal: controller.signal, tickMs: 1 });
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
    await expect(runGenerator({ producer: sink, rate: 10, durationSec: 1, tickMs: 0 })).rejects.toThrow(/^tickMs/);
    await expect(runGenerator({ rate: 10, durationSec: 1 })).rejects.toThrow(/config/);
  });
});

describe('the backlog of records a full queue turned away', () => {
  const model = createShopModel('backlog', { users: 50 });
  const burst = (n: number): PackedEvents => model.nextPaced(T0, 1000, n).find((r) => r.topic === TOPICS.userClicks)!;

  it('keeps records in order across partial takes, growing as it must', () => {
    const b = new Backlog();
    const bursts = [burst(300), burst(50_000), burst(10)];
    const expected = [...unpack(bursts[0]!).slice(120), ...unpack(bursts[1]!), ...unpack(bursts[2]!)];
    b.push(bursts[0]!, 120);
    b.push(bursts[1]!, 0);
    b.push(bursts[2]!, 0);
    expect(b.count).toBe(expected.length);
    expect(unpack(b, b.count)).toEqual(expected);
    b.shift(7);
    expect(unpack(b, b.count)).toEqual(expected.slice(7));
    b.shift(b.count);
    expect(b.count).toBe(0);
    b.push(bursts[2]!, 3);
    expect(unpack(b, b.count)).toEqual(unpack(bursts[2]!).slice(3));
  });
});
