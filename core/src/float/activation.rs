//! Element-wise pieces: GELU (the erf form HF uses for `hidden_act = "gelu"`) and the masked softmax.
//!
//! The hot loops use branch-free polynomial forms of `erfc` and `exp` that vectorize; each has a
//! scalar twin on `libm` ([`gelu_reference`], [`exp_reference`]), and one harness
//! ([`max_error_against_reference`]) bounds both against the exact f64 values over a dense grid.

use super::reduce;

/// `erfc(z)` for `z ≥ 0`, with small *relative* error: `t · e^{-z² + P(t)}`, `t = 1 / (1 + z/2)`, with
/// the degree-9 `P` of Numerical Recipes' `erfcc` (fractional error < 1.2e-7 in exact arithmetic;
/// about 2e-6 evaluated in f32 for `z < 4`, where it matters). Computing `erfc` directly, not
/// `1 - erf`, keeps GELU accurate on its negative tail, where `1 + erf(x/√2)` would cancel.
#[inline(always)]
#[allow(clippy::excessive_precision)] // the published coefficients, verbatim
pub fn erfc_nonnegative(z: f32) -> f32 {
    const P: [f32; 10] = [
        -1.265_512_2,
        1.000_023_7,
        0.374_091_96,
        0.096_784_18,
        -0.186_288_06,
        0.278_868_07,
        -1.135_203_98,
        1.488_515_9,
        -0.822_152_23,
        0.170_872_77,
    ];
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = P[0]
        + t * (P[1]
            + t * (P[2] + t * (P[3] + t * (P[4] + t * (P[5] + t * (P[6] + t * (P[7] + t * (P[8] + t * P[9]))))))));
    t * exp(poly - z * z)
}

/// `GELU(x) = x · Φ(x) = 0.5 · x · (1 + erf(x / √2))`, HF's `GELUActivation` (the erf form, not the
/// tanh approximation), as `x · erfc(-x/√2) / 2`: branch-free, so loops over slices vectorize.
/// Within 3e-7 of the exact value (absolute, or relative above 1), as close as `libm::erff` gets.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    let tail = 0.5 * erfc_nonnegative(x.abs() * core::f32::consts::FRAC_1_SQRT_2);
    // Φ(x) = tail for x < 0, 1 - tail for x ≥ 0.
    let phi = if x < 0.0 { tail } else { 1.0 - tail };
    x * phi
}

/// The scalar twin of [`gelu`]: the same formula on `libm::erff`.
pub fn gelu_reference(x: f32) -> f32 {
    0.5 * x * (1.0 + libm::erff(x * core::f32::consts::FRAC_1_SQRT_2))
}

/// Applies [`gelu`] to every element. On an x86-64 host with AVX2 the same loop runs compiled for
/// 8-lane vectors (no FMA contraction, so results are bit-identical to the baseline 4-lane build).
pub fn gelu_in_place(x: &mut [f32]) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { gelu_in_place_avx2(x) };
        return;
    }
    gelu_in_place_portable(x);
}

fn gelu_in_place_portable(x: &mut [f32]) {
    for v in x.iter_mut() {
        *v = gelu(*v);
    }
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx2")]
unsafe fn gelu_in_place_avx2(x: &mut [f32]) {
    for v in x.iter_mut() {
        *v = gelu(*v);
    }
}

/// `e^x` for `x ≤ 88`, branch-free: `x = n·ln2 + r` with `|r| ≤ ln2/2` (Cody–Waite split of ln2),
/// `e^r` by Cephes' degree-6 polynomial, `2^n` built in the exponent bits. Below -87.3 (where `e^x`
/// leaves the normal f32 range) it returns exactly 0, as a masked attention score needs; above 88 it
/// saturates at `e^88` (softmax only ever passes `x ≤ 0`). Within 2e-7 relative of the exact value.
#[inline(always)]
#[allow(clippy::excessive_precision)] // Cephes' coefficients, verbatim
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = core::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5·2^23 rounds to an integer in the low mantissa bits (|n| < 2^22).
    const ROUND: f32 = 12_582_912.0;
    const MIN_X: f32 = -87.336_54;
    let xc = x.clamp(MIN_X, 88.0);
    let shifted = xc * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1)
        * r
        + 5.000_000_1e-1;
    let e_r = p * r * r + r + 1.0;
    // 2^n: n + 127 in the exponent field; n sits in the low bits of `shifted` (offset 0x4B40_0000).
    let scale = f32::from_bits(shifted.to_bits().wrapping_sub(0x4B40_0000).wrapping_add(127) << 23);
    if x < MIN_X {
        0.0
    } else {
        e_r * scale
    }
}

