import { afterAll, describe, expect, it } from 'vitest';
import { deleteTopics, producerConfig, TrackedProducer } from '../../packages/kafka/src/index.js';
import { chooseSettings } from '../../bench/tune/choose.js';
import { measureRoundTrips, measureTopicRate, PROBE_TOPIC, topicPartitions } from '../../bench/tune/measure.js';
import { runTune } from '../../bench/tune/run.js';
import { runSweep, SWEEP_TOPIC } from '../../bench/sweep/run.js';
import { createTopic, testBootstrap, testConfig, uniqueTopic } from './helpers/index.js';

const busy = uniqueTopic('tune-busy');
const idle = uniqueTopic('tune-idle');

afterAll(async () => {
  await deleteTopics(testConfig(), [busy, idle, PROBE_TOPIC, SWEEP_TOPIC]);
});

/** Produces `rate` records/s to `topic` until `signal` aborts; resolves with the count it produced. */
async function paced(topic: string, rate: number, signal: AbortSignal): Promise<number> {
  const producer = await TrackedProducer.connect(producerConfig(testConfig(), 'test-paced', { 'linger.ms': 5 } as never));
  const start = performance.now();
  let sent = 0;
  while (!signal.aborted) {
    const due = Math.floor(((performance.now() - start) * rate) / 1000);
    for (; sent < due; sent++) await producer.send(topic, null, Buffer.from(`{"n":${sent}}`), `k-${sent}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  await producer.close();
  return sent;
}

describe('pulse tune against Kafka', () => {
  it('measures a topic rate from its high watermarks', async () => {
    const config = testConfig();
    await createTopic(config, busy, 3);
    await createTopic(config, idle, 2);
    const stop = new AbortController();
    const producing = paced(busy, 1000, stop.signal);
    await new Promise((r) => setTimeout(r, 1000));
    const [measured, quiet] = await Promise.all([measureTopicRate(config, busy, 3), measureTopicRate(config, idle, 1)]);
    stop.abort();
    expect(await producing).toBeGreaterThan(2500);
    expect(measured).toMatchObject({ topic: busy, partitions: 3 });
    expect(measured.windowSec).toBeGreaterThanOrEqual(3);
    // Paced at 1000/s; a busy machine may run the producer a little behind.
    expect(measured.ratePerSec).toBeGreaterThan(600);
    expect(measured.ratePerSec).toBeLessThan(1300);
    expect(quiet).toMatchObject({ partitions: 2, ratePerSec: 0 });
  });

  it('refuses a topic that does not exist', async () => {
    await expect(topicPartitions(testConfig(), uniqueTopic('missing'))).rejects.toThrow(/does not exist/);
    await expect(measureTopicRate(testConfig(), busy, 0)).rejects.toThrow(/windowSec/);
  });

  it('measures produce and metadata round trips on its own probe topic', async () => {
    const trips = await measureRoundTrips(testConfig(), 20);
    expect(trips.produceMs.samples).toBe(20);
    expect(trips.produceMs.median).toBeGreaterThan(0);
    expect(trips.produceMs.median).toBeLessThan(1000);
    expect(trips.produceMs.p90).toBeGreaterThanOrEqual(trips.produceMs.median);
    expect(trips.metadataMs.median).toBeGreaterThan(0);
    expect(await topicPartitions(testConfig(), PROBE_TOPIC)).toBe(1);
  });

  it('chooses settings from what it measured, with the env that applies them', async () => {
    const result = await runTune({ config: testConfig(), topic: busy, rate: 50_000, rateWindowSec: 1, budgetMs: 100, roundTrips: 10, log: () => {} });
    expect(result.inputs).toMatchObject({ ratePerSec: 50_000, partitions: 3, budgetMs: 100, rttMs: result.roundTrips.produceMs.median });
    expect(result.rateSource).toBe('given');
    expect(result.inputs.recordBytes).toBeGreaterThan(100);
    expect(result.choice).toEqual(chooseSettings(result.inputs));
    // The test broker listens on 127.0.0.1: nothing to save by compressing.
    expect(result.inputs.loopback).toBe(true);
    expect(result.choice.compression).toBe('none');
    expect(result.env).toEqual({
      PULSE_PRODUCER_BATCH_SIZE: String(result.choice.batchSizeBytes),
      PULSE_PRODUCER_LINGER_MS: String(result.choice.lingerMs),
      PULSE_PRODUCER_COMPRESSION: 'none',
      PULSE_AGGREGATOR_CONSUME_BATCH_SIZE: String(result.choice.consumerBatchSize),
    });
    await expect(runTune({ config: testConfig(), topic: idle, rateWindowSec: 1, budgetMs: 100, roundTrips: 5, log: () => {} })).rejects.toThrow(/--rate/);
  });
});

describe('pulse bench sweep against Kafka', () => {
  it('measures the tuner and the spec static settings at each rate, every record acknowledged', async () => {
    const result = await runSweep({
      config: testConfig(),
      batchSizes: [65_536],
      lingers: [2],
      compressions: ['none'],
      acks: ['all'],
      rates: [300, 600],
      stepSec: 1,
      repeats: 2,
      budgetMs: 100,
      bootstrapServers: testBootstrap(),
      dataDir: '/nonexistent',
      port: 0,
      seed: 'sweep-it',
      log: () => {},
    });
    // The grid point, the spec static settings (added since the grid lacks them) and the tuner.
    expect(result.series.map((s) => s.kind).sort()).toEqual(['grid', 'spec', 'tuner']);
    for (const s of result.series) {
      expect(s.steps.map((st) => st.targetRate)).toEqual([300, 600]);
      for (const st of s.steps) {
        expect(st.failed).toBe(0);
        expect(st.missingReports).toBe(0);
        // Every record intended in the measured second is counted once: acknowledged within it or after.
        expect(st.latencyMs.count).toBe(st.sentRate);
        expect(st.latencyMs.count).toBeGreaterThanOrEqual(st.targetRate * 0.9);
        expect(st.latencyMs.p50).toBeGreaterThan(0);
        expect(st.latencyMs.p99).toBeGreaterThanOrEqual(st.latencyMs.p50);
      }
    }
    const grid = result.series.find((s) => s.kind === 'grid')!;
    expect(grid.steps[0]!.settings).toEqual({ batchSizeBytes: 65_536, lingerMs: 2, compression: 'none', acks: 'all' });
    expect(result.series.find((s) => s.kind === 'spec')!.steps[1]!.settings).toEqual({ batchSizeBytes: 16_384, lingerMs: 10, compression: 'lz4', acks: '1' });
    expect(result.tunerChoices.map((c) => c.rate)).toEqual([300, 600]);
    expect(result.series.find((s) => s.kind === 'tuner')!.steps[0]!.settings.lingerMs).toBe(result.tunerChoices[0]!.choice.lingerMs);
    expect(result.optimum).toHaveLength(2);
    // Tuner and spec static ran twice per rate, the grid once.
    for (const s of result.series) for (const st of s.steps) expect(st.p99Runs?.length).toBe(s.kind === 'grid' ? undefined : 2);
  });
});
