//! The float parts of the int8 encoder: LayerNorm, softmax, GELU over rows, and the f16 hidden state.
//!
//! LayerNorm, softmax and GELU are the float encoder's loops ([`crate::float`]), each compiled per SIMD tier
//! by [`crate::simd::multiversion!`] over the project's one scalar definitions ([`crate::math`]): both
//! inference paths run the same code, so the same bits.

use super::weights::QLayerNorm;
pub use crate::float::activation::gelu_in_place;
use crate::float::activation::masked_softmax_in_place;
use crate::float::layer_norm::layer_norm_row;
use half::f16;
use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};

/// Rows of the f16 hidden state (its bits, as the arena holds them) into f32.
pub(crate) fn load_f16(bits: &[u16], out: &mut [f32]) {
    bits.reinterpret_cast::<f16>().convert_to_f32_slice(out);
}

/// f32 rows into the f16 hidden state's bits.
pub(crate) fn store_f16(x: &[f32], bits: &mut [u16]) {
    bits.reinterpret_cast_mut::<f16>().convert_from_f32_slice(x);
}

/// `x ← LayerNorm(x)` over one row, HF semantics: the float encoder's [`layer_norm_row`].
#[inline]
pub fn layer_norm_in_place(x: &mut [f32], ln: &QLayerNorm) {
    layer_norm_row(x, ln.weight, ln.bias, ln.eps);
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
