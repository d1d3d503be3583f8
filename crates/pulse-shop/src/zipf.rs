use crate::prng::Rng;

/// Samples ranks 0..n-1 with P(rank k) ∝ 1/(k+1)^exponent in O(1) per draw (Vose's alias method: one
/// uniform picks a column and its fraction decides between the column and its alias). Built once, in
/// O(n); a binary search over a CDF would cost log2(10 000) ≈ 14 steps per event.
#[derive(Debug, Clone)]
pub struct ZipfSampler {
    prob: Vec<f64>,
    alias: Vec<u32>,
}

impl ZipfSampler {
    /// `n` must be at least 1.
    pub fn new(n: usize, exponent: f64) -> Self {
        assert!(n >= 1, "a Zipf sampler needs n ≥ 1");
        let weights: Vec<f64> = (0..n).map(|k| ((k + 1) as f64).powf(-exponent)).collect();
        let sum: f64 = weights.iter().sum();
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / sum).collect();
        let mut prob = vec![0.0; n];
        let mut alias = vec![0u32; n];
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (Vec::new(), Vec::new());
        for k in (0..n).rev() {
            if scaled[k] < 1.0 { small.push(k) } else { large.push(k) }
        }
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            large.pop();
            prob[s] = scaled[s];
            alias[s] = l as u32;
            scaled[l] = scaled[l] + scaled[s] - 1.0;
            if scaled[l] < 1.0 { small.push(l) } else { large.push(l) }
        }
        // What remains is 1 up to rounding.
        for k in large.into_iter().chain(small) {
            prob[k] = 1.0;
        }
        ZipfSampler { prob, alias }
    }

    pub fn len(&self) -> usize {
        self.prob.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prob.is_empty()
    }

    pub fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.float() * self.prob.len() as f64;
        let column = u as usize;
        if u - (column as f64) < self.prob[column] { column } else { self.alias[column] as usize }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_ranks_with_probability_proportional_to_one_over_rank_to_the_s() {
        let (n, s) = (1000, 1.0);
        let zipf = ZipfSampler::new(n, s);
        let mut rng = Rng::new("zipf", 0);
        let draws = 1_000_000;
        let mut counts = vec![0u32; n];
        for _ in 0..draws {
            counts[zipf.sample(&mut rng)] += 1;
        }
        let harmonic: f64 = (1..=n).map(|k| (k as f64).powf(-s)).sum();
        for rank in [0, 1, 2, 9, 99] {
            let expected = draws as f64 * ((rank + 1) as f64).powf(-s) / harmonic;
            let got = f64::from(counts[rank]);
            // Within five standard deviations of a binomial count.
            assert!((got - expected).abs() < 5.0 * expected.sqrt(), "rank {rank}: {got} vs {expected}");
        }
    }

    #[test]
    fn handles_a_single_item() {
        let zipf = ZipfSampler::new(1, 1.2);
        let mut rng = Rng::new(1.to_string().as_str(), 0);
        assert!((0..100).all(|_| zipf.sample(&mut rng) == 0));
    }
}
