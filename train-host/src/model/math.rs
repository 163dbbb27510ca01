//! Scalar float32 functions the kernels share: `exp`, `ln`, `erf`, the normal CDF and density, sigmoid.
//!
//! Each fast kernel is branch-free straight-line arithmetic so the compiler vectorizes the loops that call
//! it, and each has an obviously correct scalar twin (`std`'s `exp`, `libm`'s `erf`) that the one test
//! harness at the bottom of this file checks it against over dense grids of inputs.

/// `e^x` in float32, ~1 ulp: Cephes' `expf` (range reduction by `ln 2`, degree-5 polynomial), without
/// branches. Inputs are clamped to [−87.3, 88] (results below ~1e-38 are not needed: every caller
/// exponentiates a non-positive number and adds the result to something at least 1).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so that n·ln2 is exact in the first part.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Round to nearest by adding and removing 1.5·2²³ (plain SSE2 adds; `round` is a libm call there).
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.0);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5; // Cephes: 5.0000001201e-1, which rounds to 0.5 in float32
    let er = p * r * r + r + 1.0;
    // 2^n by building the float's exponent field; n ∈ [−126, 128) after the clamp. n is read from the low
    // mantissa bits of `shifted` (1.5·2²³ + n) with integer arithmetic only: `n as i32` would vectorize into
    // one scalar conversion per lane (Rust's saturating float→int cast), which made every exp-heavy kernel
    // several times slower.
    let n_bits = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let two_n = f32::from_bits((n_bits.wrapping_add(127) as u32) << 23);
    er * two_n
}

/// `ln(x)` in float32 for positive normal `x`, ~1 ulp: Cephes' `logf` (mantissa in [√½, √2), degree-8
/// polynomial), without branches.
#[inline(always)]
pub fn ln(x: f32) -> f32 {
    const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;
    let bits = x.to_bits();
    // x = m·2^e with m ∈ [0.5, 1).
    let mut e = ((bits >> 23) & 0xff) as i32 - 126;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000);
    // Move m to [√½, √2) so that m − 1 is small.
    let small = m < SQRT_HALF;
    e -= i32::from(small);
    m = if small { m + m - 1.0 } else { m - 1.0 };
    let e = e as f32;
    let z = m * m;
    let mut y = 7.037_683_6e-2_f32;
    y = y * m - 1.151_461e-1;
    y = y * m + 1.167_699_9e-1;
    y = y * m - 1.242_014_1e-1;
    y = y * m + 1.424_932_3e-1;
    y = y * m - 1.666_805_8e-1;
    y = y * m + 2.000_071_4e-1;
    y = y * m - 2.499_999_4e-1;
    y = y * m + 3.333_333e-1;
    y = y * m * z;
    y += -2.121_944_4e-4 * e;
    y += -0.5 * z;
    m + y + 0.693_359_4 * e
}

/// `erf(x)` in float32 to a few ulp: the rational approximation of Eigen / XLA (`x·P(x²)/Q(x²)` on
/// [−4, 4]; erf is ±1 in float32 beyond).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10_f32;
    p = p * x2 + 2.770_681_4e-8;
    p = p * x2 + -2.101_024e-6;
    p = p * x2 + -5.692_506_4e-5;
    p = p * x2 + -7.349_906_3e-4;
    p = p * x2 + -2.954_600_1e-3;
    p = p * x2 + -1.609_603_3e-2;
    let mut q = -1.456_607_2e-5_f32;
    q = q * x2 + -2.133_740_6e-4;
    q = q * x2 + -1.682_827e-3;
    q = q * x2 + -7.373_329_2e-3;
    q = q * x2 + -1.426_474e-2;
    x * p / q
}

