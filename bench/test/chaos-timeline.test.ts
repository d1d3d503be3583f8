import { describe, expect, it } from 'vitest';
import { availability, longestStall, recoverySeconds, type LatencySecond } from '../chaos/timeline.js';

const seconds = (entries: [number, number, number][]): Map<number, LatencySecond> => new Map(entries.map(([t, p95, count]) => [t, { t, p95, p99: p95, count }]));

describe('chaos run arithmetic', () => {
  it('a stall is the longest time progress stood still before the final value', () => {
    const samples = [
      { t: 0, value: 0 },
      { t: 1, value: 10 },
      { t: 2, value: 10 },
      { t: 3, value: 10 },
      { t: 4, value: 25 },
      { t: 5, value: 30 },
      { t: 6, value: 30 },
      { t: 7, value: 30 },
      { t: 8, value: 30 },
      { t: 9, value: 30 },
    ];
    // 10 from t=1 to t=4; standing at the final 30 from t=5 on is being done, not a stall.
    expect(longestStall(samples, 30)).toEqual({ seconds: 3, from: 1 });
    // Short of its final value, it stalls until the last sample.
    expect(longestStall(samples, 40)).toEqual({ seconds: 4, from: 5 });
    expect(longestStall([], 5)).toEqual({ seconds: 0, from: 0 });
  });

  it('recovery ends with the last slow or silent second after the failure', () => {
    // Fast, failure at 10.5: slow at 11, silent at 12, fast from 13, slow again at 15, fast after.
    const s = seconds([
      [9, 20, 100],
      [10, 30, 100],
      [11, 900, 40],
      [13, 40, 100],
      [14, 50, 100],
      [15, 150, 100],
      [16, 30, 100],
    ]);
    expect(recoverySeconds(s, 10.5, 17, 100)).toBe(5.5);
    expect(recoverySeconds(s, 13, 15, 100)).toBe(0);
  });

  it('availability counts the seconds whose p95 met the target, a silent second as missed', () => {
    const s = seconds([
      [0, 20, 10],
      [1, 120, 10],
      [3, 99, 10],
    ]);
    expect(availability(s, 0, 4, 100)).toEqual({ good: 2, total: 4, share: 0.5 });
  });
});
