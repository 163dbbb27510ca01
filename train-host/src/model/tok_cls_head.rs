//! `ElectraForTokenClassification`'s head: one linear `classifier` (H → C) on every token. Dropout is 0.

use super::linear::Linear;
use super::params::{ParamSet, ParamSetBuilder};
use ndarray::{Array2, ArrayView2};

#[derive(Clone, Debug)]
pub struct TokClsHead {
    pub classifier: Linear,
}

impl TokClsHead {
    /// Adds `{prefix}.weight [C, H]` and `{prefix}.bias [C]` (prefix `classifier`).
    pub fn new(b: &mut ParamSetBuilder, prefix: &str, hidden: usize, num_labels: usize) -> Self {
        Self { classifier: Linear::new(b, prefix, hidden, num_labels) }
    }

    /// `hidden [N, H] → logits [N, C]`.
    pub fn forward(&self, p: &ParamSet, hidden: ArrayView2<'_, f32>) -> Array2<f32> {
        self.classifier.forward(p, hidden)
    }

    /// Accumulates the classifier's gradients and returns `dhidden [N, H]`.
    pub fn backward(
        &self,
        p: &ParamSet,
        g: &mut ParamSet,
        hidden: ArrayView2<'_, f32>,
        dlogits: ArrayView2<'_, f32>,
    ) -> Array2<f32> {
        self.classifier.backward(p, g, hidden, dlogits)
    }
}
