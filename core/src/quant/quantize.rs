//! Symmetric int8 quantization of one row: `x ≈ scale · q`, `q ∈ [-127, 127]`,
//! `scale = max |x| / 127`. Used for weights at export and for activations at run time, so both
//! sides round the same way.

use crate::simd::multiversion;

/// Largest quantized magnitude. -128 is never produced, which keeps every product of two
/// quantized values, and the AVX2 kernel's `abs`/`sign` trick, exact.
pub const QMAX: f32 = 127.0;

/// Adding then subtracting 1.5 · 2^23 rounds an f32 of magnitude below 2^22 to the nearest
/// integer (ties to even) in plain IEEE arithmetic: the same result on every target, and it
/// vectorizes, unlike `libm::roundf`.
const ROUNDING_MAGIC: f32 = 12_582_912.0;

/// `v` rounded to the nearest integer, ties to even (`|v|` below 2^22).
#[inline(always)]
pub fn round_ties_even(v: f32) -> f32 {
    (v + ROUNDING_MAGIC) - ROUNDING_MAGIC
}

/// [`round_ties_even`] as an integer, read from the bits: for `|v| < 2^22`, `v + 1.5·2^23` has
/// exponent 23 and `1.5·2^23 + round(v)` as its mantissa, so subtracting the magic's bits leaves
/// `round(v)`. Integer-only, so it vectorizes (a saturating `as i32` does not); NaN gives an
/// arbitrary value, never undefined behaviour.
#[inline(always)]
pub fn round_to_i32(v: f32) -> i32 {
    ((v + ROUNDING_MAGIC).to_bits() as i32).wrapping_sub(ROUNDING_MAGIC.to_bits() as i32)
}

/// `max |x|` over the values that are not NaN (0 if none), the same value as folding `f32::max`
/// over `|x|`. Compares bit patterns: with the sign cleared, the order of non-NaN floats is the
/// order of their bits as integers, up to infinity's. As the smallest gap `INFINITY_BITS - bits`
/// (wrapping): a NaN's gap wraps to above `INFINITY_BITS` and never wins unless every value is a
/// NaN. A plain integer min reduction, which LLVM vectorizes at full width (a float max with NaN
/// tests, or a select in the loop, it does not).
#[inline(always)]
pub fn max_abs(x: &[f32]) -> f32 {
    const ABS: u32 = 0x7fff_ffff;
    const INFINITY_BITS: u32 = 0x7f80_0000;
    let gap = x.iter().map(|v| INFINITY_BITS.wrapping_sub(v.to_bits() & ABS)).fold(u32::MAX, u32::min);
    f32::from_bits(INFINITY_BITS.saturating_sub(gap))
}

multiversion! {
    /// Quantizes `x` into `q` (same length) and returns the scale; an all-zero row gets scale 0.
    pub fn quantize_row(x: &[f32], q: &mut [i8]) -> f32 {
        quantize_row_to(x, q, QMAX)
    }
}

multiversion! {
    /// Like [`quantize_row`] into int16 `[-qmax, qmax]` (the attention probabilities).
    pub fn quantize_row_i16(x: &[f32], q: &mut [i16], qmax: f32) -> f32 {
        quantize_row_to(x, q, qmax)
    }
}

/// Largest int4 magnitude the writer produces: -8 is never written, so the grid is symmetric like
/// the int8 one (a nibble of -8 still reads as -8: the kernels take any nibble).
pub const QMAX_I4: f32 = 7.0;

/// Quantizes one group of int4 weights `x` (even length) to `[-7, 7]` with `scale = max |x| / 7`,
/// packed two per byte into `out` (`x.len() / 2` bytes; element `2j` in the low nibble of byte `j`,
/// `2j + 1` in the high one, two's complement), and returns the scale (0 for an all-zero group,
/// NaN for a group holding NaN or infinity, as [`quantize_row`]).
pub fn quantize_group_i4(x: &[f32], out: &mut [u8]) -> f32 {
    let amax = max_abs(x);
    if amax == 0.0 || !amax.is_finite() {
        out.iter_mut().for_each(|b| *b = 0);
        return if amax == 0.0 { 0.0 } else { f32::NAN };
    }
    let inv = QMAX_I4 / amax;
    let q = |v: f32| (round_to_i32((v * inv).clamp(-QMAX_I4, QMAX_I4)) & 0xf) as u8;
    for (byte, pair) in out.iter_mut().zip(x.chunks_exact(2)) {
        *byte = q(pair[0]) | (q(pair[1]) << 4);
    }
    amax / QMAX_I4
}

