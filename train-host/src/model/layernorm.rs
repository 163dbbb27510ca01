//! `nn.LayerNorm` over the last axis: `y = γ·(x − mean)/√(var + eps) + β`, biased variance as torch.

use super::params::{ParamId, ParamSet, ParamSetBuilder};
use ndarray::{Array1, Array2, ArrayView2, Axis, Zip};

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
            |x, mut y, mut xhat, rstd| {
                let inv_c = 1.0 / c as f32;
                let mean = x.sum() * inv_c;
                // Two passes: the variance of the centered row, as accurate as float32 allows.
                let var = x.iter().map(|&v| (v - mean) * (v - mean)).sum::<f32>() * inv_c;
                let r = 1.0 / (var + eps).sqrt();
                *rstd = r;
                for i in 0..c {
                    let h = (x[i] - mean) * r;
                    xhat[i] = h;
                    y[i] = gamma[i] * h + beta[i];
                }
            },
        );
        (y, LayerNormCache { xhat, rstd })
    }

    /// Accumulates `dγ`, `dβ` into `g` and returns `dx`:
    /// `dx = (1/σ)·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂))` with `dx̂ = dy·γ`.
    pub fn backward(
        &self,
        p: &ParamSet,
        g: &mut ParamSet,
        cache: &LayerNormCache,
        dy: ArrayView2<'_, f32>,
    ) -> Array2<f32> {
        let (n, c) = dy.dim();
        let gamma = p.slice(self.weight);
        // dγ = Σ_rows dy·x̂, dβ = Σ_rows dy.
        let dgamma = (&dy * &cache.xhat).sum_axis(Axis(0));
        let dbeta = dy.sum_axis(Axis(0));
        for (acc, d) in g.slice_mut(self.weight).iter_mut().zip(dgamma.iter()) {
            *acc += d;
        }
        for (acc, d) in g.slice_mut(self.bias).iter_mut().zip(dbeta.iter()) {
            *acc += d;
        }
        let mut dx = Array2::zeros((n, c));
        Zip::from(dx.rows_mut()).and(dy.rows()).and(cache.xhat.rows()).and(&cache.rstd).par_for_each(
            |mut dx, dy, xhat, &rstd| {
                let inv_c = 1.0 / c as f32;
                let (mut mean_dxhat, mut mean_dxhat_xhat) = (0.0f32, 0.0f32);
                for i in 0..c {
                    let dxhat = dy[i] * gamma[i];
                    mean_dxhat += dxhat;
                    mean_dxhat_xhat += dxhat * xhat[i];
                }
                mean_dxhat *= inv_c;
                mean_dxhat_xhat *= inv_c;
                for i in 0..c {
                    dx[i] = rstd * (dy[i] * gamma[i] - mean_dxhat - xhat[i] * mean_dxhat_xhat);
                }
            },
        );
        dx
    }
}
