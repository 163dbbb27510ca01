//! The float parts of the int8 encoder: LayerNorm, softmax, GELU over rows, and the f16 hidden state.
//!
//! LayerNorm, softmax and GELU are the float encoder's loops ([`crate::float`]), each compiled per SIMD tier
//! by [`crate::simd::multiversion!`] over the project's one scalar definitions ([`crate::math`]): both
//! inference paths run the same code, so the same bits.

use super::floats::{narrow_f16_slice, widen_f16_slice, Floats, WIDEN_RUN};
use super::weights::QLayerNorm;
pub use crate::float::activation::gelu_in_place;
use crate::float::activation::masked_softmax_in_place;
use crate::float::layer_norm::{layer_norm_apply, layer_norm_row, layer_norm_stats};

/// Rows of the f16 hidden state (its bits, as the arena holds them) into f32.
pub(crate) fn load_f16(bits: &[u16], out: &mut [f32]) {
    widen_f16_slice(bits, out);
}

/// f32 rows into the f16 hidden state's bits.
pub(crate) fn store_f16(x: &[f32], bits: &mut [u16]) {
    narrow_f16_slice(x, bits);
}

/// `x ← LayerNorm(x)` over one row, HF semantics: the float encoder's [`layer_norm_row`]. f16
/// parameters (format version 7) are widened [`WIDEN_RUN`] at a time on the stack and applied in
/// runs by the same code, so they give the bits f32 parameters of the widened values would.
#[inline]
pub fn layer_norm_in_place(x: &mut [f32], ln: &QLayerNorm) {
    if let (Floats::F32(weight), Floats::F32(bias)) = (ln.weight, ln.bias) {
        return layer_norm_row(x, weight, bias, ln.eps);
    }
    let (mean, inv_std) = layer_norm_stats(x, ln.eps);
    let (mut weight, mut bias) = ([0.0f32; WIDEN_RUN], [0.0f32; WIDEN_RUN]);
    for (run, x) in x.chunks_mut(WIDEN_RUN).enumerate() {
        let (weight, bias) = (&mut weight[..x.len()], &mut bias[..x.len()]);
        ln.weight.widen_into(run * WIDEN_RUN, weight);
        ln.bias.widen_into(run * WIDEN_RUN, bias);
        layer_norm_apply(x, mean, inv_std, weight, bias);
    }
}

/// In-place softmax of one row of attention scores (no padding): the float encoder's
/// [`masked_softmax_in_place`].
#[inline]
pub fn softmax_in_place(x: &mut [f32]) {
    masked_softmax_in_place(x, None);
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;

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
        let mut x16 = x;
        layer_norm_in_place(&mut x, &QLayerNorm { weight: Floats::F32(&g), bias: Floats::F32(&b), eps: 1e-12 });
        let std = (8.25f32).sqrt();
        for (i, v) in x.iter().enumerate() {
            let want = (i as f32 + 1.0 - 5.5) / std * 2.0 + 0.5;
            assert!((v - want).abs() < 1e-5, "{v} {want}");
        }
        // f16 parameters holding the same values (2 and 0.5 are exact in f16): the same bits.
        let (g16, b16) = ([f16::from_f32(2.0).to_bits(); 10], [f16::from_f32(0.5).to_bits(); 10]);
        layer_norm_in_place(&mut x16, &QLayerNorm { weight: Floats::F16(&g16), bias: Floats::F16(&b16), eps: 1e-12 });
        assert_eq!(x16.map(f32::to_bits), x.map(f32::to_bits));
    }
}
