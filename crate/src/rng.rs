//! The crate's one small seeded generator (SplitMix64, Steele et al. 2014), for everything that does
//! not have to reproduce NumPy's streams (those are [`crate::lime::rng`]'s ports): tie-breaking in the
//! causal metrics and weight re-initialisation in the sanity checks. Statistical quality is ample for
//! both and it needs no dependency. The stream is fixed: changing it would change committed results.

#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// A generator for one named part of a seeded whole (`seed ^ fnv1a(key)`), so that each part's draw
    /// depends only on the seed and its name (e.g. one tensor of a model, whatever else is redrawn).
    pub fn keyed(seed: u64, key: &[u8]) -> Self {
        SplitMix64(seed ^ fnv1a(key))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller; one of the pair is discarded for simplicity).
    pub fn next_normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // (0, 1]: ln is finite
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Standard normal truncated to [-2, 2] by redrawing (TensorFlow's `truncated_normal`).
    pub fn next_truncated_normal(&mut self) -> f64 {
        loop {
            let z = self.next_normal();
            if z.abs() <= 2.0 {
                return z;
            }
        }
    }
}

/// 64-bit FNV-1a hash of `bytes`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_is_splitmix64() {
        // The reference implementation's first outputs for seed 0 (Vigna's splitmix64.c).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(SplitMix64::keyed(7, b"").next_u64(), {
            let mut r = SplitMix64::new(7 ^ 0xcbf2_9ce4_8422_2325);
            r.next_u64()
        });
    }
}
