//! A small seeded PRNG (sfc32, Chris Doty-Humphrey's "small fast counting" generator: 128-bit state,
//! passes PractRand, four 32-bit adds/shifts per draw) and the integer hashing the shop uses for ids.
//! Output must be identical for a given seed on every machine, so nothing here depends on the platform.

/// murmur3's 32-bit finaliser: a bijection on u32 with good avalanche.
pub fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// Four well-mixed 32-bit words from a seed (cyrb128 over its UTF-16 code units, as JavaScript sees
/// the string, so a seed means the same thing wherever it is typed).
pub fn seed_words(seed: &str) -> [u32; 4] {
    let (mut h1, mut h2, mut h3, mut h4): (u32, u32, u32, u32) = (1_779_033_703, 3_144_134_277, 1_013_904_242, 2_773_480_762);
    for k in seed.encode_utf16().map(u32::from) {
        h1 = h2 ^ (h1 ^ k).wrapping_mul(597_399_067);
        h2 = h3 ^ (h2 ^ k).wrapping_mul(2_869_860_233);
        h3 = h4 ^ (h3 ^ k).wrapping_mul(951_274_213);
        h4 = h1 ^ (h4 ^ k).wrapping_mul(2_716_044_179);
    }
    h1 = (h3 ^ (h1 >> 18)).wrapping_mul(597_399_067);
    h2 = (h4 ^ (h2 >> 22)).wrapping_mul(2_869_860_233);
    h3 = (h1 ^ (h3 >> 17)).wrapping_mul(951_274_213);
    h4 = (h2 ^ (h4 >> 19)).wrapping_mul(2_716_044_179);
    h1 ^= h2 ^ h3 ^ h4;
    h2 ^= h1;
    h3 ^= h1;
    h4 ^= h1;
    [h1, h2, h3, h4]
}

const TWO_POW_32: f64 = 4_294_967_296.0;

#[derive(Debug, Clone)]
pub struct Rng {
    a: u32,
    b: u32,
    c: u32,
    d: u32,
    spare: Option<f64>,
}

impl Rng {
    /// Independent streams from one seed (sessions, sensors, …), so that changing how often one part
    /// draws does not shift the others.
    pub fn new(seed: &str, stream: u32) -> Self {
        let [a, b, c, d] = seed_words(seed);
        let mut rng = Rng { a: a ^ fmix32(stream.wrapping_add(1)), b, c, d, spare: None };
        for _ in 0..15 {
            rng.next_u32();
        }
        rng
    }

    pub fn next_u32(&mut self) -> u32 {
        let t = self.a.wrapping_add(self.b).wrapping_add(self.d);
        self.d = self.d.wrapping_add(1);
        self.a = self.b ^ (self.b >> 9);
        self.b = self.c.wrapping_add(self.c << 3);
        self.c = self.c.rotate_left(21).wrapping_add(t);
        t
    }

    /// Uniform in [0, 1).
    pub fn float(&mut self) -> f64 {
        f64::from(self.next_u32()) / TWO_POW_32
    }

    /// Uniform integer in [0, n).
    pub fn int(&mut self, n: usize) -> usize {
        (self.float() * n as f64) as usize
    }

