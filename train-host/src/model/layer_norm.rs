//! `nn.LayerNorm` over the last axis: `y = γ·(x − mean)/√(var + eps) + β`, biased variance as torch.

use super::gemm::Threads;
use super::kernels;
use super::layout::{row_major, with_row_major_mut};
use super::params::{ParamId, ParamSet, ParamSetBuilder};
use ndarray::{Array2, ArrayView2};
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
    pub rstd: Vec<f32>,
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
        let mut rstd = vec![0.0; n];
        let eps = self.eps;
        // A strided input (never produced by this crate) is copied once; `max(1)` keeps an empty row width
        // from stopping `chunks_exact` (there are no elements then).
        let (x, width) = (row_major(&x), c.max(1));
        with_row_major_mut(&mut y, |y| {
            with_row_major_mut(&mut xhat, |xhat| {
                x.par_chunks_exact(width)
                    .zip(y.par_chunks_exact_mut(width))
                    .zip(xhat.par_chunks_exact_mut(width))
                    .zip(&mut rstd)
                    .for_each(|(((x, y), xhat), rstd)| *rstd = kernels::layernorm_row(x, gamma, beta, eps, xhat, y))
            })
        });
        (y, LayerNormCache { xhat, rstd })
    }

    /// Inference: `x [N, C]` normalized in place, nothing kept; rows over all cores or on this thread.
    pub fn infer_in_place(&self, p: &ParamSet, x: &mut Array2<f32>, threads: Threads) {
        let (gamma, beta, eps) = (p.slice(self.weight), p.slice(self.bias), self.eps);
        let c = self.width.max(1);
        with_row_major_mut(x, |flat| match threads {
            Threads::All => flat.par_chunks_mut(c * ROWS_PER_TASK).for_each(|rows| {
                rows.chunks_exact_mut(c).for_each(|r| kernels::layernorm_row_in_place(r, gamma, beta, eps))
            }),
            Threads::One => flat.chunks_exact_mut(c).for_each(|r| kernels::layernorm_row_in_place(r, gamma, beta, eps)),
        })
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
        let (dy, xhat) = (row_major(&dy), row_major(&cache.xhat));
        kernels::column_sums(g.slice_mut(self.weight), &dy, &xhat);
        kernels::column_sums(g.slice_mut(self.bias), &dy, &[]);
        let gamma = p.slice(self.weight);
        let mut dx = Array2::zeros((n, c));
        let width = c.max(1);
        with_row_major_mut(&mut dx, |dx| {
            dx.par_chunks_exact_mut(width)
                .zip(dy.par_chunks_exact(width))
                .zip(xhat.par_chunks_exact(width))
                .zip(&cache.rstd)
                .for_each(|(((dx, dy), xhat), &rstd)| kernels::layernorm_backward_row(dy, xhat, gamma, rstd, dx))
        });
        dx
    }
}
