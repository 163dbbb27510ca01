//! Element-wise pieces of the float encoder over slices: GELU (HF's `hidden_act = "gelu"`, the erf form) and
//! the masked softmax. The scalar functions are the project's one definition ([`crate::math`]); the loops
//! are compiled per SIMD tier by the one dispatch ([`crate::simd::multiversion!`]).

use super::reduce;
use crate::math::{exp, gelu};
use crate::simd::multiversion;

multiversion! {
    /// Applies [`gelu`] to every element.
    pub fn gelu_in_place(x: &mut [f32]) {
        for v in x.iter_mut() {
            *v = gelu(*v);
        }
    }
}

/// Additive mask value of a key that must not be attended: HF adds `torch.finfo(dtype).min`.
pub const MASKED_SCORE: f32 = f32::MIN;

multiversion! {
    /// Softmax of one row of attention scores in place, after adding HF's additive padding mask
    /// (`key_mask[j] == 0` → `scores[j] += f32::MIN`; `None`: no padding). Subtracting the row maximum keeps
    /// `exp` in range; a fully masked row therefore comes out uniform, exactly as HF's float32 attention does.
    /// The one softmax of the project: the float and the int8 encoder both call it.
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
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn gelu_loop_equals_the_scalar_function_in_every_simd_tier() {
        let mut xs = [0.0f32; 1001];
        for (i, v) in xs.iter_mut().enumerate() {
            *v = (i as f32 - 500.0) * 0.0173;
        }
        // Tier 1 is the baseline, 2 AVX2, 3 AVX-512 (capped at what this CPU runs); 0 restores the widest.
        // Every copy gives the same bits, so another test running meanwhile sees no difference.
        for tier in [1, 2, 3, 0] {
            crate::simd::force_tier(tier);
            let mut looped = xs;
            gelu_in_place(&mut looped);
            for (x, y) in xs.iter().zip(looped) {
                assert_eq!(y.to_bits(), gelu(*x).to_bits(), "tier {tier}, x = {x}");
            }
        }
    }
}
