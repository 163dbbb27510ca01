//! The scalar float32 functions of the whole project, each defined once: `exp`, `ln`, `erf`, GELU and its
//! slope, the normal density, the sigmoid.
//!
//! The float encoder, the int8 encoder and the trainer (`electra-train`) all call these, so inference and
//! training compute the same function with the same bits. Each is branch-free straight-line arithmetic, so
//! the loops that call it vectorize (`libm`'s versions are scalar and branchy, and the encoder evaluates
//! `T²·A·L` exponentials and `T·F·L` error functions per sequence: ELECTRA-Small at 128 tokens needs 0.8 M
//! and 1.6 M). Each has an obviously correct twin (`libm` in float64), and one harness,
//! [`max_error_against_reference`], bounds every one of them against its twin over dense grids (tests below).
//!
//! GELU is HF's `hidden_act = "gelu"`: the exact erf form `x/2 · (1 + erf(x/√2))`, not the tanh approximation.

/// `log2(e)`.
const LOG2_E: f32 = core::f32::consts::LOG2_E;
/// `ln 2` split into a part exact in float32 and the rest (Cephes), so `x − n·ln2` loses nothing.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// `1.5 · 2²³`: adding it rounds to an integer held in the low mantissa bits (plain adds: `round` is a
/// libm call on SSE2, and `n as i32` vectorizes into one saturating conversion per lane).
const ROUND_MAGIC: f32 = 12_582_912.0;
/// Below this, `e^x` leaves the normal float32 range.
const EXP_MIN_X: f32 = -87.336_54;
/// Above this, `e^x` is clamped (`e^88 ≈ 1.65e38`, finite): a masked key's `e^{large} · 0` stays exactly 0.
const EXP_MAX_X: f32 = 88.0;

/// `e^x` within 2e-7 relative error, branch-free: `x = n·ln2 + r` with `|r| ≤ ln2/2`, `e^r` by Cephes'
/// degree-6 polynomial, `2ⁿ` built in the exponent bits.
///
/// Below −87.34 (where `e^x` leaves the normal range) it returns exactly 0, as float32 attention over a
/// masked key does in HF (`e^{f32::MIN}` is 0); above 88 it saturates at `e^88`. A NaN stays NaN, so a
/// diverged loss stops the trainer.
#[inline(always)]
#[allow(clippy::excessive_precision)] // Cephes' coefficients, verbatim
pub fn exp(x: f32) -> f32 {
    let xc = x.clamp(EXP_MIN_X, EXP_MAX_X);
    let shifted = xc * LOG2_E + ROUND_MAGIC;
    let n = shifted - ROUND_MAGIC;
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1)
        * r
        + 5.000_000_1e-1;
    let e_r = p * r * r + r + 1.0;
    // 2ⁿ: n + 127 in the exponent field; n sits in the low bits of `shifted` (whose bits are 0x4B40_0000 + n).
    let two_n = f32::from_bits(shifted.to_bits().wrapping_sub(0x4B40_0000).wrapping_add(127) << 23);
    if x < EXP_MIN_X {
        0.0
    } else {
        e_r * two_n
    }
}

/// `ln(x)` for positive normal `x`, ~1 ulp: Cephes' `logf` (mantissa in `[√½, √2)`, degree-8 polynomial),
/// branch-free.
#[inline(always)]
#[allow(clippy::excessive_precision)] // Cephes' coefficients, verbatim
pub fn ln(x: f32) -> f32 {
    const SQRT_HALF: f32 = core::f32::consts::FRAC_1_SQRT_2;
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
    y += LN2_LO * e;
    y += -0.5 * z;
    m + y + LN2_HI * e
}

/// `erf(x)` to a few ulp: the rational minimax approximation of Eigen / XLA, `x·P(x²)/Q(x²)` on `[−4, 4]`
/// (their float64 coefficients, rounded to the nearest float32); erf is ±1 in float32 beyond.
#[inline(always)]
#[allow(clippy::excessive_precision)] // Eigen's coefficients, verbatim
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_258_013_06e-10_f32;
    p = p * x2 + 2.770_681_424_959_02e-8;
    p = p * x2 + -2.101_024_020_825_08e-6;
    p = p * x2 + -5.692_506_394_623_46e-5;
    p = p * x2 + -7.349_906_303_268_55e-4;
    p = p * x2 + -2.954_599_808_540_25e-3;
    p = p * x2 + -1.609_603_332_624_15e-2;
    let mut q = -1.456_607_184_649_96e-5_f32;
    q = q * x2 + -2.133_740_552_789_05e-4;
    q = q * x2 + -1.682_826_974_382_03e-3;
    q = q * x2 + -7.373_329_167_204_68e-3;
    q = q * x2 + -1.426_473_905_141_89e-2;
    x * p / q
}