/// [`quantize_group_i4`] with the scale stored as f16 (model file format version 6): the scale is
/// the smallest f16 at or above `max |x| / 7` (so no weight is clipped), and the weights are
/// rounded against that stored scale, so `scale · q` is what a reader computes. Returns the
/// scale's f16 bits, or `Err(max |x| / 7)` when that is beyond f16's largest finite value (or not
/// finite).
pub fn quantize_group_i4_f16(x: &[f32], out: &mut [u8]) -> Result<u16, f32> {
    let amax = max_abs(x);
    let wanted = amax / QMAX_I4;
    if !wanted.is_finite() || wanted > half::f16::MAX.to_f32() {
        return Err(wanted);
    }
    if amax == 0.0 {
        out.iter_mut().for_each(|b| *b = 0);
        return Ok(0);
    }
    let mut scale = half::f16::from_f32(wanted);
    if scale.to_f32() < wanted {
        // Round-to-nearest went down: the next f16 up (positive, so the next bit pattern).
        scale = half::f16::from_bits(scale.to_bits() + 1);
    }
    let inv = 1.0 / scale.to_f32();
    let q = |v: f32| (round_to_i32((v * inv).clamp(-QMAX_I4, QMAX_I4)) & 0xf) as u8;
    for (byte, pair) in out.iter_mut().zip(x.chunks_exact(2)) {
        *byte = q(pair[0]) | (q(pair[1]) << 4);
    }
    Ok(scale.to_bits())
}

/// The int4 value in the low (`high == false`) or high nibble of `byte`, sign-extended.
#[inline(always)]
pub fn nibble(byte: u8, high: bool) -> i8 {
    let v = if high { byte >> 4 } else { byte & 0xf };
    ((v ^ 8) as i8) - 8
}

/// Quantizes into `[-qmax, qmax]` of an integer type.
#[inline(always)]
fn quantize_row_to<Q: FromRounded>(x: &[f32], q: &mut [Q], qmax: f32) -> f32 {
    let amax = max_abs(x);
    if amax == 0.0 || !amax.is_finite() {
        q.iter_mut().for_each(|v| *v = Q::from_rounded(0));
        // NaN or infinity in, NaN out: the caller's logits show it instead of hiding it.
        return if amax == 0.0 { 0.0 } else { f32::NAN };
    }
    let inv = qmax / amax;
    for (qi, &xi) in q.iter_mut().zip(x) {
        *qi = Q::from_rounded(round_to_i32((xi * inv).clamp(-qmax, qmax)));
    }
    amax / qmax
}

/// Narrowing of an already rounded, in-range integer.
pub trait FromRounded: Copy {
    fn from_rounded(v: i32) -> Self;
}

impl FromRounded for i8 {
    #[inline(always)]
    fn from_rounded(v: i32) -> Self {
        v as i8
    }
}

