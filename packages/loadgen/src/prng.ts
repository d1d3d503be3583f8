/**
 * A small seeded PRNG (sfc32, Chris Doty-Humphrey's "small fast counting" generator: 128-bit state,
 * passes PractRand, four 32-bit adds/shifts per draw) and the integer hashing the generator uses for
 * ids. Math.random cannot be seeded, and output must be identical for a given seed on every machine.
 */

export type Seed = string | number;

/** murmur3's 32-bit finaliser: a bijection on uint32 with good avalanche. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Four well-mixed 32-bit words from a seed (cyrb128). `42` and `"42"` give the same words. */
export function seedWords(seed: Seed): [number, number, number, number] {
  const s = String(seed);
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < s.length; i++) {
    const k = s.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

const TWO_POW_32 = 4294967296;

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare = NaN;

  constructor(seed: Seed, stream = 0) {
    const [a, b, c, d] = seedWords(seed);
    // Independent streams from one seed (sessions, sensors, …) so that changing how often one part
    // draws does not shift the others.
    this.a = (a ^ fmix32(stream + 1)) | 0;
    this.b = b | 0;
    this.c = c | 0;
    this.d = d | 0;
    for (let i = 0; i < 15; i++) this.next32();
  }

  /** A uniform uint32. */
  next32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.next32() / TWO_POW_32;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Standard normal (Box–Muller, the second value of each pair kept for the next call). */
  gaussian(): number {
    const spare = this.spare;
    if (spare === spare) {
      this.spare = NaN;
      return spare;
    }
    const u = 1 - this.float(); // (0, 1]: log(0) would be -Infinity
    const v = this.float();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

const HEX2: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** A uint32 as eight lowercase hex digits. */
export function hex8(x: number): string {
  return HEX2[x >>> 24]! + HEX2[(x >>> 16) & 255]! + HEX2[(x >>> 8) & 255]! + HEX2[x & 255]!;
}

/**
 * A UUID-shaped id (version 4 and variant bits set, as SDKs send) that is a pure function of a key and
 * a sequence number, and distinct for every sequence number below 2^53 under one key: the first and
 * last groups hold bijections of the sequence number's low and high words.
 */
export function sequenceUuid(key: readonly number[], seq: number): string {
  const lo = seq >>> 0;
  const hi = Math.floor(seq / TWO_POW_32) >>> 0;
  const a = fmix32((lo ^ key[0]!) >>> 0);
  const b = fmix32(((hi + key[1]!) ^ a) >>> 0);
  const c = fmix32((a ^ key[2]!) >>> 0);
  const d = fmix32((b ^ c ^ key[3]!) >>> 0);
  const ch = hex8(c);
  const dh = hex8(d);
  return (
    hex8(a) + '-' + ch.slice(0, 4) + '-4' + ch.slice(5, 8) + '-' + HEX2[0x80 | (d >>> 26)]!.slice(0, 1) + dh.slice(1, 4) + '-' + hex8(b) + dh.slice(4, 8)
  );
}
