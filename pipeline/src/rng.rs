//! The project's one PRNG: xoshiro256++ seeded through SplitMix64.
//!
//! Packing and shuffling must give the same bytes on every platform, every thread count and every
//! version of this crate's dependencies, and a resumed training run must draw exactly the numbers an
//! uninterrupted one would, so the generator is spelled out here rather than taken from `rand` (whose
//! value streams are allowed to change between releases). Its whole state is four `u64`s
//! ([`Rng::state`]), which a checkpoint stores. The trainer's `TrainRng` draws its floats from it.

/// One SplitMix64 step: the recommended way to expand a 64-bit seed into xoshiro state.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// SplitMix64 on its own, with Box-Muller normals: the stream `electra`'s fixture tools were written against
/// (`examples/random_checkpoint.rs` draws its HF-initialized weights from it), kept so their outputs stay the
/// same. Training, packing and shuffling use [`Rng`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        splitmix64(&mut self.0)
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal sample (Box-Muller, the cosine half).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(f64::MIN_POSITIVE);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (core::f64::consts::TAU * u2).cos()
    }
}

/// xoshiro256++ (Blackman & Vigna): fast, 256-bit state, good statistical quality.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator whose whole stream is a function of `seed`.
    pub fn from_seed(seed: u64) -> Self {
        let mut sm = seed;
        let s = [splitmix64(&mut sm), splitmix64(&mut sm), splitmix64(&mut sm), splitmix64(&mut sm)];
        Rng { s }
    }

    /// The full state, to be stored in a checkpoint.
    pub fn state(&self) -> [u64; 4] {
        self.s
    }

    /// Continues from a stored [`Rng::state`]. An all-zero state (which xoshiro never reaches, and from which it
    /// would only ever draw zeros) is replaced by the state of `Rng::from_seed(0)`.
    pub fn from_state(state: [u64; 4]) -> Self {
        if state == [0; 4] {
            Self::from_seed(0)
        } else {
            Rng { s: state }
        }
    }

    /// An independent stream for one unit of work named by `path` (e.g. `[shard, chunk]`), so that work
    /// items can run in any order on any thread and still draw the same numbers.
    pub fn derive(seed: u64, path: &[u64]) -> Self {
        let mut sm = seed;
        let mut h = splitmix64(&mut sm);
        for &p in path {
            let mut m = h ^ p.wrapping_mul(0xD6E8_FEB8_6659_FD93);
            h = splitmix64(&mut m);
        }
        Rng::from_seed(h)
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[0].wrapping_add(self.s[3]).rotate_left(23).wrapping_add(self.s[0]);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1) with 53 random bits, like Python's `random.random()`.
    #[inline]
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [0, n) without modulo bias (Lemire's multiply-and-reject). `n` must be > 0.
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = (self.next_u64() as u128) * (n as u128);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// Uniform in [lo, hi], both ends included, like Python's `random.randint`.
    pub fn range_inclusive(&mut self, lo: u64, hi: u64) -> u64 {
        debug_assert!(lo <= hi);
        match (hi - lo).checked_add(1) {
            Some(span) => lo + self.below(span),
            None => self.next_u64(),
        }
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_reference_vector_and_draws_normals() {
        // Reference: Vigna's splitmix64.c from state 0.
        let mut g = SplitMix64(0);
        assert_eq!([g.next_u64(), g.next_u64()], [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4]);
        let mut g = SplitMix64(7);
        let samples: Vec<f64> = (0..20_000).map(|_| g.normal()).collect();
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        let var = samples.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / samples.len() as f64;
        // 20,000 standard normals: the mean's standard error is 0.007, the variance's 0.01; 5 of them.
        assert!(mean.abs() < 0.035 && (var - 1.0).abs() < 0.05, "mean {mean}, variance {var}");
    }

    #[test]
    fn xoshiro_matches_reference_vector() {
        // Reference: the C implementation (prng.di.unimi.it/xoshiro256plusplus.c) with state {1, 2, 3, 4}.
        let mut rng = Rng { s: [1, 2, 3, 4] };
        let expected: [u64; 4] = [41943041, 58720359, 3588806011781223, 3591011842654386];
        for e in expected {
            assert_eq!(rng.next_u64(), e);
        }
    }

    #[test]
    fn derived_streams_differ_and_repeat() {
        let a: Vec<u64> = (0..4).map(|_| Rng::derive(7, &[0, 1]).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(Rng::derive(7, &[0, 1]).next_u64(), Rng::derive(7, &[1, 0]).next_u64());
        assert_ne!(Rng::derive(7, &[0, 1]).next_u64(), Rng::derive(8, &[0, 1]).next_u64());
    }

    #[test]
    fn below_is_in_range_and_covers_it() {
        let mut rng = Rng::from_seed(3);
        let mut seen = [0usize; 7];
        for _ in 0..7000 {
            seen[rng.below(7) as usize] += 1;
        }
        // Each bucket expects 1000; 800 is > 6 standard deviations below, so this cannot fail by chance.
        assert!(seen.iter().all(|&c| c > 800), "{seen:?}");
        for _ in 0..1000 {
            let x = rng.range_inclusive(5, 9);
            assert!((5..=9).contains(&x));
        }
    }
}