impl FromRounded for i16 {
    #[inline(always)]
    fn from_rounded(v: i32) -> Self {
        v as i16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_error_is_at_most_half_a_step() {
        let x: [f32; 13] = [0.5, -1.25, 3.0, -3.0, 0.0, 1e-3, 2.9, -0.7, 1.0, 2.0, -2.5, 0.33, 1.7];
        let mut q = [0i8; 13];
        let scale = quantize_row(&x, &mut q);
        assert_eq!(scale, 3.0 / 127.0);
        assert_eq!(q[2], 127);
        assert_eq!(q[3], -127);
        for (&v, &qi) in x.iter().zip(&q) {
            assert!((v - scale * qi as f32).abs() <= scale * 0.5 + 1e-7, "{v} {qi}");
        }
    }

    #[test]
    fn f16_group_scales_never_clip_and_round_against_the_stored_scale() {
        // Groups whose max / 7 is exact in f16 (3.5 / 7), needs rounding up (0.1 / 7), is subnormal
        // in f16 (1e-6 / 7), and a weight of 0.1 times a few magnitudes.
        for amax in [3.5f32, 0.1, 1e-6, 40.0, 0.013] {
            let x: [f32; 8] = [amax, -amax, 0.5 * amax, -0.31 * amax, 0.0, 0.07 * amax, -0.93 * amax, 0.49 * amax];
            let mut out = [0u8; 4];
            let bits = quantize_group_i4_f16(&x, &mut out).unwrap();
            let scale = half::f16::from_bits(bits).to_f32();
            assert!(scale >= amax / QMAX_I4, "{amax}: scale {scale} below max / 7");
            // The next f16 down would clip: the scale is the smallest that does not.
            assert!(half::f16::from_bits(bits - 1).to_f32() < amax / QMAX_I4, "{amax}");
            for (c, &v) in x.iter().enumerate() {
                let q = nibble(out[c / 2], c % 2 == 1);
                assert!((-7..=7).contains(&q));
                assert!((v - scale * q as f32).abs() <= scale * 0.5 * (1.0 + 1e-6), "{amax} {c}: {v} vs {q}·{scale}");
            }
        }
        let mut out = [0xffu8; 2];
        assert_eq!(quantize_group_i4_f16(&[0.0; 4], &mut out), Ok(0));
        assert_eq!(out, [0, 0]);
        assert_eq!(quantize_group_i4_f16(&[7.0e5, 0.0], &mut out[..1]), Err(1.0e5));
        assert!(quantize_group_i4_f16(&[f32::INFINITY, 0.0], &mut out[..1]).is_err());
    }

    #[test]
    fn zero_row_has_zero_scale_and_nan_poisons() {
        let mut q = [5i8; 4];
        assert_eq!(quantize_row(&[0.0; 4], &mut q), 0.0);
        assert_eq!(q, [0; 4]);
        assert!(quantize_row(&[1.0, f32::INFINITY, 0.0, 0.0], &mut q).is_nan());
    }

    #[test]
    fn max_abs_matches_folding_f32_max() {
        let specials = [0.0, -0.0, 1.5, -3.25, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, -f32::NAN, 1e-40, -3e38];
        let mut state = 0x2545_f491u32;
        for len in 0..70 {
            for trial in 0..20 {
                let x: std::vec::Vec<f32> = (0..len)
                    .map(|i| {
                        state ^= state << 13;
                        state ^= state >> 17;
                        state ^= state << 5;
                        if trial % 4 == 0 && i % 7 == 3 {
                            specials[(state % 10) as usize]
                        } else {
                            f32::from_bits(state) // any bits: NaNs, denormals, infinities included
                        }
                    })
                    .collect();
                let expected = x.iter().fold(0f32, |m, v| m.max(v.abs()));
                assert_eq!(max_abs(&x).to_bits(), expected.to_bits(), "{x:?}");
            }
        }
    }

    #[test]
    fn integer_rounding_matches_float_rounding() {
        let mut v = -200.0f32;
        while v < 200.0 {
            assert_eq!(round_to_i32(v) as f32, round_ties_even(v), "{v}");
            v += 0.125 / 3.0;
        }
        assert_eq!(round_to_i32(-0.5), 0);
        assert_eq!(round_to_i32(-1.5), -2);
        assert_eq!(round_to_i32(127.0), 127);
    }

    #[test]
    fn int4_groups_round_trip_within_half_a_step_and_pack_low_nibble_first() {
        let x = [0.7f32, -0.1, 0.35, -0.7, 0.0, 0.2, 0.05, -0.049];
        let mut out = [0u8; 4];
        let scale = quantize_group_i4(&x, &mut out);
        assert_eq!(scale, 0.7 / 7.0);
        assert_eq!((nibble(out[0], false), nibble(out[0], true)), (7, -1));
        assert_eq!(nibble(out[1], true), -7);
        for (i, &v) in x.iter().enumerate() {
            let q = nibble(out[i / 2], i % 2 == 1);
            assert!((-7..=7).contains(&q));
            assert!((v - scale * q as f32).abs() <= scale * 0.5 + 1e-7, "{v} {q}");
        }
        assert_eq!(quantize_group_i4(&[0.0; 4], &mut out[..2]), 0.0);
        assert_eq!(out[..2], [0, 0]);
        assert!(quantize_group_i4(&[1.0, f32::INFINITY], &mut out[..1]).is_nan());
        for v in -8..8i8 {
            let byte = (v as u8) & 0xf;
            assert_eq!(nibble(byte, false), v);
            assert_eq!(nibble(byte << 4, true), v);
        }
    }

    #[test]
    fn rounds_ties_to_even() {
        assert_eq!(round_ties_even(2.5), 2.0);
        assert_eq!(round_ties_even(-2.5), -2.0);
        assert_eq!(round_ties_even(126.5), 126.0);
        assert_eq!(round_ties_even(-0.4), 0.0);
        assert_eq!(round_ties_even(1.6), 2.0);
    }
}