/// The scalar twin of [`exp`].
pub fn exp_reference(x: f32) -> f32 {
    libm::expf(x)
}

/// Additive mask value of a key that must not be attended: HF adds `torch.finfo(dtype).min`.
pub const MASKED_SCORE: f32 = f32::MIN;

/// Softmax of one row of attention scores in place, after adding HF's additive padding mask
/// (`key_mask[j] == 0` → `scores[j] += f32::MIN`). Subtracting the row maximum keeps `exp` in range;
/// a fully masked row therefore comes out uniform, exactly as HF's float32 attention does.
pub fn masked_softmax_in_place(scores: &mut [f32], key_mask: Option<&[u8]>) {
    if let Some(mask) = key_mask {
        for (s, &m) in scores.iter_mut().zip(mask) {
            if m == 0 {
                *s += MASKED_SCORE;
            }
        }
    }
    let max = reduce::max(scores);
    for s in scores.iter_mut() {
        *s = exp(*s - max);
    }
    let inv = 1.0 / reduce::sum(scores);
    for s in scores.iter_mut() {
        *s *= inv;
    }
}

/// The shared harness for the fast element-wise functions: the largest `|fast(x) - reference(x)|`,
/// divided by `max(1, |reference(x)|)` (absolute error near 0, relative error for large values),
/// over `steps + 1` evenly spaced points of `[lo, hi]` plus the special points 0, ±0.5, ±1, ±2, hi, lo.
pub fn max_error_against_reference(
    fast: impl Fn(f32) -> f32,
    reference: impl Fn(f64) -> f64,
    lo: f32,
    hi: f32,
    steps: usize,
) -> f64 {
    let special = [0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0, lo, hi];
    let grid = (0..=steps).map(|i| lo + (hi - lo) * (i as f32 / steps as f32));
    let mut worst = 0.0f64;
    for x in grid.chain(special.iter().copied().filter(|&x| x >= lo && x <= hi)) {
        let want = reference(x as f64);
        let got = fast(x) as f64;
        let err = (got - want).abs() / want.abs().max(1.0);
        // A NaN from the fast path must fail the bound.
        worst = if err.is_nan() { f64::INFINITY } else { worst.max(err) };
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gelu_is_the_erf_form() {
        // Reference values of 0.5·x·(1 + erf(x/√2)) in float64 (scipy.special.erf).
        let cases = [
            (-3.0, -0.004049694784646335),
            (-1.0, -0.15865525393145707),
            (-0.5, -0.15426876936299344),
            (0.0, 0.0),
            (0.5, 0.34573123063700656),
            (1.0, 0.8413447460685429),
            (2.0, 1.9544997361036416),
            (6.0, 5.999999994079),
        ];
        for (x, want) in cases {
            let got = gelu(x) as f64;
            assert!((got - want).abs() < 1e-6, "gelu({x}) = {got}, want {want}");
        }
        // The tanh approximation differs from the erf form by ~1.5e-4 at x = 1.5: this would catch it.
        let tanh_form = 0.5 * 1.5 * (1.0 + libm::tanh(0.7978845608028654 * (1.5 + 0.044715 * 1.5f64.powi(3))));
        assert!((gelu(1.5) as f64 - tanh_form).abs() > 1e-5);
    }

    #[test]
    fn fast_forms_match_their_libm_twins() {
        // erfc, relative error where GELU uses it (z < 4; beyond, GELU's tail is below 1e-4 · |x|).
        let erfc_rel = (0..=100_000)
            .map(|i| 4.0 * i as f32 / 100_000.0)
            .map(|z| ((erfc_nonnegative(z) as f64 - libm::erfc(z as f64)) / libm::erfc(z as f64)).abs())
            .fold(0.0f64, |a, e| if e.is_nan() { f64::INFINITY } else { a.max(e) });
        assert!(erfc_rel < 3e-6, "erfc {erfc_rel:e}");
        // GELU: absolute error, relative above 1; f32 rounding level, like the libm twin.
        let exact_gelu = |x: f64| 0.5 * x * libm::erfc(-x * core::f64::consts::FRAC_1_SQRT_2);
        let gelu_err = max_error_against_reference(gelu, exact_gelu, -15.0, 15.0, 600_000);
        assert!(gelu_err < 3e-7, "gelu {gelu_err:e}");
        let twin_err = max_error_against_reference(gelu_reference, exact_gelu, -15.0, 15.0, 100_000);
        assert!(twin_err < 3e-7, "gelu_reference {twin_err:e}");
        assert_eq!(gelu(0.0), 0.0);
        assert_eq!(gelu(-30.0), 0.0);
        assert_eq!(gelu(30.0), 30.0);
        // exp: relative error on [-87, 0] (all softmax ever asks for) and up to 88.
        let exp_rel = |x: f64| libm::exp(x);
        for (lo, hi) in [(-87.0, 0.0), (0.0, 88.0)] {
            let worst = (0..=200_000)
                .map(|i| lo + (hi - lo) * (i as f32 / 200_000.0))
                .map(|x| ((exp(x) as f64 - exp_rel(x as f64)) / exp_rel(x as f64)).abs())
                .fold(0.0f64, |a, e| if e.is_nan() { f64::INFINITY } else { a.max(e) });
            assert!(worst < 3e-7, "exp on [{lo}, {hi}]: {worst:e}");
        }
        assert!(max_error_against_reference(exp, libm::exp, -20.0, 5.0, 100_000) < 3e-7);
        // Below the normal range: exactly 0, as a masked score needs; -inf and f32::MIN too.
        for x in [-87.5, -100.0, -1e30, f32::MIN, f32::NEG_INFINITY] {
            assert_eq!(exp(x), 0.0, "exp({x})");
        }
        assert_eq!(exp(0.0), 1.0);
        assert!((exp_reference(1.0) - core::f32::consts::E).abs() < 1e-6);
    }

    #[test]
    fn vectorised_gelu_loop_equals_the_scalar_function() {
        let mut xs = [0.0f32; 1001];
        for (i, v) in xs.iter_mut().enumerate() {
            *v = (i as f32 - 500.0) * 0.0173;
        }
        let mut looped = xs;
        gelu_in_place(&mut looped);
        let mut portable = xs;
        gelu_in_place_portable(&mut portable);
        for ((x, a), b) in xs.iter().zip(looped).zip(portable) {
            assert_eq!(a.to_bits(), gelu(*x).to_bits(), "x = {x}");
            assert_eq!(b.to_bits(), gelu(*x).to_bits(), "x = {x}");
        }
    }

    #[test]
    fn harness_catches_a_wrong_function() {
        // The tanh GELU is a fine approximation but not HF's: the harness must see the difference.
        let tanh_gelu = |x: f32| 0.5 * x * (1.0 + libm::tanhf(0.797_884_6 * (x + 0.044_715 * x * x * x)));
        let exact_gelu = |x: f64| 0.5 * x * libm::erfc(-x * core::f64::consts::FRAC_1_SQRT_2);
        assert!(max_error_against_reference(tanh_gelu, exact_gelu, -6.0, 6.0, 10_000) > 1e-4);
        assert!(max_error_against_reference(|_| f32::NAN, libm::exp, -1.0, 1.0, 10).is_infinite());
    }

    #[test]
    fn softmax_sums_to_one_and_ignores_masked_keys() {
        let mut s = [1.0, 2.0, 3.0, 100.0];
        masked_softmax_in_place(&mut s, Some(&[1, 1, 1, 0]));
        let e = [(-2.0f32).exp(), (-1.0f32).exp(), 1.0];
        let total: f32 = e.iter().sum();
        for (got, want) in s[..3].iter().zip(e) {
            assert!((got - want / total).abs() < 1e-6);
        }
        assert_eq!(s[3], 0.0);
    }

    #[test]
    fn fully_masked_row_is_uniform_like_hf() {
        let mut s = [0.5, -2.0, 3.0];
        masked_softmax_in_place(&mut s, Some(&[0, 0, 0]));
        for v in s {
            assert!((v - 1.0 / 3.0).abs() < 1e-6);
        }
    }
}
