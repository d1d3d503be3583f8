//! A fixed-size log-linear histogram of latencies in milliseconds: exact below 64 ms, then 32 buckets
//! per power of two (at most 1/32 ≈ 3% relative error), up to 2^36 ms. Recording is one branch and an
//! increment; the caller drains the counts and folds them into an HdrHistogram on its side.

const EXACT: u64 = 64;
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
const MAX_EXP: u32 = 36;
pub const BUCKETS: usize = EXACT as usize + ((MAX_EXP - 6) as usize + 1) * SUB as usize;

#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    counts: Box<[u32; BUCKETS]>,
    total: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self { counts: Box::new([0; BUCKETS]), total: 0 }
    }
}

/// Bucket of a value.
pub fn bucket_of(value_ms: u64) -> usize {
    if value_ms < EXACT {
        return value_ms as usize;
    }
    if value_ms >= 1 << (MAX_EXP + 1) {
        return BUCKETS - 1;
    }
    let exp = 63 - value_ms.leading_zeros();
    let mantissa = (value_ms >> (exp - SUB_BITS)) & (SUB - 1);
    EXACT as usize + (exp as usize - 6) * SUB as usize + mantissa as usize
}

/// The smallest value of a bucket; every value in the bucket is within 1/32 above it.
pub fn bucket_floor(bucket: usize) -> u64 {
    if bucket < EXACT as usize {
        return bucket as u64;
    }
    let rel = bucket - EXACT as usize;
    let exp = (rel / SUB as usize) as u32 + 6;
    let mantissa = (rel % SUB as usize) as u64;
    (1u64 << exp) | (mantissa << (exp - SUB_BITS))
}

impl LatencyHistogram {
    #[inline]
    pub fn record(&mut self, value_ms: u64) {
        let b = bucket_of(value_ms);
        self.counts[b] = self.counts[b].saturating_add(1);
        self.total += 1;
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// The counts per bucket since the last call, and resets them.
    pub fn take(&mut self) -> Vec<u32> {
        let out = self.counts.to_vec();
        self.counts.fill(0);
        self.total = 0;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_exact_below_64_and_within_a_thirty_second_above() {
        for v in 0..64 {
            assert_eq!(bucket_floor(bucket_of(v)), v);
        }
        for v in [64u64, 65, 100, 127, 128, 1000, 12_345, 250_000, 3_600_000, (1 << 36) - 1] {
            let floor = bucket_floor(bucket_of(v));
            assert!(floor <= v && (v - floor) as f64 <= v as f64 / 32.0, "{v} -> {floor}");
        }
        let mut last = 0;
        for b in 1..BUCKETS {
            assert!(bucket_floor(b) > last);
            last = bucket_floor(b);
        }
    }

    #[test]
    fn huge_values_land_in_the_last_bucket() {
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        assert_eq!(bucket_of(1 << 40), BUCKETS - 1);
    }

    #[test]
    fn take_resets() {
        let mut h = LatencyHistogram::default();
        h.record(3);
        h.record(3);
        h.record(100);
        assert_eq!(h.total(), 3);
        let counts = h.take();
        assert_eq!(counts[3], 2);
        assert_eq!(counts[bucket_of(100)], 1);
        assert_eq!(h.total(), 0);
        assert!(h.take().iter().all(|&c| c == 0));
    }
}
