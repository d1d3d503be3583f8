import { describe, expect, it } from 'vitest';
import { CHANGELOG_PARTITIONS, assembleCheckpoint, baseRecords, belongsTo, changelogPartition, deltaRecord, partTombstones, snapshotKey, type ChangelogRecord } from '../src/changelog.js';

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

describe('checkpoints in the changelog', () => {
  const key = snapshotKey('user-clicks', 3);
  const frame = Buffer.from(Array.from({ length: 25 }, (_, i) => i));
  /** The latest record of each key, as the reader gathers them: later records replace earlier ones. */
  const stored = (...writes: ChangelogRecord[][]) => {
    const latest = new Map<string, { offset: number; value: Buffer | null }>();
    let offset = 0;
    for (const records of writes) for (const r of records) latest.set(r.key, { offset: offset++, value: r.value });
    return latest;
  };

  it('writes a small whole snapshot as one record and reads it back with the deltas after it, in order', () => {
    expect(baseRecords(key, 7, frame, 100)).toEqual([{ key, value: frame }]);
    const latest = stored(baseRecords(key, 7, Buffer.from('old'), 100), [deltaRecord(key, 1, Buffer.from('stale'))], baseRecords(key, 9, frame, 100), [deltaRecord(key, 1, Buffer.from('d1'))], [deltaRecord(key, 2, Buffer.from('d2'))]);
    const checkpoint = assembleCheckpoint(key, latest, true)!;
    expect(checkpoint.base).toEqual(frame);
    expect(checkpoint.deltas.map(String)).toEqual(['d1', 'd2']);
    expect(checkpoint.parts).toBeNull();
  });

  it('splits a large whole snapshot into parts before its manifest and reassembles it', () => {
    const records = baseRecords(key, 7, frame, 10);
    expect(records.map((r) => r.key)).toEqual([`${key}~7~0`, `${key}~7~1`, `${key}~7~2`, key]);
    expect(records.slice(0, 3).every((r) => r.value!.length <= 10)).toBe(true);
    const checkpoint = assembleCheckpoint(key, stored(records, [deltaRecord(key, 1, Buffer.from('d1'))]), true)!;
    expect(checkpoint.base).toEqual(frame);
    expect(checkpoint.parts).toEqual({ chain: 7, count: 3 });
    expect(checkpoint.deltas.map(String)).toEqual(['d1']);
  });

  it('ignores the parts of a newer snapshot whose manifest was never written, and waits for parts not read yet', () => {
    const older = baseRecords(key, 7, frame, 10);
    const torn = baseRecords(key, 8, Buffer.alloc(30, 1), 10).slice(0, 2);
    expect(assembleCheckpoint(key, stored(older, torn), true)!.base).toEqual(frame);
    // Read back from the end, the manifest comes before its parts: not whole yet, unless the partition is read to its start.
    const onlyManifest = stored(older.slice(3));
    expect(assembleCheckpoint(key, onlyManifest, false)).toBeUndefined();
    expect(() => assembleCheckpoint(key, onlyManifest, true)).toThrow(/no part 0 of 3/);
  });

  it('knows the keys of a checkpoint and tombstones the parts of a replaced snapshot', () => {
    expect(belongsTo(`${key}#4`, key)).toBe(true);
    expect(belongsTo(`${key}~7~0`, key)).toBe(true);
    expect(belongsTo(key, key)).toBe(true);
    expect(belongsTo(`${snapshotKey('user-clicks', 31)}`, snapshotKey('user-clicks', 3))).toBe(false);
    expect(partTombstones(key, 7, 2)).toEqual([{ key: `${key}~7~0`, value: null }, { key: `${key}~7~1`, value: null }]);
  });
});
