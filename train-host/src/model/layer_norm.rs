//! `nn.LayerNorm` over the last axis: `y = γ·(x − mean)/√(var + eps) + β`, biased variance as torch.

use super::gemm::Threads;
use super::kernels;
use super::params::{ParamId, ParamSet, ParamSetBuilder};
use ndarray::{Array1, Array2, ArrayView2, Zip};
use rayon::prelude::*;

/// Rows per parallel task of the in-place (inference) LayerNorm: ~64 KiB of ELECTRA-Small rows, enough work to
/// outweigh a task's scheduling.
const ROWS_PER_TASK: usize = 64;

#[derive(Clone, Debug)]
pub struct LayerNorm {
    pub weight: ParamId,
    pub bias: ParamId,
    pub width: usize,
    pub eps: f32,
}

/// What the backward pass needs: the normalized input and each row's `1/σ`.
#[derive(Debug)]
pub struct LayerNormCache {
    /// `x̂ = (x − mean)/σ`, `[N, C]`.
    pub xhat: Array2<f32>,
    /// `1/σ` per row, `[N]`.
    pub rstd: Array1<f32>,
}

impl LayerNorm {
    /// Adds `{prefix}.weight [C]` and `{prefix}.bias [C]` (HF names: `...LayerNorm.weight`).
    pub fn new(b: &mut ParamSetBuilder, prefix: &str, width: usize, eps: f32) -> Self {
        let weight = b.add(format!("{prefix}.weight"), &[width]);
        let bias = b.add(format!("{prefix}.bias"), &[width]);
        Self { weight, bias, width, eps }
    }

    /// `x [N, C] → y [N, C]`.
    pub fn forward(&self, p: &ParamSet, x: ArrayView2<'_, f32>) -> (Array2<f32>, LayerNormCache) {
        let (n, c) = x.dim();
        let (gamma, beta) = (p.slice(self.weight), p.slice(self.bias));
        let mut y = Array2::zeros((n, c));
        let mut xhat = Array2::zeros((n, c));
        let mut rstd = Array1::zeros(n);
        let eps = self.eps;
        Zip::from(x.rows()).and(y.rows_mut()).and(xhat.rows_mut()).and(&mut rstd).par_for_each(
            |x, mut y, mut xhat, rstd| match (x.as_slice(), y.as_slice_mut(), xhat.as_slice_mut()) {
                (Some(x), Some(y), Some(xhat)) => *rstd = kernels::layernorm_row(x, gamma, beta, eps, xhat, y),
                // A strided input row (never produced by this crate) is copied first.
                (_, Some(y), Some(xhat)) => {
                    *rstd = kernels::layernorm_row(&x.to_vec(), gamma, beta, eps, xhat, y);
                }
                _ => unreachable!("freshly allocated rows are contiguous"),
            },
        );
        (y, LayerNormCache { xhat, rstd })
    }

    /// Inference: `x [N, C]` normalized in place, nothing kept; rows over all cores or on this thread.
    pub fn infer_in_place(&self, p: &ParamSet, x: &mut Array2<f32>, threads: Threads) {
        let (gamma, beta, eps) = (p.slice(self.weight), p.slice(self.bias), self.eps);
        let c = self.width;
        let Some(flat) = x.as_slice_mut() else {
            unreachable!("inference activations are freshly allocated, row-major")
        };
        match threads {
            Threads::All => flat.par_chunks_mut(c * ROWS_PER_TASK).for_each(|rows| {
                rows.chunks_exact_mut(c).for_each(|r| kernels::layernorm_row_in_place(r, gamma, beta, eps))
            }),
            Threads::One => flat.chunks_exact_mut(c).for_each(|r| kernels::layernorm_row_in_place(r, gamma, beta, eps)),
        }
    }

    /// Accumulates `dγ = Σ_rows dy·x̂` and `dβ = Σ_rows dy` into `g` and returns `dx`.
    pub fn backward(
        &self,
        p: &ParamSet,
        g: &mut ParamSet,
        cache: &LayerNormCache,
        dy: ArrayView2<'_, f32>,
    ) -> Array2<f32> {
        let (n, c) = dy.dim();
        let dy = dy.as_standard_layout();
        let dy_flat = dy.as_slice().unwrap_or_else(|| unreachable!("standard layout"));
        let xhat_flat = cache.xhat.as_slice().unwrap_or_else(|| unreachable!("standard layout"));
        kernels::column_sums(g.slice_mut(self.weight), dy_flat, xhat_flat);
        kernels::column_sums(g.slice_mut(self.bias), dy_flat, &[]);
        let gamma = p.slice(self.weight);
        let mut dx = Array2::zeros((n, c));
        Zip::from(dx.rows_mut()).and(dy.rows()).and(cache.xhat.rows()).and(&cache.rstd).par_for_each(
            |mut dx, dy, xhat, &rstd| match (dx.as_slice_mut(), dy.as_slice(), xhat.as_slice()) {
                (Some(dx), Some(dy), Some(xhat)) => kernels::layernorm_backward_row(dy, xhat, gamma, rstd, dx),
                _ => unreachable!("standard-layout rows are contiguous"),
            },
        );
        dx
    }
}
