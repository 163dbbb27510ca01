//! `nn.Linear`: `y = x·Wᵀ + b`, `W [out, in]` as HF stores it.
//!
//! A `Linear` may span several consecutive HF linears with the same input (attention's query, key and value
//! are laid out back to back, so they run as one `[3H, H]` product); each keeps its own HF name.

use super::gemm::{matmul, Threads};
use super::kernels;
use super::params::{ParamId, ParamSet, ParamSetBuilder};
use ndarray::{Array2, ArrayView2, ArrayViewMut2};

#[derive(Clone, Debug)]
pub struct Linear {
    /// First and last weight tensor of the run (the same for a plain linear).
    weights: (ParamId, ParamId),
    biases: (ParamId, ParamId),
    pub in_features: usize,
    pub out_features: usize,
}

impl Linear {
    /// Adds `{prefix}.weight [out, in]` and `{prefix}.bias [out]`.
    pub fn new(b: &mut ParamSetBuilder, prefix: &str, in_features: usize, out_features: usize) -> Self {
        let w = b.add(format!("{prefix}.weight"), &[out_features, in_features]);
        let bias = b.add(format!("{prefix}.bias"), &[out_features]);
        Self { weights: (w, w), biases: (bias, bias), in_features, out_features }
    }

    /// Several linears on the same input, run as one: the weights of all `prefixes` first, then their biases,
    /// so that both form contiguous runs. Output columns are the linears' outputs side by side.
    pub fn stacked(b: &mut ParamSetBuilder, prefixes: &[String], in_features: usize, out_each: usize) -> Self {
        let ws: Vec<ParamId> =
            prefixes.iter().map(|p| b.add(format!("{p}.weight"), &[out_each, in_features])).collect();
        let bs: Vec<ParamId> = prefixes.iter().map(|p| b.add(format!("{p}.bias"), &[out_each])).collect();
        Self {
            weights: (ws[0], ws[ws.len() - 1]),
            biases: (bs[0], bs[bs.len() - 1]),
            in_features,
            out_features: out_each * prefixes.len(),
        }
    }

    /// `W [out, in]`.
    pub fn weight<'p>(&self, p: &'p ParamSet) -> ArrayView2<'p, f32> {
        p.stacked_matrix(self.weights.0, self.weights.1)
    }

    pub fn bias<'p>(&self, p: &'p ParamSet) -> &'p [f32] {
        p.span(self.biases.0, self.biases.1)
    }

    /// `x [N, in] → y [N, out]`.
    pub fn forward(&self, p: &ParamSet, x: ArrayView2<'_, f32>) -> Array2<f32> {
        // y starts as the bias in every row (written straight into fresh memory: no zeroing pass first),
        // then accumulates x·Wᵀ.
        let mut y = Array2::uninit((x.nrows(), self.out_features));
        let bias = ndarray::ArrayView1::from(self.bias(p));
        bias.broadcast((x.nrows(), self.out_features)).unwrap_or_else(|| unreachable!()).assign_to(&mut y);
        // SAFETY: `assign_to` wrote every element of `y`.
        let mut y = unsafe { y.assume_init() };
        matmul(x, self.weight(p).t(), y.view_mut(), true, Threads::All);
        y
    }

    pub fn forward_into(&self, p: &ParamSet, x: ArrayView2<'_, f32>, mut y: ArrayViewMut2<'_, f32>) {
        // y starts as the bias in every row, then accumulates x·Wᵀ.
        let bias = ndarray::ArrayView1::from(self.bias(p));
        y.assign(&bias.broadcast((x.nrows(), self.out_features)).unwrap_or_else(|| unreachable!()));
        matmul(x, self.weight(p).t(), y, true, Threads::All);
    }

    /// Accumulates `dW += dyᵀ·x`, `db += Σ_rows dy` into `g` and returns `dx = dy·W`.
    pub fn backward(
        &self,
        p: &ParamSet,
        g: &mut ParamSet,
        x: ArrayView2<'_, f32>,
        dy: ArrayView2<'_, f32>,
    ) -> Array2<f32> {
        self.backward_params(g, x, dy);
        let mut dx = Array2::zeros((dy.nrows(), self.in_features));
        matmul(dy, self.weight(p), dx.view_mut(), false, Threads::All);
        dx
    }

    /// The parameter half of [`Linear::backward`], for a linear whose input needs no gradient.
    pub fn backward_params(&self, g: &mut ParamSet, x: ArrayView2<'_, f32>, dy: ArrayView2<'_, f32>) {
        matmul(dy.t(), x, g.stacked_matrix_mut(self.weights.0, self.weights.1), true, Threads::All);
        let dy = dy.as_standard_layout();
        let flat = dy.as_slice().unwrap_or_else(|| unreachable!("standard layout"));
        kernels::column_sums(g.span_mut(self.biases.0, self.biases.1), flat, &[]);
    }
}