/// Standard normal CDF `Φ(x) = ½(1 + erf(x/√2))`.
#[inline(always)]
pub fn normal_cdf(x: f32) -> f32 {
    0.5 * (1.0 + erf(x * core::f32::consts::FRAC_1_SQRT_2))
}

/// Standard normal density `φ(x) = e^{−x²/2} / √(2π)`.
#[inline(always)]
pub fn normal_pdf(x: f32) -> f32 {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    INV_SQRT_2PI * exp(-0.5 * x * x)
}

/// `GELU(x) = x · Φ(x)`, HF's `gelu` (the erf form).
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    x * normal_cdf(x)
}

/// `GELU'(x) = Φ(x) + x · φ(x)`, what the backward pass multiplies by.
#[inline(always)]
pub fn gelu_slope(x: f32) -> f32 {
    normal_cdf(x) + x * normal_pdf(x)
}

/// Logistic sigmoid, stable for either sign of `x`.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    // e^{−|x|} ≤ 1 never overflows; for x < 0, σ(x) = eˣ/(1 + eˣ) avoids the cancellation of 1 − σ(−x).
    let e = exp(-x.abs());
    let inv = 1.0 / (1.0 + e);
    if x >= 0.0 {
        inv
    } else {
        e * inv
    }
}

/// The one harness for these functions: the largest `|fast(x) − reference(x)| − rel·|reference(x)|`
/// (so 0 or below means within `rel` relative error plus `abs` absolute error everywhere), over `steps + 1`
/// evenly spaced points of `[lo, hi]` plus the special points 0, ±½, ±1, ±2 inside it, and the `x` where the
/// worst excess is. A NaN from the fast function counts as an infinite error.
pub fn max_error_against_reference(
    fast: impl Fn(f32) -> f32,
    reference: impl Fn(f64) -> f64,
    range: (f32, f32),
    steps: usize,
    rel: f64,
    abs: f64,
) -> (f64, f32) {
    let (lo, hi) = range;
    let special = [0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0];
    let grid = (0..=steps).map(|i| lo + (hi - lo) * (i as f32 / steps as f32));
    let mut worst = (f64::NEG_INFINITY, lo);
    for x in grid.chain(special.iter().copied().filter(|&x| x >= lo && x <= hi)) {
        let want = reference(x as f64);
        let got = fast(x) as f64;
        let excess = (got - want).abs() - rel * want.abs() - abs;
        let excess = if excess.is_nan() { f64::INFINITY } else { excess };
        if excess > worst.0 {
            worst = (excess, x);
        }
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Grid points per range: dense enough that a polynomial's error peaks between points are seen.
    const STEPS: usize = 200_000;
    /// float32's unit roundoff is 6e-8; a few ulp is what a polynomial evaluated in float32 honestly achieves.
    const FEW_ULP: f64 = 4e-7;

    fn assert_within(
        name: &str,
        fast: impl Fn(f32) -> f32,
        reference: impl Fn(f64) -> f64,
        range: (f32, f32),
        rel: f64,
        abs: f64,
    ) {
        let (excess, x) = max_error_against_reference(fast, reference, range, STEPS, rel, abs);
        assert!(excess <= 0.0, "{name} on {range:?}: {excess:e} beyond the bound at x = {x}");
    }

    fn exact_gelu(x: f64) -> f64 {
        0.5 * x * libm::erfc(-x * core::f64::consts::FRAC_1_SQRT_2)
    }

    #[test]
    fn exp_matches_libm() {
        assert_within("exp", exp, libm::exp, (-87.0, 0.0), FEW_ULP, 0.0);
        assert_within("exp", exp, libm::exp, (0.0, 88.0), FEW_ULP, 0.0);
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn exp_ends_of_its_range() {
        // Below the normal range: exactly 0, as float32 attention over a masked key; -inf and f32::MIN too.
        for x in [-87.5, -100.0, -1e30, f32::MIN, f32::NEG_INFINITY] {
            assert_eq!(exp(x), 0.0, "exp({x})");
        }
        assert!(exp(-87.3) > 0.0 && exp(-87.3).is_normal());
        // Saturates, finite, so `e^{large} · 0` is 0 in a masked softmax.
        assert_eq!(exp(1000.0).to_bits(), exp(88.0).to_bits());
        assert!(exp(88.0).is_finite() && (exp(88.0) as f64 / 88f64.exp() - 1.0).abs() < FEW_ULP);
        // A NaN loss must stay NaN so the trainer stops on it.
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn ln_matches_libm() {
        assert_within("ln", ln, libm::log, (1e-30, 1e-6), FEW_ULP, 0.0);
        assert_within("ln", ln, libm::log, (1e-6, 2.0), FEW_ULP, 1e-7);
        assert_within("ln", ln, libm::log, (2.0, 1e30), FEW_ULP, 0.0);
    }

    #[test]
    fn erf_matches_libm() {
        assert_within("erf", erf, libm::erf, (-6.0, 6.0), FEW_ULP, 1e-7);
        assert_eq!(erf(0.0), 0.0);
    }

    #[test]
    fn gelu_and_its_slope_match_the_exact_formulas() {
        let exact_slope = |x: f64| {
            0.5 * libm::erfc(-x * core::f64::consts::FRAC_1_SQRT_2)
                + x * libm::exp(-0.5 * x * x) / libm::sqrt(2.0 * core::f64::consts::PI)
        };
        // GELU(x) = x·½(1 + erf(x/√2)): erf's absolute error (≤ 5e-7, above) is multiplied by |x|/2 ≤ 5.
        assert_within("gelu", gelu, exact_gelu, (-10.0, 10.0), 1e-6, 3e-6);
        assert_within("gelu'", gelu_slope, exact_slope, (-10.0, 10.0), 1e-6, 3e-6);
        assert_eq!(gelu(0.0), 0.0);
        assert_eq!(gelu(-30.0), 0.0);
        assert_eq!(gelu(30.0), 30.0);
    }

    #[test]
    fn gelu_is_the_erf_form_not_the_tanh_one() {
        // Reference values of 0.5·x·(1 + erf(x/√2)) in float64 (scipy.special.erf).
        let cases = [
            (-3.0, -0.004049694784646335),
            (-1.0, -0.15865525393145707),
            (-0.5, -0.15426876936299344),
            (0.5, 0.34573123063700656),
            (1.0, 0.8413447460685429),
            (2.0, 1.9544997361036416),
            (6.0, 5.999999994079),
        ];
        for (x, want) in cases {
            let got = gelu(x) as f64;
            assert!((got - want).abs() < 1e-6, "gelu({x}) = {got}, want {want}");
        }
        // The tanh approximation differs from the erf form by ~1.5e-4 at x = 1.5: the harness must see it.
        let tanh_gelu = |x: f32| 0.5 * x * (1.0 + libm::tanhf(0.797_884_6 * (x + 0.044_715 * x * x * x)));
        let (excess, _) = max_error_against_reference(tanh_gelu, exact_gelu, (-6.0, 6.0), 10_000, 1e-6, 3e-6);
        assert!(excess > 1e-4);
    }

    #[test]
    fn sigmoid_matches_the_formula() {
        assert_within("sigmoid", sigmoid, |x| 1.0 / (1.0 + libm::exp(-x)), (-40.0, 40.0), FEW_ULP, 1e-8);
    }

    #[test]
    fn the_harness_catches_a_wrong_function() {
        let (excess, _) =
            max_error_against_reference(|x| exp(x) * 1.00001, libm::exp, (-1.0, 1.0), 1_000, FEW_ULP, 0.0);
        assert!(excess > 0.0);
        let (nan, _) = max_error_against_reference(|_| f32::NAN, libm::exp, (-1.0, 1.0), 10, 1.0, 1.0);
        assert!(nan.is_infinite());
    }
}
