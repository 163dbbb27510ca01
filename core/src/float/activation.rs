//! Element-wise pieces: GELU (the exact erf form HF uses for `hidden_act = "gelu"`) and the masked softmax.

/// `GELU(x) = x · Φ(x) = 0.5 · x · (1 + erf(x / √2))`, HF's `GELUActivation` (not the tanh approximation).
#[inline]
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + libm::erff(x * core::f32::consts::FRAC_1_SQRT_2))
}

/// Applies [`gelu`] to every element.
pub fn gelu_in_place(x: &mut [f32]) {
    for v in x.iter_mut() {
        *v = gelu(*v);
    }
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
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for s in scores.iter_mut() {
        *s = libm::expf(*s - max);
        sum += *s;
    }
    let inv = 1.0 / sum;
    for s in scores.iter_mut() {
        *s *= inv;
    }
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
