//! `TrainRng`: the one source of randomness of a training run (initialization, masking, sampling, dropout).
//!
//! The generator is the project's one, [`electra_pipeline::rng::Rng`]: xoshiro256++ (Blackman & Vigna) seeded
//! through splitmix64. Its whole state is four `u64`s, so a checkpoint stores it and a resumed run draws exactly
//! the numbers an uninterrupted one would. This file adds the draws training needs.

use electra_pipeline::rng::Rng;

/// The training draws (uniforms in (0, 1), normals, integers, forks) on the project's one generator,
/// [`electra_pipeline::rng::Rng`] (xoshiro256++), whose state a checkpoint stores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrainRng {
    inner: Rng,
}

impl TrainRng {
    /// A generator whose state is derived from `seed` by splitmix64 (never all zero).
    pub fn new(seed: u64) -> Self {
        Self { inner: Rng::from_seed(seed) }
    }

    /// The full state, to be stored in a checkpoint.
    pub fn state(&self) -> [u64; 4] {
        self.inner.state()
    }

    /// Resumes from a stored state (an all-zero one, which xoshiro never reaches, becomes `TrainRng::new(0)`'s).
    pub fn from_state(state: [u64; 4]) -> Self {
        Self { inner: Rng::from_state(state) }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform in the open interval (0, 1): 24 random bits, offset by half a step so neither end occurs
    /// (the Gumbel transform takes `ln(−ln u)`).
    pub fn uniform_open(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 + 0.5) * (1.0 / 16_777_216.0)
    }

    /// Fills `out` with uniforms in (0, 1), two per 64-bit draw (24 bits each, as [`TrainRng::uniform_open`]).
    pub fn fill_uniform_open(&mut self, out: &mut [f32]) {
        const STEP: f32 = 1.0 / 16_777_216.0;
        let mut pairs = out.chunks_exact_mut(2);
        for pair in &mut pairs {
            let x = self.next_u64();
            pair[0] = ((x >> 40) as f32 + 0.5) * STEP;
            pair[1] = (((x >> 8) & 0xff_ffff) as f32 + 0.5) * STEP;
        }
        for last in pairs.into_remainder() {
            *last = self.uniform_open();
        }
    }

    /// Uniform in [0, 1) with 53 bits.
    pub fn uniform_f64(&mut self) -> f64 {
        self.inner.next_f64()
    }

    /// Uniform integer in `0..n` (Lemire's multiply-shift without the rejection step of [`Rng::below`]: the bias
    /// is below 2⁻³² for every `n` used here, and one draw per call keeps masking's stream a fixed length).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// A standard normal sample (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform_f64(); // (0, 1]
        let u2 = self.uniform_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// An independent generator for sub-stream `index` of this one, without advancing it: lets parallel
    /// tasks draw reproducible numbers whatever order they run in.
    pub fn fork(&self, index: u64) -> Self {
        let s = self.inner.state();
        let mix = s[0] ^ s[1].rotate_left(17) ^ s[2].rotate_left(31) ^ s[3].rotate_left(47);
        Self::new(mix ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_implementation() {
        // Vigna's xoshiro256plusplus.c from state {1, 2, 3, 4}, as in rand_xoshiro's reference test.
        let mut rng = TrainRng::from_state([1, 2, 3, 4]);
        let expected: [u64; 10] = [
            41943041,
            58720359,
            3588806011781223,
            3591011842654386,
            9228616714210784205,
            9973669472204895162,
            14011001112246962877,
            12406186145184390807,
            15849039046786891736,
            10450023813501588000,
        ];
        for want in expected {
            assert_eq!(rng.next_u64(), want);
        }
    }

    #[test]
    fn state_round_trip_continues_the_stream() {
        let mut a = TrainRng::new(42);
        for _ in 0..5 {
            a.next_u64();
        }
        let mut b = TrainRng::from_state(a.state());
        assert_eq!(
            (0..10).map(|_| a.next_u64()).collect::<Vec<_>>(),
            (0..10).map(|_| b.next_u64()).collect::<Vec<_>>()
        );
        assert_ne!(TrainRng::new(1).state(), TrainRng::new(2).state());
    }

    #[test]
    fn draws_have_the_right_ranges_and_moments() {
        let mut rng = TrainRng::new(7);
        let n = 100_000;
        let (mut sum, mut sq) = (0.0, 0.0);
        for _ in 0..n {
            let u = rng.uniform_open();
            assert!(u > 0.0 && u < 1.0);
            assert!(rng.below(7) < 7);
            let z = rng.normal();
            sum += z;
            sq += z * z;
        }
        let mean = sum / n as f64;
        let var = sq / n as f64 - mean * mean;
        assert!(mean.abs() < 0.02 && (var - 1.0).abs() < 0.02, "mean {mean} var {var}");
    }
}
