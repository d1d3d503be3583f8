import { describe, expect, it } from 'vitest';
import { median, spread } from '../lib/stats.js';

describe('stats helpers', () => {
  it('takes the middle value, or the mean of the middle two', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
  });

  it('does not reorder its input', () => {
    const runs = [3, 1, 2];
    median(runs);
    expect(runs).toEqual([3, 1, 2]);
  });

  it('refuses no values and non-finite ones', () => {
    expect(() => median([])).toThrow(/no values/);
    expect(() => median([1, Number.NaN])).toThrow(/non-finite/);
  });

  it('summarises runs as median and range', () => {
    expect(spread([10, 30, 20, 25])).toEqual({ median: 22.5, min: 10, max: 30, runs: 4 });
  });
});
