//! The float parts of the int8 encoder: LayerNorm, softmax, GELU.
//!
//! `exp` and `erf` are polynomial approximations instead of `libm` calls: the encoder evaluates
//! `T²·A·L` exponentials and `T·F·L` error functions per sequence (ELECTRA-Small at 128 tokens:
//! 0.8 M and 1.6 M), and libm's scalar, branchy versions would cost more than the matrix products.
//! These are branch-free, vectorize, and give the same bits on every target. Their error against
//! libm is tested below and is far under the int8 rounding around them.
//!
//! Sums run in eight fixed lanes: that vectorizes while keeping one summation order everywhere.

use super::simd::multiversion;
use super::weights::QLayerNorm;

/// log2(e).
const LOG2_E: f32 = core::f32::consts::LOG2_E;
/// ln 2 split in a part exact in f32 and the rest (Cephes), so `x - n·ln2` loses nothing.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5 · 2^23: adding it rounds to an integer held in the low mantissa bits.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// `e^x` to about 2 ulp for `x ∈ [-87.3, 88.3]`; clamped outside (`≈ 1.2e-38` and `≈ 2.2e38`).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.3, 88.3);
    // x = n·ln2 + r, |r| ≤ ln2/2; e^x = 2^n · e^r.
    let t = x * LOG2_E + ROUND_MAGIC;
    let n = t - ROUND_MAGIC;
    let n_int = (t.to_bits() as i32).wrapping_sub(ROUND_MAGIC.to_bits() as i32);
    let r = x - n * LN2_HI - n * LN2_LO;
    // Cephes expf minimax polynomial for e^r - 1 - r on [-ln2/2, ln2/2].
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5; // Cephes: 5.0000001201e-1, which is 0.5 in f32
    let e_r = p * r * r + r + 1.0;
    // n ∈ [-126, 127] after the clamp: a normal power of two.
    let two_n = f32::from_bits(((n_int + 127) as u32) << 23);
    e_r * two_n
}

/// `erf(x)`, a rational minimax approximation on `[-4, 4]` (Eigen / XLA `erf` for f32); outside
/// that range erf is ±1 in f32.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10f32;
    p = p * x2 + 2.770_681_4e-8;
    p = p * x2 + -2.101_024e-6;
    p = p * x2 + -5.692_506_4e-5;
    p = p * x2 + -7.349_906_3e-4;
    p = p * x2 + -2.954_600_1e-3;
    p = p * x2 + -1.609_603_3e-2;
    let p = p * x;
    let mut q = -1.456_607_2e-5f32;
    q = q * x2 + -2.133_740_6e-4;
    q = q * x2 + -1.682_827e-3;
    q = q * x2 + -7.373_329e-3;
    q = q * x2 + -1.426_473_9e-2;
    p / q
}

/// HF `gelu`: the exact form `x/2 · (1 + erf(x/√2))`.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * core::f32::consts::FRAC_1_SQRT_2))
}

multiversion! {
    /// GELU of every element.
    pub fn gelu_in_place(x: &mut [f32]) {
        for v in x {
            *v = gelu(*v);
        }
    }
}

/// `Σ x`, in eight lanes.
#[inline(always)]
pub fn sum(x: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let mut chunks = x.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, v) in lanes.iter_mut().zip(chunk) {
            *lane += v;
        }
    }
    let mut total = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
    for v in chunks.remainder() {
        total += v;
    }
    total
}

/// `max x` (NaNs ignored, like folding `f32::max`), in sixteen lanes so that it vectorizes. Only
/// the sign of a zero maximum can depend on the order, and `v - max` is then the same either way.
#[inline(always)]
fn max(x: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 16];
    let mut chunks = x.chunks_exact(16);
    for chunk in &mut chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = lane.max(v);
        }
    }
    let m = chunks.remainder().iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    lanes.iter().fold(m, |m, &v| m.max(v))
}

multiversion! {
    /// In-place softmax of one row of attention scores.
    pub fn softmax_in_place(x: &mut [f32]) {
        let max = max(x);
        for v in x.iter_mut() {
            *v = exp(*v - max);
        }
        let inv = 1.0 / sum(x);
        for v in x.iter_mut() {
            *v *= inv;
        }
    }
}

multiversion! {
    /// `x ← LayerNorm(x)` over one row, HF semantics: biased variance, `eps` inside the root.
    pub fn layer_norm_in_place(x: &mut [f32], ln: &QLayerNorm) {
        let n = x.len() as f32;
        let mean = sum(x) / n;
        let mut lanes = [0f32; 8];
        let mut chunks = x.chunks_exact(8);
        for chunk in &mut chunks {
            for (lane, v) in lanes.iter_mut().zip(chunk) {
                let d = v - mean;
                *lane += d * d;
            }
        }
        let mut squares = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
        for v in chunks.remainder() {
            squares += (v - mean) * (v - mean);
        }
        let inv_std = 1.0 / libm::sqrtf(squares / n + ln.eps);
        for ((v, &g), &b) in x.iter_mut().zip(ln.weight).zip(ln.bias) {
            *v = (*v - mean) * inv_std * g + b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `exp` is within this relative error of libm over the whole clamped range: a few ulp.
    const EXP_REL_TOL: f32 = 3e-7;
    /// `erf` is within this absolute error of libm: well under the int8 step of a GELU input (1e-2).
    const ERF_ABS_TOL: f32 = 1e-6;

    #[test]
    fn exp_matches_libm() {
        let mut worst = 0f32;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (got, want) = (exp(x), libm::expf(x));
            worst = worst.max(((got - want) / want).abs());
            x += 0.001_37;
        }
        assert!(worst < EXP_REL_TOL, "worst relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1000.0) < 1e-37 && exp(-1000.0) >= 0.0);
        assert!(exp(1000.0).is_finite());
    }

    #[test]
    fn erf_matches_libm() {
        let mut worst = 0f32;
        let mut x = -6.0f32;
        while x < 6.0 {
            worst = worst.max((erf(x) - libm::erff(x)).abs());
            x += 0.000_37;
        }
        assert!(worst < ERF_ABS_TOL, "worst absolute error {worst}");
        assert_eq!(erf(0.0), 0.0);
    }

    #[test]
    fn softmax_and_layer_norm() {
        let mut row = [1.0f32, 2.0, 3.0, -1.0, 0.5, 0.25, 7.0, -3.0, 2.5];
        let want: std::vec::Vec<f32> = {
            let e: std::vec::Vec<f64> = row.iter().map(|&v| (v as f64).exp()).collect();
            let s: f64 = e.iter().sum();
            e.iter().map(|v| (v / s) as f32).collect()
        };
        softmax_in_place(&mut row);
        for (g, w) in row.iter().zip(&want) {
            assert!((g - w).abs() < 1e-6, "{g} {w}");
        }
        let mut x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        let g = [2.0f32; 10];
        let b = [0.5f32; 10];
        layer_norm_in_place(&mut x, &QLayerNorm { weight: &g, bias: &b, eps: 1e-12 });
        let std = (8.25f32).sqrt();
        for (i, v) in x.iter().enumerate() {
            let want = (i as f32 + 1.0 - 5.5) / std * 2.0 + 0.5;
            assert!((v - want).abs() < 1e-5, "{v} {want}");
        }
    }
}
