//! `nn.Linear`: `y = x·Wᵀ + b`, `W [out, in]` as HF stores it.
//!
//! A `Linear` may span several consecutive HF linears with the same input (attention's query, key and value
//! are laid out back to back, so they run as one `[3H, H]` product); each keeps its own HF name.

use super::gemm::{matmul, product, Threads};
use super::kernels;
use super::layout::{repeat_row, row_major};
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

    /// The run of weight tensors this linear multiplies by (for [`ParamSet::refresh_transposes`]).
    pub fn weight_run(&self) -> (ParamId, ParamId) {
        self.weights
    }

    /// `x·Wᵀ` accumulated into `y`: from the blob's row-major copy of `Wᵀ` when it holds a current one (the
    /// faster layout for `gemm`), else from `W` itself; the same product either way.
    fn accumulate_product(&self, p: &ParamSet, x: ArrayView2<'_, f32>, y: ArrayViewMut2<'_, f32>, threads: Threads) {
        match p.transposed(self.weights.0, self.weights.1) {
            Some(w_t) => matmul(x, w_t, y, true, threads),
            None => matmul(x, self.weight(p).t(), y, true, threads),
        }
    }

    pub fn bias<'p>(&self, p: &'p ParamSet) -> &'p [f32] {
        p.span(self.biases.0, self.biases.1)
    }

    /// `x [N, in] → y [N, out]`.
    pub fn forward(&self, p: &ParamSet, x: ArrayView2<'_, f32>) -> Array2<f32> {
        self.forward_on(p, x, Threads::All)
    }

    /// [`Linear::forward`] with the product on `threads` (inference runs whole batches one per core).
    pub fn forward_on(&self, p: &ParamSet, x: ArrayView2<'_, f32>, threads: Threads) -> Array2<f32> {
        // y starts as the bias in every row (written straight into fresh memory: no zeroing pass first),
        // then accumulates x·Wᵀ.
        let mut y = repeat_row(x.nrows(), self.bias(p));
        self.accumulate_product(p, x, y.view_mut(), threads);
        y
    }

    /// Inference's residual connection without a temporary: `residual += x·Wᵀ + b`, `residual [N, out]`.
    pub fn forward_add(&self, p: &ParamSet, x: ArrayView2<'_, f32>, residual: &mut Array2<f32>, threads: Threads) {
        *residual += &ndarray::ArrayView1::from(self.bias(p));
        self.accumulate_product(p, x, residual.view_mut(), threads);
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
        product(dy, self.weight(p), Threads::All)
    }

    /// The parameter half of [`Linear::backward`], for a linear whose input needs no gradient.
    pub fn backward_params(&self, g: &mut ParamSet, x: ArrayView2<'_, f32>, dy: ArrayView2<'_, f32>) {
        matmul(dy.t(), x, g.stacked_matrix_mut(self.weights.0, self.weights.1), true, Threads::All);
        kernels::column_sums(g.span_mut(self.biases.0, self.biases.1), &row_major(&dy), &[]);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::rng::TrainRng;

    /// The forward product from the blob's transposed copy is the one from `W` itself (same sums, another
    /// operand layout inside `gemm`: equal up to float reassociation), and a changed blob falls back to `W`.
    #[test]
    fn forward_from_the_transposed_copy_matches_and_never_goes_stale() {
        let mut b = ParamSetBuilder::new();
        let names = ["q".to_string(), "k".to_string(), "v".to_string()];
        let linear = Linear::stacked(&mut b, &names, 48, 40);
        let mut p = b.finish();
        let mut rng = TrainRng::new(7);
        for v in p.data_mut() {
            *v = rng.uniform_open() - 0.5;
        }
        let x = Array2::from_shape_fn((70, 48), |(i, j)| ((i * 13 + j * 7) % 17) as f32 / 17.0 - 0.5);
        let plain = linear.forward(&p, x.view());
        p.refresh_transposes(&[linear.weight_run()]);
        assert!(p.transposed(linear.weights.0, linear.weights.1).is_some());
        let cached = linear.forward(&p, x.view());
        // |y| ≤ 48 · 0.5 · 0.5 + 0.5; float32 sums of 48 terms agree to a few ulps of that.
        let worst = plain.iter().zip(&cached).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "transposed-copy forward differs by {worst}");
        // Any change to the blob: the next forward uses the new weights, not the old copy.
        p.span_mut(linear.weights.0, linear.weights.1).iter_mut().for_each(|w| *w *= 2.0);
        let doubled = linear.forward(&p, x.view());
        let bias = ndarray::ArrayView1::from(linear.bias(&p));
        let expected = (&plain - &bias) * 2.0 + bias;
        let worst = doubled.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "forward after a change differs from the new weights' by {worst}");
    }
}
