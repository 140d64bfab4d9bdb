//! NumPy's random generators, bit for bit, so that LIME's masks and quickshift's tie-breaking noise
//! are the same as the Python `lime` / scikit-image pipeline for the same seed, natively and in wasm.
//!
//! - [`Mt19937`]: the legacy `np.random.RandomState(seed)` (what `sklearn.utils.check_random_state`
//!   returns for an integer seed and what `lime` draws its perturbation matrix from), with the exact
//!   `randint` (masked rejection sampling) and `random_sample` transforms of NumPy's legacy code path.
//! - [`SeedSequence`] + [`Pcg64`]: `np.random.default_rng(seed)`, which scikit-image's quickshift uses
//!   for its tie-breaking noise (`rng.random(...)`).
//!
//! All arithmetic is integer arithmetic with explicit wrapping, so results do not depend on the
//! platform.

/// Mersenne Twister MT19937 with NumPy's legacy seeding (`init_genrand` for integer seeds).
#[derive(Clone)]
pub struct Mt19937 {
    state: [u32; 624],
    index: usize,
}

impl Mt19937 {
    const N: usize = 624;
    const M: usize = 397;

    /// `np.random.RandomState(seed)` for an integer seed in `0..2^32`.
    pub fn new(seed: u32) -> Self {
        let mut state = [0u32; 624];
        state[0] = seed;
        for i in 1..Self::N {
            let prev = state[i - 1];
            state[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 {
            state,
            index: Self::N,
        }
    }

    fn twist(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        const MATRIX_A: u32 = 0x9908_b0df;
        for i in 0..Self::N {
            let y = (self.state[i] & UPPER) | (self.state[(i + 1) % Self::N] & LOWER);
            let mut next = self.state[(i + Self::M) % Self::N] ^ (y >> 1);
            if y & 1 != 0 {
                next ^= MATRIX_A;
            }
            self.state[i] = next;
        }
        self.index = 0;
    }

    /// The next 32-bit output (`genrand_int32`).
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= Self::N {
            self.twist();
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }

    /// `RandomState.randint(low, high)` for one value with `high - low ≤ 2^32`, as NumPy's legacy
    /// path does it: 32-bit draws masked to the next power of two minus one, rejected until in range.
    pub fn randint(&mut self, low: i64, high: i64) -> i64 {
        assert!(high > low, "randint needs high > low, got [{low}, {high})");
        let range = (high - low - 1) as u64;
        assert!(
            range <= u32::MAX as u64,
            "randint ranges over 2^32 are not needed by LIME"
        );
        if range == 0 {
            return low;
        }
        if range == u32::MAX as u64 {
            return low + self.next_u32() as i64;
        }
        let mask = mask_for(range as u32);
        loop {
            let value = self.next_u32() & mask;
            if value as u64 <= range {
                return low + value as i64;
            }
        }
    }

    /// `RandomState.randint(0, 2, n)`: the binary perturbation stream LIME draws.
    pub fn random_bits(&mut self, n: usize) -> Vec<u8> {
        // Range 1 has mask 1 and is never rejected: one 32-bit draw per value.
        (0..n).map(|_| (self.next_u32() & 1) as u8).collect()
    }

    /// `RandomState.random_sample()`: 53-bit double from two 32-bit draws.
    pub fn random_sample(&mut self) -> f64 {
        let a = (self.next_u32() >> 5) as f64;
        let b = (self.next_u32() >> 6) as f64;
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }
}

/// The smallest all-ones mask that covers `range` (NumPy's `gen_mask`).
fn mask_for(range: u32) -> u32 {
    let mut mask = range;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    mask
}

/// `np.random.SeedSequence(entropy)` with no spawn key and the default pool of four 32-bit words.
pub struct SeedSequence {
    pool: [u32; 4],
}

const INIT_A: u32 = 0x43b0_d7e5;
const MULT_A: u32 = 0x931e_8875;
const INIT_B: u32 = 0x8b51_f9dd;
const MULT_B: u32 = 0x58f3_8ded;
const MIX_MULT_L: u32 = 0xca01_f9dd;
const MIX_MULT_R: u32 = 0x4973_f715;
const XSHIFT: u32 = 16;

fn hashmix(value: u32, hash_const: &mut u32) -> u32 {
    let mut value = value ^ *hash_const;
    *hash_const = hash_const.wrapping_mul(MULT_A);
    value = value.wrapping_mul(*hash_const);
    value ^ (value >> XSHIFT)
}

fn mix(x: u32, y: u32) -> u32 {
    let result = MIX_MULT_L
        .wrapping_mul(x)
        .wrapping_sub(MIX_MULT_R.wrapping_mul(y));
    result ^ (result >> XSHIFT)
}

impl SeedSequence {
    /// Seeds from a non-negative integer, split into 32-bit words, least significant first (as NumPy does).
    pub fn new(entropy: u64) -> Self {
        let mut words = vec![entropy as u32];
        if entropy >> 32 != 0 {
            words.push((entropy >> 32) as u32);
        }
        let mut pool = [0u32; 4];
        let mut hash_const = INIT_A;
        for (i, slot) in pool.iter_mut().enumerate() {
            *slot = hashmix(words.get(i).copied().unwrap_or(0), &mut hash_const);
        }
        for src in 0..pool.len() {
            for dst in 0..pool.len() {
                if src != dst {
                    let hashed = hashmix(pool[src], &mut hash_const);
                    pool[dst] = mix(pool[dst], hashed);
                }
            }
        }
        // Entropy longer than the pool (over 128 bits) cannot come from a u64.
        SeedSequence { pool }
    }

    /// `generate_state(n, np.uint32)`.
    pub fn generate_u32(&self, n: usize) -> Vec<u32> {
        let mut hash_const = INIT_B;
        (0..n)
            .map(|i| {
                let mut value = self.pool[i % self.pool.len()] ^ hash_const;
                hash_const = hash_const.wrapping_mul(MULT_B);
                value = value.wrapping_mul(hash_const);
                value ^ (value >> XSHIFT)
            })
            .collect()
    }

    /// `generate_state(n, np.uint64)`: pairs of 32-bit words, little-endian.
    pub fn generate_u64(&self, n: usize) -> Vec<u64> {
        self.generate_u32(2 * n)
            .chunks_exact(2)
            .map(|pair| pair[0] as u64 | (pair[1] as u64) << 32)
            .collect()
    }
}

/// NumPy's `PCG64` bit generator (PCG XSL-RR 128/64, "setseq" variant).
#[derive(Clone)]
pub struct Pcg64 {
    state: u128,
    increment: u128,
}

const PCG_MULTIPLIER: u128 = (2_549_297_995_355_413_924u128 << 64) | 4_865_540_595_714_422_341u128;

impl Pcg64 {
    /// `np.random.default_rng(seed)`'s bit generator: `PCG64(SeedSequence(seed))`.
    pub fn from_seed(seed: u64) -> Self {
        let words = SeedSequence::new(seed).generate_u64(4);
        let initial_state = (words[0] as u128) << 64 | words[1] as u128;
        let sequence = (words[2] as u128) << 64 | words[3] as u128;
        let mut rng = Pcg64 {
            state: 0,
            increment: (sequence << 1) | 1,
        };
        rng.step();
        rng.state = rng.state.wrapping_add(initial_state);
        rng.step();
        rng
    }

    fn step(&mut self) {
        self.state = self
            .state
            .wrapping_mul(PCG_MULTIPLIER)
            .wrapping_add(self.increment);
    }

    /// The next 64-bit output: advance, then XOR-fold and rotate the new state.
    pub fn next_u64(&mut self) -> u64 {
        self.step();
        let folded = ((self.state >> 64) as u64) ^ (self.state as u64);
        folded.rotate_right((self.state >> 122) as u32)
    }

    /// `Generator.random()` for float64: the top 53 bits scaled to `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values printed by NumPy (see tests/reference/lime_reference.py `rng` section).
    #[test]
    fn mt19937_matches_reference_first_output() {
        // The MT19937 reference output for init_genrand(5489) starts with 3499211612.
        let mut mt = Mt19937::new(5489);
        assert_eq!(mt.next_u32(), 3_499_211_612);
    }

    #[test]
    fn mask_for_covers_range() {
        assert_eq!(mask_for(1), 1);
        assert_eq!(mask_for(999), 1023);
        assert_eq!(mask_for(1024), 2047);
    }
}