    /// Standard normal (Box–Muller, the second value of each pair kept for the next call).
    pub fn gaussian(&mut self) -> f64 {
        if let Some(spare) = self.spare.take() {
            return spare;
        }
        let u = 1.0 - self.float(); // (0, 1]: ln(0) would be -inf
        let v = self.float();
        let r = (-2.0 * u.ln()).sqrt();
        let angle = 2.0 * std::f64::consts::PI * v;
        self.spare = Some(r * angle.sin());
        r * angle.cos()
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends a u32 as eight lowercase hex digits.
pub fn push_hex8(out: &mut Vec<u8>, x: u32) {
    for shift in (0..8).rev() {
        out.push(HEX[((x >> (shift * 4)) & 15) as usize]);
    }
}

/// Appends a UUID-shaped id (version 4 and variant bits set, as SDKs send) that is a pure function of a
/// key and a sequence number, and distinct for every sequence number under one key: the first and last
/// groups hold bijections of the sequence number's low and high words.
pub fn push_sequence_uuid(out: &mut Vec<u8>, key: &[u32; 4], seq: u64) {
    let lo = seq as u32;
    let hi = (seq >> 32) as u32;
    let a = fmix32(lo ^ key[0]);
    let b = fmix32(hi.wrapping_add(key[1]) ^ a);
    let c = fmix32(a ^ key[2]);
    let d = fmix32(b ^ c ^ key[3]);
    let mut digits = [0u8; 8];
    let hex = |x: u32, digits: &mut [u8; 8]| {
        for (i, digit) in digits.iter_mut().enumerate() {
            *digit = HEX[((x >> ((7 - i) * 4)) & 15) as usize];
        }
    };
    push_hex8(out, a);
    out.push(b'-');
    hex(c, &mut digits);
    out.extend_from_slice(&digits[..4]);
    out.extend_from_slice(b"-4");
    out.extend_from_slice(&digits[5..8]);
    out.push(b'-');
    hex(d, &mut digits);
    out.push(HEX[(8 | (d >> 30)) as usize]);
    out.extend_from_slice(&digits[1..4]);
    out.push(b'-');
    push_hex8(out, b);
    out.extend_from_slice(&digits[4..8]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn is_deterministic_per_seed_and_stream_and_uniform() {
        let draw = |seed: &str, stream: u32| {
            let mut r = Rng::new(seed, stream);
            (0..100).map(|_| r.next_u32()).collect::<Vec<_>>()
        };
        assert_eq!(draw("a", 0), draw("a", 0));
        assert_ne!(draw("a", 0), draw("b", 0));
        assert_ne!(draw("a", 0), draw("a", 1));
        let mut r = Rng::new("uniform", 0);
        let n = 200_000;
        let mut buckets = [0u32; 10];
        for _ in 0..n {
            let x = r.float();
            assert!((0.0..1.0).contains(&x));
            buckets[(x * 10.0) as usize] += 1;
        }
        for b in buckets {
            assert!((f64::from(b) - 20_000.0).abs() < 600.0, "{buckets:?}");
        }
    }

    #[test]
    fn draws_standard_normals() {
        let mut r = Rng::new("normal", 0);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| r.gaussian()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
        let within = xs.iter().filter(|x| x.abs() < 1.96).count() as f64 / n as f64;
        assert!((within - 0.95).abs() < 0.005, "{within}");
    }

    #[test]
    fn sequence_uuids_are_uuid_shaped_and_distinct_beyond_2_pow_32() {
        let key = [1, 2, 3, 4];
        let mut seen = HashSet::new();
        let seqs = (0..50_000u64).chain((1u64 << 32)..(1u64 << 32) + 50_000).chain([(1u64 << 53) - 1]);
        for seq in seqs {
            let mut out = Vec::new();
            push_sequence_uuid(&mut out, &key, seq);
            let s = String::from_utf8(out).unwrap();
            let groups: Vec<&str> = s.split('-').collect();
            assert_eq!(groups.iter().map(|g| g.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12], "{s}");
            assert!(s.bytes().all(|c| c == b'-' || c.is_ascii_digit() || (b'a'..=b'f').contains(&c)), "{s}");
            assert!(groups[2].starts_with('4') && "89ab".contains(&groups[3][..1]), "{s}");
            assert!(seen.insert(s));
        }
        let mut other = Vec::new();
        push_sequence_uuid(&mut other, &[1, 2, 3, 5], 0);
        let mut first = Vec::new();
        push_sequence_uuid(&mut first, &key, 0);
        assert_ne!(other, first);
    }

    #[test]
    fn matches_the_reference_values_of_the_javascript_generator() {
        // Values the original JavaScript implementation gave, so seeds keep their meaning.
        assert_eq!(seed_words("42"), [2_814_168_319, 14_930_478, 1_039_855_864, 944_835_771]);
        assert_eq!(seed_words("bench"), [1_089_337_599, 3_504_635_824, 3_237_217_124, 2_803_303_662]);
        let mut r = Rng::new("42", 1);
        assert_eq!([r.next_u32(), r.next_u32(), r.next_u32()], [1_584_487_424, 2_616_696_090, 1_748_843_845]);
        let mut id = Vec::new();
        push_sequence_uuid(&mut id, &seed_words("x"), 12_345_678_901);
        assert_eq!(id, b"bea852fc-8b8a-4f70-addc-ed47e92a1fe8");
    }
}
