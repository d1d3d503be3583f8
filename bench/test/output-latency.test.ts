import { describe, expect, it } from 'vitest';
import { OutputLatency } from '../e2e/output-latency.js';
import { batchOf } from './batch.js';

const update = (userId: string, windowStart: number, count: number, oldestEventTs: number) => ({
  key: userId,
  value: { userId, windowStart, windowEnd: windowStart + 300_000, count, final: false, oldestEventTs },
});

describe('OutputLatency', () => {
  it('records the events each update adds, at receive time minus its oldest event', () => {
    const output = new OutputLatency(0, 0);
    output.add(batchOf([update('u-1', 0, 3, 1_000), update('u-2', 0, 1, 1_010)]), 1_050);
    output.add(batchOf([update('u-1', 0, 5, 1_020)]), 1_100);
    const h = output.histogram;
    expect(output.records).toBe(3);
    expect(h.totalCount).toBe(6); // 3 + 1 + (5 - 3)
    expect(h.minNonZeroValue).toBe(40);
    expect(h.maxValue).toBe(80);
    expect(h.getValueAtPercentile(50)).toBe(50);
  });

  it('keeps counts per user and window, and counts a repeated update once', () => {
    const output = new OutputLatency(0, 0);
    output.add(batchOf([update('u-1', 0, 4, 1_000), update('u-1', 300_000, 2, 1_000), update('u-1', 0, 4, 1_000)]), 1_010);
    expect(output.histogram.totalCount).toBe(6);
  });

  it('reads a final count, which has no oldestEventTs, as no latency, and the update after it as its own', () => {
    const output = new OutputLatency(0, 0);
    const final = { key: 'u-1', value: { userId: 'u-1', windowStart: 0, windowEnd: 300_000, count: 5, final: true } };
    output.add(batchOf([final, update('u-2', 300_000, 2, 1_000)]), 1_030);
    expect(output.histogram.totalCount).toBe(2);
    expect(output.histogram.maxValue).toBe(30);
  });

  it('keeps the p99 and max of each second, the warm-up included', () => {
    const output = new OutputLatency(10_000, 0);
    output.add(batchOf([update('u-1', 0, 1, 300)]), 500);
    output.add(batchOf([update('u-1', 0, 2, 900)]), 1_000);
    output.add(batchOf([update('u-1', 0, 4, 1_200)]), 1_500);
    output.endSecond();
    expect(output.series).toEqual([
      { t: 0, p99: 200, max: 200 },
      { t: 1, p99: 300, max: 300 },
    ]);
    expect(output.histogram.totalCount).toBe(0);
  });

  it('leaves out the warm-up and records it cannot read', () => {
    const output = new OutputLatency(2_000, 0);
    output.add(batchOf([update('u-1', 0, 3, 1_999), { key: 'u-2', value: '{"userId":"u-2","count":x}' }, { key: 'u-3', value: 'not json' }]), 2_100);
    output.add(batchOf([update('u-1', 0, 4, 2_000)]), 2_100);
    expect(output.records).toBe(4);
    expect(output.histogram.totalCount).toBe(1);
  });
});
