import { describe, expect, it } from 'vitest';
import { chooseSettings, SPEC_STATIC, type TuneInputs } from '../tune/choose.js';
import { isLoopback } from '../tune/run.js';

// The spec's worked example: 1 ms RTT, 100 000 events/s over user-clicks' 12 partitions, 0.1 holding cost.
const SPEC_EXAMPLE: TuneInputs = { rttMs: 1, ratePerSec: 100_000, partitions: 12, recordBytes: 230, budgetMs: 100 };

describe('chooseSettings', () => {
  it('reproduces the spec formula as written (408 events) and in consistent units', () => {
    const { formula } = chooseSettings(SPEC_EXAMPLE);
    expect(formula.literalEvents).toBe(408);
    expect(formula.literalFillMs).toBeCloseTo(49, 0);
    // 8.333 events/ms: √(2·1·8.333/0.1) = 12.9 events, about 3 KB of 230-byte events, gathered in 1.5 ms.
    expect(formula.events).toBeCloseTo(12.9, 1);
    expect(formula.bytes).toBeGreaterThan(2900);
    expect(formula.bytes).toBeLessThan(3000);
    expect(formula.fillMs).toBeCloseTo(1.5, 1);
  });

  it('lingers at least 20 ms, so that a producer sends at most 50 requests a second to each partition', () => {
    const c = chooseSettings({ ...SPEC_EXAMPLE, budgetMs: 200 });
    // The formula's batch fills in 1.5 ms; 1.5 ms lingers would be ~670 requests a second.
    expect(c.lingerMs).toBe(20);
    expect(c.reasons.join('\n')).toMatch(/at most 50 requests a second to each partition/);
    // 8.333 events/ms · 20 ms · 230 B ≈ 38 KB, four times, as a power of two.
    expect(c.batchSizeBytes).toBe(262_144);
  });

  it('lingers as long as a partition takes to gather the formula batch when that is longer', () => {
    const c = chooseSettings({ ...SPEC_EXAMPLE, ratePerSec: 500, budgetMs: 200 });
    expect(c.formula.fillMs).toBeGreaterThan(20);
    expect(Math.abs(c.lingerMs - c.formula.fillMs)).toBeLessThanOrEqual(0.5);
  });

  it('lingers at least two round trips, however fast the batch fills', () => {
    const c = chooseSettings({ ...SPEC_EXAMPLE, rttMs: 15, ratePerSec: 600_000, budgetMs: 200 });
    expect(c.formula.fillMs).toBeLessThan(3);
    expect(c.lingerMs).toBe(30);
    expect(c.reasons.join('\n')).toMatch(/two round trips/);
    // The budget still wins over the floor.
    expect(chooseSettings({ ...SPEC_EXAMPLE, rttMs: 40, budgetMs: 100 }).lingerMs).toBe(20);
  });

  it('lingers longer at lower rates, but never beyond a fifth of the budget', () => {
    const slow = chooseSettings({ ...SPEC_EXAMPLE, ratePerSec: 500, budgetMs: 200 });
    expect(slow.lingerMs).toBeGreaterThan(chooseSettings({ ...SPEC_EXAMPLE, budgetMs: 200 }).lingerMs);
    expect(chooseSettings({ ...SPEC_EXAMPLE, ratePerSec: 100 }).lingerMs).toBe(20);
    expect(chooseSettings({ ...SPEC_EXAMPLE, ratePerSec: 100, budgetMs: 30 }).lingerMs).toBe(6);
  });

  it('sizes batches so the linger, not the size, closes them', () => {
    const c = chooseSettings({ ...SPEC_EXAMPLE, rttMs: 2, ratePerSec: 40_000, partitions: 4, recordBytes: 1000 });
    const perPartitionBytesInLinger = (40_000 / 4 / 1000) * c.lingerMs * 1000;
    expect(c.batchSizeBytes).toBeGreaterThanOrEqual(4 * perPartitionBytesInLinger);
    expect(Math.log2(c.batchSizeBytes) % 1).toBe(0);
    expect(chooseSettings({ ...SPEC_EXAMPLE, ratePerSec: 10_000_000, partitions: 1, recordBytes: 10_000 }).batchSizeBytes).toBe(1_048_576);
  });

  it('gives the consumer a tenth of the budget per batch', () => {
    expect(chooseSettings(SPEC_EXAMPLE).consumerBatchSize).toBe(1111);
    expect(chooseSettings({ ...SPEC_EXAMPLE, budgetMs: 1000 }).consumerBatchSize).toBe(10_000);
    expect(chooseSettings({ ...SPEC_EXAMPLE, budgetMs: 1 }).consumerBatchSize).toBe(32);
  });

  it('explains each decision and warns when the round trip alone breaks the budget', () => {
    const c = chooseSettings(SPEC_EXAMPLE);
    expect(c.reasons.join('\n')).toMatch(/linger\.ms 20/);
    expect(c.reasons.join('\n')).toMatch(/batch\.size 262,144/);
    expect(c.reasons.some((r) => r.startsWith('warning'))).toBe(false);
    expect(chooseSettings({ ...SPEC_EXAMPLE, rttMs: 80 }).reasons.some((r) => r.startsWith('warning'))).toBe(true);
  });

  it('compresses with lz4 as the spec says, except for brokers on this machine', () => {
    expect(chooseSettings(SPEC_EXAMPLE).compression).toBe('lz4');
    expect(chooseSettings({ ...SPEC_EXAMPLE, loopback: false }).compression).toBe('lz4');
    const local = chooseSettings({ ...SPEC_EXAMPLE, loopback: true });
    expect(local.compression).toBe('none');
    expect(local.reasons.join('\n')).toMatch(/compression none/);
  });

  it('refuses inputs it cannot reason about', () => {
    expect(() => chooseSettings({ ...SPEC_EXAMPLE, ratePerSec: 0 })).toThrow(/ratePerSec/);
    expect(() => chooseSettings({ ...SPEC_EXAMPLE, partitions: 1.5 })).toThrow(/partitions/);
    expect(() => chooseSettings({ ...SPEC_EXAMPLE, rttMs: Number.NaN })).toThrow(/rttMs/);
    expect(() => chooseSettings({ ...SPEC_EXAMPLE, holdingCost: 0 })).toThrow(/holdingCost/);
  });

  it('keeps the spec static settings as the baseline', () => {
    expect(SPEC_STATIC).toEqual({ batchSizeBytes: 16_384, lingerMs: 10, compression: 'lz4' });
  });
});

describe('isLoopback', () => {
  it('is true only when every bootstrap server is this machine', () => {
    expect(isLoopback('127.0.0.1:9092')).toBe(true);
    expect(isLoopback('localhost:9092,127.0.0.2:9094')).toBe(true);
    expect(isLoopback('[::1]:9092')).toBe(true);
    expect(isLoopback('127.0.0.1:9092,kafka-2:9092')).toBe(false);
    expect(isLoopback('10.0.0.5:9092')).toBe(false);
    expect(isLoopback('127.0.0.1.example.com:9092')).toBe(false);
  });
});
