import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runE2E } from '../../bench/e2e/run.js';
import { testBootstrap, testConfig } from './helpers/index.js';
import { resetTopics } from './helpers/pipeline.js';

// The headline benchmark, small: generator → broker → aggregator → user-activity-counts on the test
// broker, with the in-run Kafka baseline. Real processes, so its figures are checked for consistency,
// not for speed.
describe('bench e2e against Kafka', () => {
  beforeAll(() => resetTopics(testConfig()));
  afterAll(() => resetTopics(testConfig()));

  it('aggregates the paced load, measures both latencies and reads the rate against Kafka\'s own producer', async () => {
    const rate = 2_000;
    const durationSec = 8;
    const result = await runE2E({
      config: testConfig(),
      rate,
      durationSec,
      warmupSec: 2,
      brokerWarmupSec: 0,
      baselineRecords: 20_000,
      bootstrapServers: testBootstrap(),
      dataDir: resolve('.pulse/test-e2e-bench'),
      port: 0,
      seed: 'e2e-test',
      producer: 'tuned',
      outputPartitions: 3,
      log: () => {},
    });

    // About 1% of the generated user events are purchases; the rest are the clicks aggregated.
    expect(result.events).toBeGreaterThan(rate * durationSec * 0.9);
    expect(result.achievedRate).toBeGreaterThan(rate * 0.85);
    expect(result.achievedRate).toBeLessThan(rate * 1.15);
    expect(result.deadLetters).toBe(0);

    const measuredEvents = result.achievedRate * result.measuredSec;
    expect(result.stateLatencyMs.count).toBeGreaterThan(measuredEvents * 0.8);
    // The measuring consumer reads 3 of the 12 output partitions: about a quarter of the users.
    expect(result.outputLatencyMs.count).toBeGreaterThan(result.stateLatencyMs.count * 0.1);
    expect(result.outputLatencyMs.count).toBeLessThan(result.stateLatencyMs.count * 0.5);
    for (const l of [result.stateLatencyMs, result.outputLatencyMs]) {
      expect(l.p50).toBeLessThanOrEqual(l.p95);
      expect(l.p95).toBeLessThanOrEqual(l.p99);
      expect(l.p99).toBeLessThanOrEqual(l.max);
    }
    // An update is read after the state reflected it: at least half an emit interval later, typically.
    expect(result.outputLatencyMs.p50).toBeGreaterThan(result.stateLatencyMs.p50);

    const baseline = result.kafkaBaseline!;
    expect(baseline.records).toBe(20_000);
    expect(baseline.recordSize).toBeGreaterThan(150);
    expect(baseline.recordsPerSec).toBeGreaterThan(rate);
    expect(baseline.fractionReached).toBeCloseTo(result.achievedRate / baseline.recordsPerSec, 2);

    expect(Object.keys(result.processes).sort()).toEqual(['aggregator', 'bench', 'generator']);
    expect(result.processes.aggregator!.cpuPercent).toBeGreaterThan(0);
    expect(result.lagSeries.length).toBeGreaterThan(durationSec - 2);
  });
});
