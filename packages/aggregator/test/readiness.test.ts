import { describe, expect, it } from 'vitest';
import { readinessOf, type ReadinessFacts } from '../src/index.js';

const bounds = { readyMaxLag: 1000, readyMaxCheckpointAgeMs: 30_000 };
const healthy: ReadinessFacts = { error: null, partitions: 42, restoring: 0, lag: 10, checkpointAgeMs: 900 };

describe('aggregator readiness', () => {
  it('is ready with every partition restored, little lag and a recent checkpoint, and with no partitions at all', () => {
    expect(readinessOf(healthy, bounds)).toMatchObject({ ready: true, reasons: [] });
    expect(readinessOf({ ...healthy, partitions: 0 }, bounds).ready).toBe(true);
    expect(readinessOf({ ...healthy, lag: 1000, checkpointAgeMs: 30_000 }, bounds).ready).toBe(true);
  });

  it('names each reason it is not ready', () => {
    const r = readinessOf({ error: 'Broker: Topic authorization failed', partitions: 42, restoring: 3, lag: 1001, checkpointAgeMs: 45_000 }, bounds);
    expect(r.ready).toBe(false);
    expect(r.reasons).toEqual([
      'stopped on an error: Broker: Topic authorization failed',
      '3 of 42 assigned partitions still restoring',
      'lag of 1001 records, above aggregator.readyMaxLag (1000)',
      'last checkpoint 45 s ago, above aggregator.readyMaxCheckpointAgeMs (30 s)',
    ]);
    for (const facts of [{ restoring: 1 }, { lag: 5000 }, { checkpointAgeMs: 31_000 }, { error: 'x' }]) expect(readinessOf({ ...healthy, ...facts }, bounds).ready, JSON.stringify(facts)).toBe(false);
  });
});
