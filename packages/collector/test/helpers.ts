import { loadConfig } from '@pulse/config';
import type { HttpLimits } from '@pulse/http';
import type { FastifyInstance } from 'fastify';
import { buildCollectorApp } from '../src/app.js';
import type { Delivery } from '../src/delivery.js';
import { Ingest, type IngestOptions } from '../src/ingest.js';
import { CollectorMetrics } from '../src/metrics.js';
import { outputTopics } from '../src/segment.js';
import { DEFAULT_TOPICS } from '../src/server.js';
import type { RecordSink } from '../src/sink.js';

export interface Written {
  topic: string;
  key: string;
  value: Record<string, unknown>;
}

/** A sink that answers like Kafka would: acknowledges, fails, or holds records until told. */
const OUTPUT_TOPICS = outputTopics(DEFAULT_TOPICS);

export class FakeSink implements RecordSink {
  available = true;
  answer: 'ack' | 'fail' | 'hold' = 'ack';
  readonly written: Written[] = [];
  private pending = 0;
  private held: (() => void)[] = [];

  inFlight(): number {
    return this.pending;
  }

  produce(topic: string, key: string, value: Buffer, delivery: Delivery, index: number): boolean {
    this.pending++;
    const settle = (error: Error | null) => {
      this.pending--;
      if (error === null) this.written.push({ topic, key, value: JSON.parse(value.toString('utf8')) as Record<string, unknown> });
      delivery.recordSettled(index, error);
    };
    if (this.answer === 'hold') this.held.push(() => settle(null));
    else setImmediate(() => settle(this.answer === 'fail' ? new Error('Broker: Not enough in-sync replicas') : null));
    return true;
  }

  produceOutputs(packed: Buffer, starts: Uint32Array, delivery: Delivery): number {
    starts.forEach((at, index) => {
      const keyLength = packed.readUInt32LE(at + 1);
      const valueAt = at + 5 + keyLength;
      const value = packed.subarray(valueAt + 4, valueAt + 4 + packed.readUInt32LE(valueAt));
      this.produce(OUTPUT_TOPICS[packed[at]!]!, packed.toString('utf8', at + 5, valueAt), value, delivery, index);
    });
    return starts.length;
  }

  /** Acknowledges the held records. */
  release(): void {
    for (const settle of this.held.splice(0)) settle();
  }

  async close(): Promise<void> {}
}

export const KEY = 'test-key';
export const AUTH = { authorization: `Basic ${Buffer.from(`${KEY}:`).toString('base64')}` };
/** 2025-11-25T19:46:40.000Z, the collector's clock in these tests. */
export const NOW = 1_764_100_000_000;

export interface TestCollector {
  app: FastifyInstance;
  sink: FakeSink;
  metrics: CollectorMetrics;
}

export async function testCollector(options: { rateLimit?: number; ingest?: Partial<IngestOptions>; http?: HttpLimits } = {}): Promise<TestCollector> {
  const sink = new FakeSink();
  const metrics: CollectorMetrics = new CollectorMetrics({ inFlight: () => sink.inFlight(), kafkaUp: () => sink.available, dedup: () => ingest.dedupStats() });
  const ingest: Ingest = new Ingest(sink, { dedupWindowMs: 60_000, dedupMaxEntries: 1000, ackTimeoutMs: 300, maxInFlightEvents: 10_000, now: () => NOW, ...options.ingest }, metrics);
  const app = await buildCollectorApp({ writeKeys: [KEY], rateLimit: options.rateLimit ?? 0, ingest, metrics, topics: DEFAULT_TOPICS, http: options.http ?? loadConfig({ env: {} }).http, now: () => NOW });
  return { app, sink, metrics };
}
