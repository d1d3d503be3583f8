import type { Rng } from './prng.js';

/**
 * Samples ranks 0..n-1 with P(rank k) ∝ 1/(k+1)^exponent in O(1) per draw (Vose's alias method: one
 * uniform picks a column and its fraction decides between the column and its alias). Built once, in
 * O(n); sampling by binary search over a CDF would cost log2(10 000) ≈ 14 steps per event.
 */
export class ZipfSampler {
  private readonly prob: Float64Array;
  private readonly alias: Int32Array;

  constructor(
    readonly n: number,
    readonly exponent: number,
  ) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`Zipf sampler needs n ≥ 1, got ${n}`);
    const weights = new Float64Array(n);
    let sum = 0;
    for (let k = 0; k < n; k++) sum += weights[k] = Math.pow(k + 1, -exponent);
    this.prob = new Float64Array(n);
    this.alias = new Int32Array(n);
    const scaled = weights.map((w) => (w * n) / sum);
    const small: number[] = [];
    const large: number[] = [];
    for (let k = n - 1; k >= 0; k--) (scaled[k]! < 1 ? small : large).push(k);
    while (small.length > 0 && large.length > 0) {
      const s = small.pop()!;
      const l = large.pop()!;
      this.prob[s] = scaled[s]!;
      this.alias[s] = l;
      scaled[l] = scaled[l]! + scaled[s]! - 1;
      (scaled[l]! < 1 ? small : large).push(l);
    }
    // What remains is 1 up to rounding.
    for (const k of large) this.prob[k] = 1;
    for (const k of small) this.prob[k] = 1;
  }

  /** Probability of a rank, for tests and documentation. */
  static probability(n: number, exponent: number, rank: number): number {
    let sum = 0;
    for (let k = 1; k <= n; k++) sum += Math.pow(k, -exponent);
    return Math.pow(rank + 1, -exponent) / sum;
  }

  sample(rng: Rng): number {
    const u = rng.float() * this.n;
    const column = Math.floor(u);
    return u - column < this.prob[column]! ? column : this.alias[column]!;
  }
}
