//! `ElectraDiscriminatorPredictions`: replaced-token detection, one logit per token.
//! `dense` (H → H) → GELU → `dense_prediction` (H → 1).

use super::gelu::{self, GeluCache};
use super::linear::Linear;
use super::params::{ParamSet, ParamSetBuilder};
use ndarray::{Array2, ArrayView1, Axis};

#[derive(Clone, Debug)]
pub struct RtdHead {
    pub dense: Linear,
    pub prediction: Linear,
}

#[derive(Debug)]
pub struct RtdCache {
    /// The encoder's output `[N, H]`.
    pub hidden: Array2<f32>,
    pub act: GeluCache,
}

impl RtdHead {
    /// Adds `{prefix}.dense` and `{prefix}.dense_prediction` (prefix `discriminator_predictions`).
    pub fn new(b: &mut ParamSetBuilder, prefix: &str, hidden: usize) -> Self {
        Self {
            dense: Linear::new(b, &format!("{prefix}.dense"), hidden, hidden),
            prediction: Linear::new(b, &format!("{prefix}.dense_prediction"), hidden, 1),
        }
    }

    /// `hidden [N, H] → logits [N]`; takes ownership of `hidden` for the backward pass.
    pub fn forward(&self, p: &ParamSet, hidden: Array2<f32>) -> (Vec<f32>, RtdCache) {
        let act = gelu::forward(self.dense.forward(p, hidden.view()));
        let logits = self.prediction.forward(p, act.act.view()).into_raw_vec_and_offset().0; // [N, 1] → [N]
        (logits, RtdCache { hidden, act })
    }

    /// Accumulates the head's gradients and returns `dhidden [N, H]`.
    pub fn backward(&self, p: &ParamSet, g: &mut ParamSet, cache: &RtdCache, dlogits: &[f32]) -> Array2<f32> {
        let dlogits = ArrayView1::from(dlogits).insert_axis(Axis(1)); // [N] → [N, 1]
        let dact = self.prediction.backward(p, g, cache.act.act.view(), dlogits);
        let dpre = gelu::backward(&cache.act, dact);
        self.dense.backward(p, g, cache.hidden.view(), dpre.view())
    }
}
