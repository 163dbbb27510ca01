//! `nn.Linear`: `y = x · Wᵀ + b`, with `W` stored `[out, in]` as HF (and PyTorch) store it.

use super::gemm::{Gemm, MatMut, MatRef};

/// One `nn.Linear`'s parameters, borrowed: `weight` is `[out, in]` row-major, `bias` is `[out]`.
#[derive(Clone, Copy, Debug)]
pub struct LinearWeights<'a> {
    pub weight: &'a [f32],
    pub bias: &'a [f32],
}

impl LinearWeights<'_> {
    /// Number of outputs per row (`out`).
    pub fn out_features(&self) -> usize {
        self.bias.len()
    }
}

/// `y [T, out] = x [T, in] · Wᵀ [in, out] + b`. The bias is written first and the GEMM accumulates onto it.
///
/// Lengths come from the caller's validated layout: `x.len() == T * in`, `y.len() == T * out`,
/// `weight.len() == out * in` (checked again by the GEMM's bounds guard).
pub fn linear_forward(gemm: &dyn Gemm, w: LinearWeights<'_>, in_features: usize, x: &[f32], y: &mut [f32]) {
    let out_features = w.out_features();
    let tokens = y.len() / out_features.max(1);
    for row in y.chunks_exact_mut(out_features) {
        row.copy_from_slice(w.bias);
    }
    gemm.gemm(
        1.0,
        MatRef::row_major(x, tokens, in_features),
        MatRef::row_major(w.weight, out_features, in_features).t(),
        1.0,
        MatMut::row_major(y, tokens, out_features),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::float::gemm::MatrixMultiply;

    #[test]
    fn matches_the_definition() {
        // W [out 2, in 3], x [T 2, in 3].
        let weight = [1.0, 2.0, 3.0, -1.0, 0.5, 0.0];
        let bias = [0.25, -0.5];
        let x = [1.0, 0.0, -1.0, 2.0, 1.0, 1.0];
        let mut y = [f32::NAN; 4];
        linear_forward(&MatrixMultiply, LinearWeights { weight: &weight, bias: &bias }, 3, &x, &mut y);
        // row 0: [1 - 3 + 0.25, -1 - 0.5]; row 1: [2 + 2 + 3 + 0.25, -2 + 0.5 - 0.5]
        assert_eq!(y, [-1.75, -1.5, 7.25, -2.0]);
    }
}
