import { describe, expect, it } from 'vitest';
import { wholeSnapshots, type ChainState } from '../src/whole-snapshots.js';

const chain = (name: string, s: Partial<ChainState>): ChainState & { name: string } => ({ name, chain: 7, seq: 1, baseBytes: 1000, deltaBytes: 100, ...s });
const names = (set: Set<{ name: string }>) => [...set].map((p) => p.name).sort();

describe('which checkpoints are written whole', () => {
  it('writes whole what has no chain, and everything with maxDeltas 0', () => {
    const parts = [chain('new', { chain: 0, seq: 0 }), chain('young', {})];
    expect(names(wholeSnapshots(parts, 60))).toEqual(['new']);
    expect(names(wholeSnapshots(parts, 0))).toEqual(['new', 'young']);
  });

  it('of the partitions that are due, takes only the most overdue, so that each gets its turn', () => {
    const parts = [chain('due-by-count', { seq: 60 }), chain('due-by-bytes', { deltaBytes: 1500 }), chain('most-overdue', { seq: 100 }), chain('not-due', { seq: 10 })];
    expect(names(wholeSnapshots(parts, 60))).toEqual(['most-overdue']);
    // The next checkpoint, with that one rebased: the next most overdue.
    const next = [chain('due-by-count', { seq: 61 }), chain('due-by-bytes', { deltaBytes: 1600 }), chain('most-overdue', { seq: 1 })];
    expect(names(wholeSnapshots(next, 60))).toEqual(['due-by-bytes']);
  });

  it('never lets a chain grow past twice maxDeltas, however many are due', () => {
    const parts = [chain('a', { seq: 120 }), chain('b', { seq: 130 }), chain('c', { seq: 70 }), chain('d', { seq: 65 })];
    // a and b must; of the others that are due, the most overdue as usual.
    expect(names(wholeSnapshots(parts, 60))).toEqual(['a', 'b', 'c']);
  });
});
