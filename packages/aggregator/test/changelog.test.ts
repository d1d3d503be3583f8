import { describe, expect, it } from 'vitest';
import { CHANGELOG_PARTITIONS, changelogPartition, snapshotKey } from '../src/changelog.js';

describe('changelog layout', () => {
  it('spreads the 42 input partitions evenly over the 12 changelog partitions, one key each', () => {
    const load = new Array<number>(CHANGELOG_PARTITIONS).fill(0);
    const keys = new Set<string>();
    for (const [topic, n] of [['user-clicks', 12], ['user-purchases', 6], ['sensor-data', 24]] as const) {
      for (let p = 0; p < n; p++) {
        load[changelogPartition(topic, p)]!++;
        keys.add(snapshotKey(topic, p));
      }
    }
    expect(keys.size).toBe(42);
    expect(Math.max(...load) - Math.min(...load)).toBeLessThanOrEqual(1);
    expect(changelogPartition('user-clicks', 7)).toBe(7);
    expect(changelogPartition('user-purchases', 0)).toBe(0);
    expect(changelogPartition('sensor-data', 23)).toBe(5);
    expect(() => changelogPartition('dead-letters', 0)).toThrow(/not an input topic/);
  });
});
