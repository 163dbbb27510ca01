//! `ElectraForTokenClassification`'s head: dropout, then one linear `classifier` (H → C) on every token.

use super::dropout::{self, Dropout, ScaledMask};
use super::linear::Linear;
use super::params::{ParamSet, ParamSetBuilder};
use ndarray::{Array2, ArrayView2};

#[derive(Clone, Debug)]
pub struct TokClsHead {
    pub classifier: Linear,
}

/// What the backward pass reads besides the encoder's output.
#[derive(Debug, Default)]
pub struct TokClsCache {
    /// With dropout: the classifier's input (the dropped hidden states `[N, H]`) and the scaled mask.
    pub dropped: Option<(Array2<f32>, ScaledMask)>,
}

impl TokClsHead {
    /// Adds `{prefix}.weight [C, H]` and `{prefix}.bias [C]` (prefix `classifier`).
    pub fn new(b: &mut ParamSetBuilder, prefix: &str, hidden: usize, num_labels: usize) -> Self {
        Self { classifier: Linear::new(b, prefix, hidden, num_labels) }
    }

    /// `hidden [N, H] → logits [N, C]`, without dropout.
    pub fn forward(&self, p: &ParamSet, hidden: ArrayView2<'_, f32>) -> Array2<f32> {
        self.classifier.forward(p, hidden)
    }

    /// `hidden [N, H] → logits [N, C]` with dropout (`classifier_dropout`, site `classifier`) on the hidden
    /// states; `batch` is `B` (masks are drawn per sequence).
    pub fn forward_with(
        &self,
        p: &ParamSet,
        hidden: ArrayView2<'_, f32>,
        batch: usize,
        drop: &Dropout<'_>,
    ) -> (Array2<f32>, TokClsCache) {
        match drop.mask("classifier", drop.rates.classifier, batch, hidden.len()) {
            Some(mask) => {
                let mut dropped = hidden.to_owned();
                dropout::apply_opt(&mut dropped, Some(&mask));
                let logits = self.classifier.forward(p, dropped.view());
                (logits, TokClsCache { dropped: Some((dropped, mask)) })
            }
            None => (self.classifier.forward(p, hidden), TokClsCache::default()),
        }
    }

    /// Accumulates the classifier's gradients and returns `dhidden [N, H]`. `hidden` is the encoder's output
    /// the forward pass read (used when there was no dropout).
    pub fn backward(
        &self,
        p: &ParamSet,
        g: &mut ParamSet,
        hidden: ArrayView2<'_, f32>,
        cache: &TokClsCache,
        dlogits: ArrayView2<'_, f32>,
    ) -> Array2<f32> {
        match &cache.dropped {
            Some((input, mask)) => {
                let mut dhidden = self.classifier.backward(p, g, input.view(), dlogits);
                dropout::apply_opt(&mut dhidden, Some(mask));
                dhidden
            }
            None => self.classifier.backward(p, g, hidden, dlogits),
        }
    }
}
