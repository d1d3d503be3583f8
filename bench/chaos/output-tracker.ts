import { BatchConsumer, createLatencyHistogram, recordAt, type Histogram, type KafkaSettings } from '@pulse/engine';
import type { PulseConfig } from '@pulse/config';
import { consumerConfig, TOPICS, topicOffsets } from '@pulse/kafka';
import { intAt } from '../e2e/output-latency.js';
import type { LatencySecond } from './timeline.js';

const OLDEST = Buffer.from('"oldestEventTs":');
const COUNT = Buffer.from('"count":');
const WINDOW_START = Buffer.from('"windowStart":');

/** `user\u0000windowStart`: the key of one user's count in one window. */
export const windowKey = (user: string, windowStart: number): string => `${user}\u0000${windowStart}`;

/**
 * Reads user-activity-counts from its beginning for the whole run: the highest count of each user and
 * window (outputs carry absolute counts, so the highest is what the aggregator counted, and one above the
 * truth is an event counted twice), and the output latency of each second, as `pulse bench e2e` measures
 * it (the receive time minus the oldest event time an update newly reflects).
 */
export class OutputTracker {
  readonly counts = new Map<string, number>();
  records = 0;
  private readonly perSecond = new Map<number, Histogram>();
  private readonly consumer: BatchConsumer;
  private running = true;
  private readonly loop: Promise<void>;

  constructor(
    config: PulseConfig,
    group: string,
    partitions: number,
    /** Epoch ms that second 0 starts at. */
    private readonly origin: number,
  ) {
    const consumer = new BatchConsumer(consumerConfig(config, 'chaos-output', group, { 'fetch.wait.max.ms': 10 }) as KafkaSettings);
    consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic: TOPICS.userActivityCounts, partition, offset: -2 })));
    this.consumer = consumer;
    this.loop = (async () => {
      while (this.running) this.add(await consumer.poll(5000, 50), Date.now());
    })();
  }

  private add(batch: Awaited<ReturnType<BatchConsumer['poll']>>, receivedAt: number): void {
    this.records += batch.ends.length;
    let second: Histogram | undefined;
    for (const run of batch.runs) {
      for (let i = run.start; i < run.end; i++) {
        const { value, key } = recordAt(batch, run, i);
        const count = intAt(value, COUNT);
        const windowStart = intAt(value, WINDOW_START);
        if (count < 0 || windowStart < 0) continue;
        const k = windowKey(key.toString('utf8'), windowStart);
        const before = this.counts.get(k) ?? 0;
        if (count <= before) continue;
        this.counts.set(k, count);
        const oldest = intAt(value, OLDEST);
        if (oldest < 0) continue;
        if (second === undefined) {
          const t = Math.floor((receivedAt - this.origin) / 1000);
          second = this.perSecond.get(t);
          if (second === undefined) this.perSecond.set(t, (second = createLatencyHistogram()));
        }
        second.recordValueWithCount(Math.max(1, receivedAt - oldest), count - before);
      }
    }
  }

  /** Output latency by second since the origin. */
  seconds(): Map<number, LatencySecond> {
    const out = new Map<number, LatencySecond>();
    for (const [t, h] of this.perSecond) out.set(t, { t, p95: h.getValueAtPercentile(95), p99: h.getValueAtPercentile(99), count: h.totalCount });
    return out;
  }

  /** The latency histogram of the seconds `[from, to)`, merged. */
  histogram(from: number, to: number): Histogram {
    const h = createLatencyHistogram();
    for (const [t, s] of this.perSecond) if (t >= from && t < to) h.add(s);
    return h;
  }

  /** Keys whose highest count differs from `expected` (and keys counted that were never expected). */
  differences(expected: ReadonlyMap<string, number>): { key: string; expected: number; counted: number }[] {
    const out: { key: string; expected: number; counted: number }[] = [];
    for (const [key, n] of expected) {
      const counted = this.counts.get(key) ?? 0;
      if (counted !== n) out.push({ key, expected: n, counted });
    }
    for (const [key, counted] of this.counts) if (!expected.has(key)) out.push({ key, expected: 0, counted });
    return out;
  }

  /** The partitions' end offsets have been read (as of this call). */
  async caughtUp(config: PulseConfig): Promise<boolean> {
    const ends = await topicOffsets(config, TOPICS.userActivityCounts);
    const total = ends.reduce((n, p) => n + p.high - p.low, 0);
    return this.records >= total;
  }

  async close(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.consumer.close();
  }
}
