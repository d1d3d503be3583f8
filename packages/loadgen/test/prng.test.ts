import { describe, expect, it } from 'vitest';
import { Rng, ZipfSampler, sequenceUuid } from '../src/index.js';
import { seedWords } from '../src/prng.js';

describe('Rng', () => {
  it('is deterministic per seed and stream, and uniform in [0, 1)', () => {
    const a = new Rng('x');
    const b = new Rng('x');
    const c = new Rng('x', 1);
    const xs = Array.from({ length: 1000 }, () => a.float());
    expect(Array.from({ length: 1000 }, () => b.float())).toEqual(xs);
    expect(Array.from({ length: 1000 }, () => c.float())).not.toEqual(xs);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    const buckets = new Array<number>(10).fill(0);
    const r = new Rng(7);
    for (let i = 0; i < 100_000; i++) buckets[r.int(10)]!++;
    for (const n of buckets) expect(Math.abs(n - 10_000)).toBeLessThan(500);
  });

  it('draws standard normals', () => {
    const r = new Rng(3);
    const xs = Array.from({ length: 100_000 }, () => r.gaussian());
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(variance - 1)).toBeLessThan(0.03);
  });
});

describe('sequenceUuid', () => {
  const key = seedWords('ids');

  it('is UUID-shaped and distinct for every sequence number, including beyond 2^32', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200_000; i++) seen.add(sequenceUuid(key, i));
    for (const i of [2 ** 32, 2 ** 32 + 1, 2 ** 40, 2 ** 53 - 1]) seen.add(sequenceUuid(key, i));
    expect(seen.size).toBe(200_004);
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    expect([...seen].filter((id) => !uuid.test(id))).toEqual([]);
  });

  it('depends on the key', () => {
    expect(sequenceUuid(seedWords('a'), 5)).not.toBe(sequenceUuid(seedWords('b'), 5));
    expect(sequenceUuid(seedWords('a'), 5)).toBe(sequenceUuid(seedWords('a'), 5));
  });
});

describe('ZipfSampler', () => {
  it('draws ranks with probability ∝ 1/rank^s', () => {
    for (const [n, s] of [
      [1000, 1],
      [50, 1.2],
    ] as const) {
      const sampler = new ZipfSampler(n, s);
      const rng = new Rng(`zipf-${n}`);
      const draws = 1_000_000;
      const counts = new Array<number>(n).fill(0);
      for (let i = 0; i < draws; i++) counts[sampler.sample(rng)]!++;
      for (let rank = 0; rank < 5; rank++) {
        const expected = ZipfSampler.probability(n, s, rank) * draws;
        expect(Math.abs(counts[rank]! - expected) / expected).toBeLessThan(0.03);
      }
      expect(counts.reduce((a, b) => a + b, 0)).toBe(draws);
    }
  });

  it('handles a single item', () => {
    expect(new ZipfSampler(1, 1).sample(new Rng(1))).toBe(0);
  });
});
