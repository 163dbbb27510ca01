//! The position-wise feed-forward block: `intermediate.dense` (H → F), exact-erf GELU, `output.dense`
//! (F → H). The residual and LayerNorm live in `layer.rs`.

use super::gelu::{self, GeluCache};
use super::gemm::Threads;
use super::linear::Linear;
use super::params::{ParamSet, ParamSetBuilder};
use ndarray::{Array2, ArrayView2};

#[derive(Clone, Debug)]
pub struct FeedForward {
    pub intermediate: Linear,
    pub output: Linear,
}

impl FeedForward {
    /// Adds `{layer}.intermediate.dense` and `{layer}.output.dense`.
    pub fn new(b: &mut ParamSetBuilder, layer_prefix: &str, hidden: usize, intermediate: usize) -> Self {
        Self {
            intermediate: Linear::new(b, &format!("{layer_prefix}.intermediate.dense"), hidden, intermediate),
            output: Linear::new(b, &format!("{layer_prefix}.output.dense"), intermediate, hidden),
        }
    }

    /// `x [N, H] → [N, H]`; the cache holds the `[N, F]` activation.
    pub fn forward(&self, p: &ParamSet, x: ArrayView2<'_, f32>) -> (Array2<f32>, GeluCache) {
        let hidden = gelu::forward(self.intermediate.forward(p, x));
        let out = self.output.forward(p, hidden.act.view());
        (out, hidden)
    }

    /// Inference: `x += output.dense(GELU(intermediate.dense(x)))`, the residual added in place; nothing kept.
    pub fn infer_add(&self, p: &ParamSet, x: &mut Array2<f32>, threads: Threads) {
        let mut act = self.intermediate.forward_on(p, x.view(), threads);
        gelu::infer_in_place(&mut act, threads);
        self.output.forward_add(p, act.view(), x, threads);
    }

    /// Accumulates the parameter gradients and returns `dx [N, H]`.
    pub fn backward(
        &self,
        p: &ParamSet,
        g: &mut ParamSet,
        x: ArrayView2<'_, f32>,
        cache: &GeluCache,
        dout: ArrayView2<'_, f32>,
    ) -> Array2<f32> {
        let dact = self.output.backward(p, g, cache.act.view(), dout);
        let dpre = gelu::backward(cache, dact);
        self.intermediate.backward(p, g, x, dpre.view())
    }
}
