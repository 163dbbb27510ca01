//! `nn.LayerNorm` over the last dimension, with HF's `layer_norm_eps` (1e-12 for ELECTRA).

use super::reduce;
use crate::simd::multiversion;

/// One LayerNorm's parameters, borrowed: `weight` (γ) and `bias` (β), both `[N]`.
#[derive(Clone, Copy, Debug)]
pub struct LayerNormWeights<'a> {
    pub weight: &'a [f32],
    pub bias: &'a [f32],
}

/// The mean and `1 / sqrt(var + eps)` of one row: two passes (mean, then squared deviations) keep
/// the variance accurate when the mean is large compared with the spread.
#[inline(always)]
fn row_stats(x: &[f32], eps: f32) -> (f32, f32) {
    let n = x.len() as f32;
    let mean = reduce::sum(x) / n;
    let var = reduce::sum_by(x, |v| (v - mean) * (v - mean)) / n;
    (mean, 1.0 / libm::sqrtf(var + eps))
}

/// `x ← (x - mean) · inv_std · γ + β`.
#[inline(always)]
fn row_apply(x: &mut [f32], mean: f32, inv_std: f32, weight: &[f32], bias: &[f32]) {
    for ((v, g), b) in x.iter_mut().zip(weight).zip(bias) {
        *v = (*v - mean) * inv_std * g + b;
    }
}

multiversion! {
    /// `x ← (x - mean) / sqrt(var + eps) · γ + β` over one row `x [N]`, with the biased variance as PyTorch
    /// computes it. The one LayerNorm of the inference paths: the float and the int8 encoder both
    /// call it (the trainer's, which also keeps `x̂` for the backward pass, is tested against it).
    pub fn layer_norm_row(x: &mut [f32], weight: &[f32], bias: &[f32], eps: f32) {
        let (mean, inv_std) = row_stats(x, eps);
        row_apply(x, mean, inv_std, weight, bias);
    }
}

multiversion! {
    /// [`layer_norm_row`] in two steps, for parameters that arrive a run at a time (f16 ones widened
    /// on the stack, model file version 7): this is its first step, `(mean, inv_std)` of the row.
    pub fn layer_norm_stats(x: &[f32], eps: f32) -> (f32, f32) {
        row_stats(x, eps)
    }
}

multiversion! {
    /// [`layer_norm_row`]'s second step over part of a row: `x ← (x - mean) · inv_std · γ + β`, the
    /// same bits as the whole-row call.
    pub fn layer_norm_apply(x: &mut [f32], mean: f32, inv_std: f32, weight: &[f32], bias: &[f32]) {
        row_apply(x, mean, inv_std, weight, bias);
    }
}

/// Normalises every row of `x [T, N]` in place ([`layer_norm_row`]).
pub fn layer_norm_forward(w: LayerNormWeights<'_>, eps: f32, x: &mut [f32]) {
    for row in x.chunks_exact_mut(w.weight.len()) {
        layer_norm_row(row, w.weight, w.bias, eps);
    }
}

/// `x ← LayerNorm(x + residual)`: the post-LN sublayer output of BERT/ELECTRA.
pub fn add_layer_norm_forward(w: LayerNormWeights<'_>, eps: f32, x: &mut [f32], residual: &[f32]) {
    for (v, r) in x.iter_mut().zip(residual) {
        *v += r;
    }
    layer_norm_forward(w, eps, x);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_each_row() {
        let weight = [1.0, 2.0, 1.0, 1.0];
        let bias = [0.0, 0.0, 0.5, 0.0];
        // Row mean 2.5, biased variance 1.25.
        let mut x = [1.0, 2.0, 3.0, 4.0, 7.0, 7.0, 7.0, 7.0];
        layer_norm_forward(LayerNormWeights { weight: &weight, bias: &bias }, 1e-12, &mut x);
        let s = 1.0 / 1.25f32.sqrt();
        let expected = [-1.5 * s, -0.5 * s * 2.0, 0.5 * s + 0.5, 1.5 * s];
        for (got, want) in x[..4].iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
        // A constant row has zero variance: eps keeps it finite and it maps to β.
        assert_eq!(&x[4..], &[0.0, 0.0, 0.5, 0.0]);
    }
}