/// Standard normal CDF `Φ(x) = ½(1 + erf(x/√2))`.
#[inline(always)]
pub fn normal_cdf(x: f32) -> f32 {
    0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// Standard normal density `φ(x) = e^{−x²/2} / √(2π)`.
#[inline(always)]
pub fn normal_pdf(x: f32) -> f32 {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    INV_SQRT_2PI * exp(-0.5 * x * x)
}

/// Logistic sigmoid, stable for any sign of `x`.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    // e^{−|x|} ≤ 1 never overflows; for x < 0, σ(x) = e^{x}/(1 + e^{x}) avoids the cancellation of 1 − σ(−x).
    let e = exp(-x.abs());
    let inv = 1.0 / (1.0 + e);
    if x >= 0.0 {
        inv
    } else {
        e * inv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one harness: a fast kernel against its reference twin over a dense grid, relative error
    /// `|fast − ref| ≤ rel·|ref| + abs`.
    fn check(
        name: &str,
        fast: impl Fn(f32) -> f32,
        reference: impl Fn(f64) -> f64,
        lo: f32,
        hi: f32,
        rel: f64,
        abs: f64,
    ) {
        let steps = 200_000;
        let mut worst = (0.0f64, 0.0f32);
        for i in 0..=steps {
            let x = lo + (hi - lo) * i as f32 / steps as f32;
            let want = reference(x as f64);
            let got = fast(x) as f64;
            let err = (got - want).abs() - rel * want.abs() - abs;
            if err > worst.0 {
                worst = (err, x);
            }
        }
        assert!(worst.0 <= 0.0, "{name}: off by {} more than allowed at x = {}", worst.0, worst.1);
    }

    // Float32 has a 6e-8 unit roundoff; a few ulp is what a polynomial kernel honestly achieves.
    const FEW_ULP: f64 = 4e-7;

    #[test]
    fn exp_matches_std() {
        check("exp", exp, f64::exp, -87.0, 0.0, FEW_ULP, 0.0);
        check("exp", exp, f64::exp, 0.0, 80.0, FEW_ULP, 0.0);
    }

    #[test]
    fn exp_clamps_its_argument_and_keeps_nan() {
        // The exponent is built from integer bits: the ends of the clamp must still give normal floats.
        assert_eq!(exp(-1000.0).to_bits(), exp(-87.3).to_bits());
        assert!(exp(-87.3) > 0.0 && exp(-87.3).is_normal());
        assert_eq!(exp(1000.0).to_bits(), exp(88.0).to_bits());
        assert!(exp(88.0).is_finite() && (exp(88.0) as f64 / 88f64.exp() - 1.0).abs() < FEW_ULP);
        // A NaN loss must stay NaN so the trainer stops on it.
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn ln_matches_std() {
        check("ln", ln, f64::ln, 1e-30, 1e-6, FEW_ULP, 0.0);
        check("ln", ln, f64::ln, 1e-6, 2.0, FEW_ULP, 1e-7);
        check("ln", ln, f64::ln, 2.0, 1e30, FEW_ULP, 0.0);
    }

    #[test]
    fn erf_matches_libm() {
        check("erf", erf, libm::erf, -6.0, 6.0, FEW_ULP, 1e-7);
    }

    #[test]
    fn gelu_and_its_derivative_match_the_exact_formulas() {
        let gelu = |x: f64| 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2));
        let dgelu = |x: f64| {
            0.5 * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))
                + x * (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
        };
        let fast_gelu = |x: f32| x * normal_cdf(x);
        let fast_dgelu = |x: f32| normal_cdf(x) + x * normal_pdf(x);
        // GELU(u) = u·½(1 + erf(u/√2)): erf's absolute error (≤ 5e-7, checked above) is multiplied by |u|/2 ≤ 5.
        check("gelu", fast_gelu, gelu, -10.0, 10.0, 1e-6, 3e-6);
        check("gelu'", fast_dgelu, dgelu, -10.0, 10.0, 1e-6, 3e-6);
    }

    #[test]
    fn sigmoid_matches_the_formula() {
        check("sigmoid", sigmoid, |x| 1.0 / (1.0 + (-x).exp()), -40.0, 40.0, FEW_ULP, 1e-8);
    }

    #[test]
    fn the_harness_catches_a_wrong_kernel() {
        let caught =
            std::panic::catch_unwind(|| check("bad exp", |x| exp(x) * 1.00001, f64::exp, -1.0, 1.0, FEW_ULP, 0.0));
        assert!(caught.is_err());
    }
}
